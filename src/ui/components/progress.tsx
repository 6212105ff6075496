// A progress bar people and screen readers can read (role progressbar, 0-100).
import type { JobProgress } from '../hooks/jobs';

export function Progress({ share, label }: { share: number; label: string }) {
  return (
    <div class="progress" role="progressbar" aria-label={label} aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round(share * 100)}>
      <div style={{ width: `${Math.round(share * 100)}%` }} />
      <span>{Math.round(share * 100)} %</span>
    </div>
  );
}

/** A job's bar and its latest words, while there is something to show. */
export function JobBar({ progress, label }: { progress: JobProgress | null; label: string }) {
  if (!progress) return null;
  return (
    <>
      <Progress share={progress.share} label={label} />
      <p class="note">{progress.text}</p>
    </>
  );
}
