// A small JSON state file that outlives the process (alarms, the job history):
// read once at start, rewritten whole and atomically after each change. Writes
// are serialised and coalesced (while one runs, only the newest pending value
// is written next), so a burst of changes costs at most two writes.
import { readFileSync, renameSync } from 'node:fs';
import { writeFileAtomic } from './atomic';

export class JsonStateFile {
  private pending: string | null = null;
  private writing: Promise<void> | null = null;

  /** `report` hears every problem (an unreadable file, a failed write); none of them throws. */
  constructor(
    readonly path: string,
    private readonly report: (message: string) => void,
  ) {}

  /**
   * The file's JSON, or null when there is none. A file that cannot be read
   * or parsed is reported and moved aside to `<path>.corrupt` (kept for a
   * person to look at, and not overwritten by the next save); then null.
   */
  read(): unknown {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      this.report(`${this.path} cannot be read (${(err as Error).message}); starting without it`);
      return null;
    }
    try {
      return JSON.parse(text) as unknown;
    } catch (err) {
      this.setAside(`is not valid JSON (${(err as Error).message})`);
      return null;
    }
  }

  /** Reports `why` the file's content is unusable and moves it aside to `<path>.corrupt`. */
  setAside(why: string): void {
    try {
      renameSync(this.path, `${this.path}.corrupt`);
      this.report(`${this.path} ${why}; moved aside to ${this.path}.corrupt, starting without it`);
    } catch (err) {
      this.report(`${this.path} ${why}; starting without it (moving it aside failed: ${(err as Error).message})`);
    }
  }

  /** Queues `value` to be written; returns at once (see flush). */
  save(value: unknown): void {
    this.pending = `${JSON.stringify(value)}\n`;
    this.writing ??= this.drain();
  }

  /** Resolves once everything saved so far is on disk (or its write was reported as failed). */
  async flush(): Promise<void> {
    while (this.writing) await this.writing;
  }

  private async drain(): Promise<void> {
    while (this.pending !== null) {
      const text = this.pending;
      this.pending = null;
      try {
        await writeFileAtomic(this.path, text, 0o600);
      } catch (err) {
        this.report(`cannot write ${this.path}: ${(err as Error).message} (kept in memory for this run)`);
      }
    }
    this.writing = null;
  }
}
