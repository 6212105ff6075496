// The push channel inside components: a listener that lives as long as the
// component, the burst-coalescing refresh the shell runs on changes, and
// whether the box answers at all.
import { useEffect, useRef, useState } from 'preact/hooks';
import { subscribe } from '../api';
import { isOnline, onConnection } from '../connection';
import type { PushEvent } from '../types';

/** Calls `listener` for every pushed event while the component is shown. */
export function useEvents(listener: (event: PushEvent) => void): void {
  // The latest listener is called: one subscription for the component's life.
  const latest = useRef(listener);
  latest.current = listener;
  useEffect(() => subscribe((event) => latest.current(event)), []);
}

/** While `on`, calls `refresh` once per burst of pushed changes (300 ms), not for progress of running jobs. */
export function useRefreshOnChanges(on: boolean, refresh: () => void): void {
  useEffect(() => {
    if (!on) return;
    let timer: ReturnType<typeof setTimeout> | null = null;
    const stop = subscribe((event) => {
      if (event.type === 'hello' || (event.type === 'job' && event.job.state === 'running')) return;
      if (!timer) timer = setTimeout(() => ((timer = null), refresh()), 300);
    });
    return () => {
      stop();
      if (timer) clearTimeout(timer);
    };
  }, [on]);
}

/** Whether the App Platform answers (connection.ts), following it as it changes. */
export function useOnline(): boolean {
  const [online, setOnline] = useState(isOnline);
  useEffect(() => {
    setOnline(isOnline());
    return onConnection(setOnline);
  }, []);
  return online;
}
