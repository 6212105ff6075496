// Whether the App Platform answers: one flag for the whole UI, set by the API
// client (api.ts) from what actually happened (a request that got no answer,
// an answer, the event socket closing), read by the banner and by every badge
// of a live state, which shows "unknown" rather than the last value while the
// box cannot be reached.

/** What a request that got no answer reads as, everywhere (never the browser's "Failed to fetch"). */
export const UNREACHABLE = 'The App Platform cannot be reached (it may be restarting)';

type Listener = (online: boolean) => void;
const listeners = new Set<Listener>();
let online = true;

/** Whether the last word from the box was an answer (true until a request fails). */
export function isOnline(): boolean {
  return online;
}

/** Records what the last request found; listeners hear only changes. */
export function setOnline(value: boolean): void {
  if (online === value) return;
  online = value;
  for (const listener of [...listeners]) listener(value);
}

/** Hears every change of the flag; returns the unsubscribe. */
export function onConnection(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}
