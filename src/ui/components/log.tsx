// The end of a service's log, refreshed by hand or every few seconds while
// "follow" is on, the newest lines kept in view as tail -f does.
import { useEffect, useRef, useState } from 'preact/hooks';
import { bytes } from '../format';
import { useFetch } from '../hooks/fetch';
import type { LogTail } from '../types';
import { ErrorText } from './errors';

export function LogView({ base, name }: { base: string; name: string }) {
  const { data: log, error, reload } = useFetch<LogTail>(`${base}/log/tail`);
  const [follow, setFollow] = useState(false);
  const box = useRef<HTMLPreElement>(null);
  useEffect(() => {
    if (!follow) return;
    const timer = setInterval(() => void reload(), 3000);
    return () => clearInterval(timer);
  }, [follow, reload]);
  useEffect(() => {
    if (box.current) box.current.scrollTop = box.current.scrollHeight;
  }, [log?.text]);
  return (
    <>
      <h2>Log</h2>
      <p class="buttons">
        <button type="button" onClick={() => void reload()}>
          Reload log
        </button>
        <label class="inline">
          <input type="checkbox" checked={follow} onChange={(e) => setFollow((e.target as HTMLInputElement).checked)} /> Follow
        </label>
        <a class="button" href={`/manager/api${base}/log`} download={`${name}.log`}>
          Download log
        </a>
      </p>
      <ErrorText error={error} />
      {log && (
        <>
          {log.truncated && <p class="note">The last {bytes(log.text.length)} of {bytes(log.size)}; download the log for all of it.</p>}
          <pre class="log" ref={box} tabIndex={0} aria-label={`Log of ${name}`}>
            {log.size === 0 ? '(no log yet)' : log.text}
          </pre>
        </>
      )}
    </>
  );
}
