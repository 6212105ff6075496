// Finished jobs, wherever they were started (another session, ap ctl, the
// backup schedule, a page since left): a small note at the bottom of the
// screen with what it was and how it ended. A page that shows a job's outcome
// itself is not repeated. Successes go after a while; failures stay until
// dismissed.
import { useEffect, useRef, useState } from 'preact/hooks';
import { followedByPage, quiet } from '../api';
import { useEvents } from '../hooks/events';
import { readableSizes } from '../format';
import type { Job } from '../types';

const SHOWN_MS = 10_000;
const MOST = 5;

/** "Backup of base1@example.com", "Install of hello". */
function what(job: Job): string {
  const kind = job.kind.charAt(0).toUpperCase() + job.kind.slice(1);
  return job.target ? `${kind} of ${job.target}` : kind;
}

/** At most MOST: the oldest successes make room first, a failure only when there are nothing but failures. */
function keep(list: readonly Job[]): readonly Job[] {
  if (list.length <= MOST) return list;
  const success = list.findIndex((j) => j.state === 'succeeded');
  return keep(list.filter((_, i) => i !== (success === -1 ? 0 : success)));
}

function Toast({ job, dismiss }: { job: Job; dismiss: () => void }) {
  const failed = job.state === 'failed';
  useEffect(() => {
    if (failed) return;
    const timer = setTimeout(dismiss, SHOWN_MS);
    return () => clearTimeout(timer);
  }, []);
  return (
    <div class={`toast ${job.state}`} role={failed ? 'alert' : 'status'}>
      <p>
        <strong>
          {what(job)} {failed ? 'failed' : 'succeeded'}
        </strong>
        {job.message && <span>: {readableSizes(job.message)}</span>}
      </p>
      <button type="button" aria-label={`Dismiss: ${what(job)} ${job.state}`} onClick={dismiss}>
        ×
      </button>
    </div>
  );
}

export function JobToasts() {
  const [jobs, setJobs] = useState<readonly Job[]>([]);
  // A job's end is told once, but a reconnect may tell it again: one note per job.
  const told = useRef(new Set<string>());
  useEvents((event) => {
    if (event.type !== 'job' || event.job.state === 'running' || told.current.has(event.job.id)) return;
    const job = event.job;
    told.current.add(job.id);
    // A job this page started may end before the answer naming it arrives: whether the page follows it is known after.
    void quiet().then(() => {
      if (!followedByPage(job.id)) setJobs((list) => keep([...list, job]));
    });
  });
  if (jobs.length === 0) return null;
  return (
    <section class="toasts" aria-label="Finished jobs">
      {jobs.map((job) => (
        <Toast key={job.id} job={job} dismiss={() => setJobs((list) => list.filter((j) => j.id !== job.id))} />
      ))}
    </section>
  );
}
