// Each instance's last backup as the API answers it (GET /backups/last): the
// schema with its type, one declaration (a leaf module: the Manager UI
// imports the type without the backups' Node code).
import { T, type Static } from '../api';

export const BackupRecordView = T.Object({
  instance: T.String({ description: 'name@domain' }),
  attemptedAt: T.String({ format: 'date-time', description: 'when the last backup (a job, ap ctl, the command file, or a Manager download) ended' }),
  result: T.Union([T.Literal('ok'), T.Literal('failed')], { description: 'how the last backup ended' }),
  error: T.Union([T.String(), T.Null()], { description: 'why the last backup failed; null when it succeeded' }),
  succeededAt: T.Union([T.String({ format: 'date-time' }), T.Null()], { description: 'when the last successful backup ended; null when none ever did' }),
  sizeBytes: T.Union([T.Integer(), T.Null()], { description: 'the size of the last successful backup (as written, encrypted or not); null when none ever did' }),
});
export type BackupRecordView = Static<typeof BackupRecordView>;

export const BackupRecordList = T.Object({ records: T.Array(BackupRecordView, { description: 'one per instance that was ever backed up on this box, by instance' }) });
export type BackupRecordList = Static<typeof BackupRecordList>;
