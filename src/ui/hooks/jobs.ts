// A long job started from a page (install, restore, update, clean-up): its
// progress while it runs, its outcome or error after. One implementation for
// every page's progress bar (it was copied into each form).
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, follow, unfollow } from '../api';
import type { Job } from '../types';

export interface JobProgress {
  /** 0..1 of the bar. */
  readonly share: number;
  readonly text: string;
  readonly state: Job['state'] | 'uploading';
}

/** How far a running job is, 0..1 (half when it does not know its total). */
export function jobFraction(job: Job): number {
  return job.progress.total ? Math.min(1, job.progress.done / job.progress.total) : 0.5;
}

export interface JobRun {
  readonly progress: JobProgress | null;
  readonly error: unknown;
  /**
   * Starts a job with `start` (which may upload first, reporting 0..1) and
   * follows it to its end. The bar gives `upload` of its length to the upload
   * and stops short of 100 % until the job ends. A job that does not succeed
   * becomes an error with code `failure`. Resolves with the job that
   * succeeded, or null.
   */
  readonly run: (start: (uploaded: (share: number) => void) => Promise<{ id: string }>, options: { failure: string; upload?: number; failed?: (job: Job) => string }) => Promise<Job | null>;
  /** Forgets progress and error (before an action that did not start a job). */
  readonly setError: (error: unknown) => void;
}

export function useJob(): JobRun {
  const [progress, setProgress] = useState<JobProgress | null>(null);
  const [error, setError] = useState<unknown>(null);
  // The job this page shows; when the page goes, its end is told by a note instead (components/toasts.tsx).
  const shown = useRef<string | null>(null);
  useEffect(
    () => () => {
      if (shown.current) unfollow(shown.current);
    },
    [],
  );
  const run: JobRun['run'] = async (start, { failure, upload = 0, failed = (job) => job.message }) => {
    setError(null);
    try {
      const started = await start((share) => setProgress({ share: share * upload, text: 'uploading', state: 'uploading' }));
      if (shown.current) unfollow(shown.current);
      shown.current = started.id;
      const done = await follow(started.id, (j) =>
        setProgress({ share: j.state === 'running' ? upload + (0.95 - upload) * jobFraction(j) : 1, text: j.progress.note || j.message, state: j.state }),
      );
      if (done.state !== 'succeeded') throw new ApiError(0, failure, failed(done));
      setProgress({ share: 1, text: done.message, state: done.state });
      return done;
    } catch (err) {
      setProgress(null);
      setError(err);
      return null;
    }
  };
  return { progress, error, run, setError };
}
