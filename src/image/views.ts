// Image update and boot control as the API answers them: each schema with its
// type, one declaration (a leaf module: the Manager UI imports the types).
import { T, type Static } from '../api';

/** How many journal steps and how much of the rescue log the Manager is sent. */
export const JOURNAL_SHOWN = 40;
export const RESCUE_LOG_SHOWN = 256 * 1024;

export const JournalEntry = T.Object({ step: T.String(), label: T.String() });

export const Label = T.Union([T.String({ description: 'a build number' }), T.Null()]);

/** GET /update: what runs, what the store offers (error when it could not be asked), and the update journal. */
export const UpdateState = T.Object({
  running: Label,
  available: Label,
  store: T.Optional(T.String({ description: 'the store asked' })),
  error: T.Optional(T.String({ description: 'why the store could not be asked' })),
  journal: T.Array(JournalEntry, { description: "the update journal's steps, oldest first" }),
});
export type UpdateState = Static<typeof UpdateState>;

/** GET /rescue-log: the rescue system's log (p2/ramdisk.log), its end when it is long. */
export const RescueLog = T.Object({
  exists: T.Boolean({ description: 'false: the rescue system has not run on this box yet' }),
  bytes: T.Integer({ description: 'the size of the whole file' }),
  modifiedAt: T.Union([T.String({ format: 'date-time' }), T.Null()]),
  text: T.String({ description: `the log, or its last ${RESCUE_LOG_SHOWN / 1024} KB from a line's start (the whole file: /manager/ramdisk.log)` }),
  truncated: T.Boolean({ description: 'whether text is only the end of the file' }),
});
export type RescueLog = Static<typeof RescueLog>;
