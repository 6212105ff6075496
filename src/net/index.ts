// Bounded HTTP(S) reads: a whole body up to a size, or a stream that may not
// stall, each within a time. Used to read from a store (apps, packages) and
// an image server, so a server that misbehaves costs a clear error, not the
// box's memory or a job that never ends. And a URL as logs may show it. A
// leaf: it imports only errors.
import { ApError, describe, type ErrorCode } from '../errors';

/** The URL without its credentials, for logs and people. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.username || u.password) {
      u.username = '';
      u.password = '';
    }
    return u.toString();
  } catch {
    return '(an invalid URL)';
  }
}

const TIMEOUT_MS = 30_000;
/** A download may take long on a slow line, but not stall: this long without a byte ends it. */
const STALL_MS = 60_000;

/** The whole body of `url`, at most `max` bytes (read no further); `tooLarge` is the code past that. */
export async function fetchLimited(url: string, max: number, tooLarge: ErrorCode = 'BAD_STORE'): Promise<Buffer> {
  const response = await get(url, AbortSignal.timeout(TIMEOUT_MS));
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
      size += chunk.byteLength;
      if (size > max) throw new ApError(tooLarge, `${url} is larger than ${max} bytes`);
      chunks.push(Buffer.from(chunk));
    }
  } catch (err) {
    await response.body?.cancel().catch(() => {});
    if (err instanceof ApError) throw err;
    throw new ApError('STORE_UNAVAILABLE', `${url}: ${describe(err)}`);
  }
  return Buffer.concat(chunks);
}

/** The body of `url` as it arrives; ends with STORE_UNAVAILABLE when it stalls for a minute. */
export async function* fetchStream(url: string): AsyncGenerator<Buffer> {
  const control = new AbortController();
  let timer = setTimeout(() => control.abort(), STALL_MS);
  const response = await get(url, control.signal);
  try {
    for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
      clearTimeout(timer);
      timer = setTimeout(() => control.abort(), STALL_MS);
      yield Buffer.from(chunk);
    }
  } catch (err) {
    if (err instanceof ApError) throw err;
    throw new ApError('STORE_UNAVAILABLE', `${url}: ${control.signal.aborted ? 'no data for a minute' : describe(err)}`);
  } finally {
    clearTimeout(timer);
    await response.body?.cancel().catch(() => {});
  }
}

async function get(url: string, signal: AbortSignal): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(url, { signal, redirect: 'follow' });
  } catch (err) {
    throw new ApError('STORE_UNAVAILABLE', `${url}: ${describe(err)}`);
  }
  if (!response.ok || !response.body) {
    await response.body?.cancel().catch(() => {});
    throw new ApError(response.status === 404 ? 'NOT_FOUND' : 'STORE_UNAVAILABLE', `${url} answered ${response.status}`);
  }
  return response;
}
