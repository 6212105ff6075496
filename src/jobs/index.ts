// Long jobs (database clean-up now; backup, restore, install, update later) as
// resources a client can follow: state, progress, outcome, the tail of their
// output. The newest MAX_KEPT are kept; a job's work is its own promise. With
// a state file (the supervisor's: mnt/sda2/jobs.json) the history and the id
// counter survive a restart, and a job that was running when the supervisor
// died is shown as failed, interrupted, never as running forever. The file is
// written when a job starts and ends, not on progress.
import { T, type ApiRoute } from '../api';
import { ApError, describe, levelOf } from '../errors';
import { JsonStateFile } from '../fsutil';
import type { Logger } from '../log';
import { JobView, type JobState } from './views';

export { JobView, type JobState } from './views';

export interface JobControl {
  /** Aborted when the supervisor stops: end what the job started (children, connections) and throw. */
  readonly signal: AbortSignal;
  progress(done: number, total: number | null, note: string): void;
  /** One line of output (kept: the last OUTPUT_LINES). */
  line(text: string): void;
}

const MAX_KEPT = 100;
const OUTPUT_LINES = 40;

interface Job {
  id: string;
  kind: string;
  target: string;
  state: JobState;
  startedAt: Date;
  finishedAt: Date | null;
  progress: { done: number; total: number | null; note: string };
  message: string;
  output: string[];
  done: Promise<void>;
  readonly abort: AbortController;
}

const STATES: readonly JobState[] = ['running', 'succeeded', 'failed'];

/** What the state file holds: the kept jobs, oldest first, and the next id. */
interface Stored {
  readonly version: 1;
  readonly next: number;
  readonly jobs: readonly JobView[];
}

/** The message of a job the supervisor's end cut off. */
export const INTERRUPTED = 'interrupted by a restart of the supervisor: it stopped or died while this job ran';

/** Progress is told to listeners at most this often per job (a backup reports every chunk). */
const PROGRESS_EVERY_MS = 250;

export class Jobs {
  private readonly jobs = new Map<string, Job>();
  private readonly listeners: ((job: JobView) => void)[] = [];
  /** Jobs whose progress changed since listeners last heard, with the timer that will tell them. */
  private readonly pending = new Map<Job, NodeJS.Timeout>();
  private next = 1;
  private stopped = false;
  private file: JsonStateFile | null = null;

  /** `log` hears every failed job (an alarm-worthy line: a backup that failed must not go unnoticed). */
  constructor(
    private readonly log?: Logger,
    /** Hears every job that ended (e.g. to raise or clear a backup alarm). */
    private readonly onFinish?: (job: JobView) => void,
  ) {}

  /**
   * Keeps the history in `path` from now on, after loading what it holds: ids
   * continue after the highest stored one; stored running jobs become failed
   * (INTERRUPTED) and onFinish hears them. A corrupt file or entry is logged,
   * set aside or skipped, and never stops the start.
   */
  persistTo(path: string): void {
    const report = (message: string) => this.log?.error(message);
    const file = new JsonStateFile(path, report);
    const raw = file.read();
    this.file = file;
    if (raw === null) return;
    const data = raw as Partial<Stored>;
    if (typeof raw !== 'object' || data.version !== 1 || !Array.isArray(data.jobs)) {
      file.setAside('is not a job history this supervisor knows');
      return;
    }
    let skipped = 0;
    let maxId = 0;
    const interrupted: Job[] = [];
    for (const entry of data.jobs.slice(-MAX_KEPT)) {
      const job = checkJob(entry);
      if (!job || this.jobs.has(job.id)) {
        skipped++;
        continue;
      }
      if (job.state === 'running') {
        job.state = 'failed';
        job.finishedAt = new Date();
        job.message = INTERRUPTED;
        interrupted.push(job);
      }
      this.jobs.set(job.id, job);
      maxId = Math.max(maxId, Number(job.id));
    }
    this.next = Math.max(this.next, maxId + 1, Number.isSafeInteger(data.next) && data.next! > 0 ? data.next! : 1);
    if (skipped > 0) report(`${path}: ${skipped} job ${skipped === 1 ? 'entry was' : 'entries were'} not readable and left out`);
    for (const job of interrupted) {
      this.log?.error(`job ${job.id} (${job.kind} ${job.target}) FAILED: ${INTERRUPTED}`);
      this.onFinish?.(view(job));
    }
    if (skipped > 0 || interrupted.length > 0) this.save();
  }

  /** Resolves when every change so far is on disk (at a stop). */
  flush(): Promise<void> {
    return this.file?.flush() ?? Promise.resolve();
  }

  private save(): void {
    this.file?.save({ version: 1, next: this.next, jobs: [...this.jobs.values()].map(view) } satisfies Stored);
  }

