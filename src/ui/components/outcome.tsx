// A button's outcome, said right beside it: progress and success as a status
// (announced politely), a failure as an alert, never at the bottom of a page.
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { ErrorText } from './errors';

export interface Outcome {
  readonly busy: boolean;
  /** Progress while busy, then what was done. */
  readonly message: string;
  readonly error: unknown;
}

/** The outcome of an action, and `run`, which runs one (`fn` reports progress and answers what it did). */
export function useAction(): [Outcome, (fn: (progress: (message: string) => void) => Promise<string>) => Promise<void>] {
  const [outcome, setOutcome] = useState<Outcome>({ busy: false, message: '', error: null });
  const run = async (fn: (progress: (message: string) => void) => Promise<string>) => {
    setOutcome({ busy: true, message: '…', error: null });
    try {
      const message = await fn((m) => setOutcome({ busy: true, message: m, error: null }));
      setOutcome({ busy: false, message, error: null });
    } catch (error) {
      setOutcome({ busy: false, message: '', error });
    }
  };
  return [outcome, run];
}

/** A button (or a few) with its outcome beside it; `help` follows a failure (where to put it right). */
export function Action({ outcome, children, help }: { outcome: Outcome; children: ComponentChildren; help?: ComponentChildren }) {
  return (
    <div class="action">
      {children}
      {/* Always there, so a screen reader hears each new text. */}
      <span role="status" class="outcome">
        {outcome.message}
      </span>
      {outcome.error ? (
        <div class="outcome-error">
          <ErrorText error={outcome.error} />
          {help}
        </div>
      ) : null}
    </div>
  );
}
