// The rescue system's log (p2/ramdisk.log): what it did at the last update,
// rollback or technician's session, scrolled to its end where the outcome is,
// with the whole file to download. A box whose rescue never ran says so. The
// file itself stays at /manager/ramdisk.log for technicians (no login there).
import { useEffect, useRef } from 'preact/hooks';
import { ErrorText } from '../components/errors';
import { ago, bytes, when } from '../format';
import { useFetch } from '../hooks/fetch';
import type { RescueLog } from '../types';

/** What the log's last line says of the run (install_step1.sh ends with "<mode> done" or "FAILED: <why>"). */
function outcome(text: string): string {
  const last = text.trimEnd().split('\n').at(-1) ?? '';
  const failed = /FAILED: (.*)$/.exec(last);
  if (failed) return `The last run failed: ${failed[1]}.`;
  const done = /\b(\w+) done$/.exec(last);
  if (done) return `The last run (${done[1]}) finished.`;
  return 'The log does not end with a result: the rescue system was cut off (a power cut, a reset) or a technician left it.';
}

export function RescueLogPage() {
  const { data, error } = useFetch<RescueLog>('/rescue-log');
  const pre = useRef<HTMLPreElement>(null);
  useEffect(() => {
    // The outcome is at the end.
    if (pre.current) pre.current.scrollTop = pre.current.scrollHeight;
  }, [data]);
  return (
    <section>
      <h1>Rescue system log</h1>
      <p>
        The rescue system runs from a ramdisk when an image update is applied, when a new image did not come up, and when a technician boots it; it writes what it does to ramdisk.log on the data partition. <a href="#/boot">Boot settings</a> ·{' '}
        <a href="#/system">System</a>
      </p>
      <ErrorText error={error} />
      {data &&
        (data.exists ? (
          <>
            <p>
              {bytes(data.bytes)}, last written {when(data.modifiedAt!)} ({ago(data.modifiedAt!)}). {outcome(data.text)}{' '}
              <a href="/manager/ramdisk.log" download="ramdisk.log">
                Download the whole log
              </a>
            </p>
            {data.truncated && <p class="note">Only its end is shown here; the download holds all of it.</p>}
            <pre class="log" ref={pre} tabIndex={0} aria-label="The rescue system's log">
              {data.text}
            </pre>
          </>
        ) : (
          <p class="empty-state">The rescue system has not run on this box yet; its log appears here after an update or a technician's session.</p>
        ))}
    </section>
  );
}
