// The supervisor's own update as the API answers it (a leaf module: the
// Manager UI may import the type).
import { T, type Static } from '../api';

export const SelfUpdateState = T.Object({
  version: T.String({ description: 'the running supervisor\'s version' }),
  build: T.Union([T.String(), T.Null()], { description: 'the running supervisor\'s build (its package\'s), null for a bundle that is not a package (development)' }),
  available: T.Union([T.String(), T.Null()], { description: 'the newest build of the supervisor ("manager") the App Store offers, null when none or the store cannot be read' }),
  refused: T.Union([T.String(), T.Null()], { description: 'why this supervisor cannot update itself, null when it can' }),
  failed: T.Union([T.String(), T.Null()], { description: 'what the last failed update left: a build that never got ready and was replaced by the previous one' }),
  error: T.Optional(T.String({ description: 'why the store could not be read' })),
});
export type SelfUpdateState = Static<typeof SelfUpdateState>;
