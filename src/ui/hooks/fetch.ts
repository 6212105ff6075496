// Reading the API from a page: the latest request wins, an older one is
// aborted, and what is shown is always the answer for what is asked now, so a
// page that moved from instance A to B never shows A's data under B (the
// answer is kept with the path it answers). Errors are kept and shown, never
// dropped. Pages that follow the box's changes are refreshed through one
// context, not a prop handed down every level.
import { createContext } from 'preact';
import { useCallback, useContext, useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError } from '../api';
import { useOnline } from './events';

/** The refresh signal: `tick` moves when the box said something changed; `refresh` moves it. */
export const Refresh = createContext<{ readonly tick: number; readonly refresh: () => void }>({ tick: 0, refresh: () => {} });

/** Asks every live view to load again (after an action of this page). */
export function useRefresh(): () => void {
  return useContext(Refresh).refresh;
}

export interface Fetched<T> {
  /** The answer for the current path, or null while it is loading (or failed). */
  readonly data: T | null;
  /** Why the last load for the current path failed, or null. */
  readonly error: unknown;
  /** Loads again; resolves when the answer (or the error) is in. */
  readonly reload: () => Promise<void>;
}

interface Held<T> {
  readonly path: string | null;
  readonly data: T | null;
  readonly error: unknown;
}

/**
 * GET `path` (null: nothing yet) and keep the answer. With `live`, it loads
 * again whenever the box pushes a change (the Refresh context, which a
 * reconnect moves too); without, when the box answers again after a break.
 */
export function useFetch<T>(path: string | null, options: { live?: boolean } = {}): Fetched<T> {
  const { tick } = useContext(Refresh);
  const online = useOnline();
  const [held, setHeld] = useState<Held<T>>({ path: null, data: null, error: null });
  const current = useRef<AbortController | null>(null);
  const reload = useCallback(async () => {
    current.current?.abort();
    if (path === null) return;
    const controller = new AbortController();
    current.current = controller;
    try {
      const data = await api<T>('GET', path, undefined, controller.signal);
      if (!controller.signal.aborted) setHeld({ path, data, error: null });
    } catch (error) {
      // An aborted request was replaced or its page left: its outcome is no one's.
      if (controller.signal.aborted) return;
      // A failed reload keeps what was shown for this path, with the error beside it; when the
      // box cannot be reached the banner says so once for the whole page (components/live.tsx).
      setHeld((h) => {
        const data = h.path === path ? h.data : null;
        return { path, data, error: data !== null && error instanceof ApiError && error.code === 'UNREACHABLE' ? null : error };
      });
    }
  }, [path]);
  useEffect(() => {
    void reload();
    return () => current.current?.abort();
  }, [reload, options.live ? tick : online]);
  const mine = held.path === path;
  return { data: mine ? held.data : null, error: mine ? held.error : null, reload };
}
