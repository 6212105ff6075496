// Honest live state: the banner while the App Platform cannot be reached, and
// the badge of a state that then reads "unknown" instead of its last value.
import { retryNow } from '../api';
import { UNREACHABLE } from '../connection';
import { useOnline } from '../hooks/events';

/** At the top of every page while requests get no answer; gone by itself when one does. */
export function ConnectionBanner() {
  const online = useOnline();
  if (online) return null;
  return (
    <div class="connection-lost" role="alert">
      <p>
        <strong>Connection lost.</strong> {UNREACHABLE}. States read "unknown" until it answers; this page tries again by itself and reloads what it shows.
      </p>
      <button type="button" onClick={retryNow}>
        Try now
      </button>
    </div>
  );
}

/** A service's or instance's state as a badge; "unknown" (greyed, the last known one in its title) while the box cannot be reached. */
export function State({ state }: { state: string }) {
  const online = useOnline();
  if (!online)
    return (
      <span class="state unknown" title={`last known: ${state}`}>
        unknown
      </span>
    );
  return <span class={`state ${state}`}>{state}</span>;
}
