// The last backup of each instance: when it ended, how, why it failed, and
// the last success with its size (the Manager's Home and the backup metrics
// show them). Kept in a state file on p2 beside alarms.json, not in the
// manager database, for the same reasons: a backup fails when the database is
// down and that must be kept, a standby's database is read-only, and a
// Manager restore must not bring back another box's or another time's record.
import { JsonStateFile } from '../fsutil';
import type { BackupRecordView } from './views';

interface Stored {
  readonly version: 1;
  readonly records: readonly BackupRecordView[];
}

export class BackupRecords {
  private readonly byInstance = new Map<string, BackupRecordView>();

  constructor(
    private readonly now: () => Date = () => new Date(),
    private readonly file: JsonStateFile | null = null,
  ) {}

  /** Records kept in `path`; a corrupt file or entry is reported, set aside or skipped, and never stops the start. */
  static persisted(path: string, report: (message: string) => void, now?: () => Date): BackupRecords {
    const file = new JsonStateFile(path, report);
    const records = new BackupRecords(now, file);
    const raw = file.read() as Partial<Stored> | null;
    if (raw === null) return records;
    if (typeof raw !== 'object' || raw.version !== 1 || !Array.isArray(raw.records)) {
      file.setAside('is not a backup record file this supervisor knows');
      return records;
    }
    const good = raw.records.filter(wellFormed);
    for (const record of good) records.byInstance.set(record.instance, record);
    if (good.length !== raw.records.length) {
      report(`${path}: ${raw.records.length - good.length} of ${raw.records.length} backup records were not readable and left out`);
      records.save();
    }
    return records;
  }

  /** A backup of `instance` of `sizeBytes` ended well. */
  succeeded(instance: string, sizeBytes: number): void {
    const at = this.now().toISOString();
    this.put({ instance, attemptedAt: at, result: 'ok', error: null, succeededAt: at, sizeBytes });
  }

  /** A backup of `instance` failed: the last success stays as it was. */
  failed(instance: string, error: string): void {
    const last = this.byInstance.get(instance);
    this.put({ instance, attemptedAt: this.now().toISOString(), result: 'failed', error, succeededAt: last?.succeededAt ?? null, sizeBytes: last?.sizeBytes ?? null });
  }

  /** Every record, by instance. */
  list(): BackupRecordView[] {
    return [...this.byInstance.values()].sort((a, b) => a.instance.localeCompare(b.instance));
  }

  /** Drops the records of instances that are gone (deleted, or not in a restored Manager's list): a new one of the same name starts without. */
  keepOnly(instances: Iterable<string>): void {
    const kept = new Set(instances);
    const gone = [...this.byInstance.keys()].filter((instance) => !kept.has(instance));
    for (const instance of gone) this.byInstance.delete(instance);
    if (gone.length > 0) this.save();
  }

  /** Resolves when every change so far is on disk (at a stop). */
  flush(): Promise<void> {
    return this.file?.flush() ?? Promise.resolve();
  }

  private put(record: BackupRecordView): void {
    this.byInstance.set(record.instance, record);
    this.save();
  }

  private save(): void {
    this.file?.save({ version: 1, records: this.list() } satisfies Stored);
  }
}

function wellFormed(entry: unknown): entry is BackupRecordView {
  const r = entry as Record<string, unknown> | null;
  if (typeof r !== 'object' || r === null) return false;
  const time = (v: unknown) => typeof v === 'string' && Number.isFinite(Date.parse(v));
  const size = r.sizeBytes === null || (Number.isSafeInteger(r.sizeBytes) && (r.sizeBytes as number) >= 0);
  return (
    typeof r.instance === 'string' &&
    r.instance.includes('@') &&
    time(r.attemptedAt) &&
    (r.result === 'ok' ? r.error === null : r.result === 'failed' && typeof r.error === 'string') &&
    (r.succeededAt === null ? r.sizeBytes === null : time(r.succeededAt) && size)
  );
}
