// Image update and boot control as the API answers them: each schema with its
// type, one declaration (a leaf module: the Manager UI imports the types).
import { T, type Static } from '../api';

const Label = T.Union([T.String({ description: 'a build number' }), T.Null()]);

/** GET /update: what runs, what the store offers (error when it could not be asked), and the update journal. */
export const UpdateState = T.Object({
  running: Label,
  available: Label,
  store: T.Optional(T.String({ description: 'the store asked' })),
  error: T.Optional(T.String({ description: 'why the store could not be asked' })),
  journal: T.Array(T.Object({ step: T.String(), label: T.String() }), { description: "the update journal's steps, oldest first" }),
});
export type UpdateState = Static<typeof UpdateState>;
