// How a failure reads on a page: the server's message (ApiError), or what
// the browser said (a network error); announced to screen readers.
import { ApiError } from '../api';

/** The text of an error for people. */
export function errorText(error: unknown): string {
  return error instanceof ApiError ? error.message : String(error);
}

export function ErrorText({ error }: { error: unknown }) {
  if (!error) return null;
  return (
    <p class="error" role="alert">
      {errorText(error)}
    </p>
  );
}
