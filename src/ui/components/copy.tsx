// A button that copies a secret shown once or handed over (a standby's
// password, a new API token) to the clipboard, and says it did.
import { useState } from 'preact/hooks';

export function CopyButton({ text, what }: { text: string; what: string }) {
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    await navigator.clipboard.writeText(text);
    setCopied(true);
  };
  return (
    <button type="button" onClick={() => void copy().catch(() => setCopied(false))} aria-label={`${copied ? 'Copied' : 'Copy'} ${what}`}>
      {copied ? 'Copied' : 'Copy'}
    </button>
  );
}
