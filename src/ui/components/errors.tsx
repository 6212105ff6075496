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

/**
 * A page whose subject did not load: its heading all the same, why, and the
 * way back (an instance deleted meanwhile, a bookmark of one that is gone).
 */
export function Missing({ title, error }: { title: string; error: unknown }) {
  if (!error) return null; // still loading
  return (
    <section>
      <h1>{title}</h1>
      <ErrorText error={error} />
      {error instanceof ApiError && error.status === 404 && (
        <p>
          <a href="#/">Back to Home</a>
        </p>
      )}
    </section>
  );
}