  /**
   * Starts `work` as a job. Its resolved string is the success message; a
   * throw fails the job with the error's message.
   */
  start(kind: string, target: string, message: string, work: (job: JobControl) => Promise<string>): JobView {
    if (this.stopped) throw new ApError('BUSY', 'the supervisor is stopping: no new jobs');
    const job: Job = {
      id: String(this.next++),
      kind,
      target,
      state: 'running',
      startedAt: new Date(),
      finishedAt: null,
      progress: { done: 0, total: null, note: '' },
      message,
      output: [],
      done: Promise.resolve(),
      abort: new AbortController(),
    };
    const control: JobControl = {
      signal: job.abort.signal,
      progress: (done, total, note) => {
        job.progress = { done, total, note };
        if (this.listeners.length > 0 && !this.pending.has(job) && job.state === 'running') {
          this.pending.set(job, setTimeout(() => this.tell(job), PROGRESS_EVERY_MS));
        }
      },
      line: (text) => {
        job.output.push(text);
        if (job.output.length > OUTPUT_LINES) job.output.shift();
      },
    };
    job.done = work(control).then(
      (result) => this.finish(job, 'succeeded', result),
      (err) => this.finish(job, 'failed', describe(err), levelOf(err)),
    );
    this.jobs.set(job.id, job);
    this.tell(job);
    for (const old of this.jobs.values()) {
      if (this.jobs.size <= MAX_KEPT) break;
      if (old.state !== 'running') this.jobs.delete(old.id);
    }
    this.save();
    return view(job);
  }

  /** `listener` hears each job as it starts, its progress (at most every 250 ms) and its end. */
  onChange(listener: (job: JobView) => void): void {
    this.listeners.push(listener);
  }

  private tell(job: Job): void {
    clearTimeout(this.pending.get(job));
    this.pending.delete(job);
    if (this.listeners.length === 0) return;
    const shown = view(job);
    for (const listener of this.listeners) listener(shown);
  }

  get(id: string): JobView | null {
    const job = this.jobs.get(id);
    return job ? view(job) : null;
  }

  list(): JobView[] {
    return [...this.jobs.values()].map(view).reverse();
  }

  /** The running job of `kind` on `target`, if any. */
  running(kind: string, target: string): JobView | null {
    for (const job of this.jobs.values()) if (job.kind === kind && job.target === target && job.state === 'running') return view(job);
    return null;
  }

  /**
   * At shutdown, before the database closes: no new jobs; running ones are
   * told through their signal and awaited (the caller bounds the wait), and
   * how they ended is on disk.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    const running = [...this.jobs.values()].filter((job) => job.state === 'running');
    for (const job of running) job.abort.abort(new ApError('CANCELLED', 'the supervisor is stopping'));
    await Promise.all(running.map((job) => job.done));
    await this.flush();
  }

  /** Resolves when job `id` has finished (for tests and `--wait`). */
  async settled(id: string): Promise<JobView | null> {
    const job = this.jobs.get(id);
    if (!job) return null;
    await job.done;
    return view(job);
  }

  private finish(job: Job, state: JobState, message: string, level: 'warn' | 'error' = 'error'): void {
    if (state === 'failed') this.log?.[level](`job ${job.id} (${job.kind} ${job.target}) FAILED: ${message}`);
    job.state = state;
    job.finishedAt = new Date();
    job.message = message;
    this.save();
    this.onFinish?.(view(job));
    this.tell(job);
  }
}

function view(job: Job): JobView {
  return {
    id: job.id,
    kind: job.kind,
    target: job.target,
    state: job.state,
    startedAt: job.startedAt.toISOString(),
    finishedAt: job.finishedAt?.toISOString() ?? null,
    progress: { ...job.progress },
    message: job.message,
    output: [...job.output],
  };
}

/** A stored job if `entry` is a well-formed one, else null. */
function checkJob(entry: unknown): Job | null {
  const j = entry as Record<string, unknown> | null;
  if (typeof j !== 'object' || j === null) return null;
  const time = (v: unknown) => (typeof v === 'string' && Number.isFinite(Date.parse(v)) ? new Date(v) : null);
  if (typeof j.id !== 'string' || !/^[1-9]\d{0,14}$/.test(j.id)) return null;
  if (typeof j.kind !== 'string' || typeof j.target !== 'string' || typeof j.message !== 'string') return null;
  if (!STATES.includes(j.state as JobState)) return null;
  const startedAt = time(j.startedAt);
  const finishedAt = j.finishedAt === null ? null : time(j.finishedAt);
  if (!startedAt || (j.finishedAt !== null && !finishedAt)) return null;
  const p = j.progress as Record<string, unknown> | null;
  const progress =
    typeof p === 'object' && p !== null && typeof p.done === 'number' && (p.total === null || typeof p.total === 'number') && typeof p.note === 'string'
      ? { done: p.done, total: p.total as number | null, note: p.note }
      : { done: 0, total: null, note: '' };
  const output = Array.isArray(j.output) ? j.output.filter((l): l is string => typeof l === 'string').slice(-OUTPUT_LINES) : [];
  return { id: j.id, kind: j.kind, target: j.target, state: j.state as JobState, startedAt, finishedAt, progress, message: j.message, output, done: Promise.resolve(), abort: new AbortController() };
}

/** The jobs' resources in the admin API. */
export function jobRoutes(jobs: Jobs): ApiRoute[] {
  return [
    { method: 'GET', pattern: '/jobs', summary: 'recent jobs, newest first', response: T.Object({ jobs: T.Array(JobView) }), handler: () => ({ jobs: jobs.list() }) },
    {
      method: 'GET',
      pattern: '/jobs/{id}',
      summary: 'one job: state, progress, outcome, output tail',
      response: JobView,
      handler: ({ params }) => {
        const job = jobs.get(params.id!);
        if (!job) throw new ApError('NOT_FOUND', `no job ${params.id}`);
        return job;
      },
    },
  ];
}
