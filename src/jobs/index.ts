// Long jobs (database clean-up now; backup, restore, install, update later) as
// resources a client can follow: state, progress, outcome, the tail of their
// output. Kept in memory, the newest MAX_KEPT; a job's work is its own promise.
import { ApError, describe } from '../errors';
import type { Logger } from '../log';

export type JobState = 'running' | 'succeeded' | 'failed';

export interface JobView {
  readonly id: string;
  readonly kind: string;
  /** What it works on, e.g. an instance id. */
  readonly target: string;
  readonly state: JobState;
  readonly startedAt: string;
  readonly finishedAt: string | null;
  /** Steps done, and the total when known. */
  readonly progress: { readonly done: number; readonly total: number | null; readonly note: string };
  /** The outcome for people (or what it is doing). */
  readonly message: string;
  /** The last lines of its output. */
  readonly output: readonly string[];
}

export interface JobControl {
  /** Aborted when the supervisor stops: end what the job started (children, connections) and throw. */
  readonly signal: AbortSignal;
  progress(done: number, total: number | null, note: string): void;
  /** One line of output (kept: the last OUTPUT_LINES). */
  line(text: string): void;
}

const MAX_KEPT = 50;
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

/** Progress is told to listeners at most this often per job (a backup reports every chunk). */
const PROGRESS_EVERY_MS = 250;

export class Jobs {
  private readonly jobs = new Map<string, Job>();
  private readonly listeners: ((job: JobView) => void)[] = [];
  /** Jobs whose progress changed since listeners last heard, with the timer that will tell them. */
  private readonly pending = new Map<Job, NodeJS.Timeout>();
  private next = 1;
  private stopped = false;

  /** `log` hears every failed job (an alarm-worthy line: a backup that failed must not go unnoticed). */
  constructor(
    private readonly log?: Logger,
    /** Hears every job that ended (e.g. to raise or clear a backup alarm). */
    private readonly onFinish?: (job: JobView) => void,
  ) {}

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
      (err) => this.finish(job, 'failed', describe(err)),
    );
    this.jobs.set(job.id, job);
    this.tell(job);
    for (const old of this.jobs.values()) {
      if (this.jobs.size <= MAX_KEPT) break;
      if (old.state !== 'running') this.jobs.delete(old.id);
    }
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
   * told through their signal and awaited (the caller bounds the wait).
   */
  async stop(): Promise<void> {
    this.stopped = true;
    const running = [...this.jobs.values()].filter((job) => job.state === 'running');
    for (const job of running) job.abort.abort(new ApError('CANCELLED', 'the supervisor is stopping'));
    await Promise.all(running.map((job) => job.done));
  }

  /** Resolves when job `id` has finished (for tests and `--wait`). */
  async settled(id: string): Promise<JobView | null> {
    const job = this.jobs.get(id);
    if (!job) return null;
    await job.done;
    return view(job);
  }

  private finish(job: Job, state: JobState, message: string): void {
    if (state === 'failed') this.log?.error(`job ${job.id} (${job.kind} ${job.target}) FAILED: ${message}`);
    job.state = state;
    job.finishedAt = new Date();
    job.message = message;
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

/** The jobs' resources in the admin API. */
export function jobRoutes(jobs: Jobs): import('../api').ApiRoute[] {
  return [
    { method: 'GET', pattern: '/jobs', summary: 'recent jobs, newest first', handler: () => ({ jobs: jobs.list() }) },
    {
      method: 'GET',
      pattern: '/jobs/{id}',
      summary: 'one job: state, progress, outcome, output tail',
      handler: ({ params }) => {
        const job = jobs.get(params.id!);
        if (!job) throw new ApError('NOT_FOUND', `no job ${params.id}`);
        return job;
      },
    },
  ];
}
