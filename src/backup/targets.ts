// Where a backup stream goes: a local file (fsutil's writeStreamAtomic: a
// file with the final name is always complete) or the body of an HTTP(S)
// PUT/POST (the command file's targets). Either way the stream is consumed as
// it is produced; a failed target is an error, never a silent success.
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ApError } from '../errors';
import { redactUrl } from '../net';

/** Counts bytes as they pass. */
export async function* counted(source: AsyncIterable<Buffer>, onBytes: (total: number) => void): AsyncGenerator<Buffer> {
  let total = 0;
  for await (const chunk of source) {
    total += chunk.length;
    onBytes(total);
    yield chunk;
  }
}

export interface UploadOptions {
  readonly method: 'PUT' | 'POST';
  /** No progress for this long (the target stopped reading or answering) fails the upload. */
  readonly stallMs: number;
}

/** Sends the stream as the body of a PUT/POST; succeeds only on a 2xx answer. Returns the bytes sent. */
export async function toUrl(source: AsyncIterable<Buffer>, url: string, options: UploadOptions): Promise<number> {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    throw new ApError('BAD_TARGET', 'the backup target is not a valid URL');
  }
  if (target.protocol !== 'http:' && target.protocol !== 'https:') throw new ApError('BAD_TARGET', `backup targets are http or https URLs, not ${target.protocol}`);
  const shown = redactUrl(url);
  const headers: Record<string, string> = { 'content-type': 'application/octet-stream' };
  if (target.username || target.password) {
    headers.authorization = `Basic ${Buffer.from(`${decodeURIComponent(target.username)}:${decodeURIComponent(target.password)}`).toString('base64')}`;
  }
  // Loaded here, not at every start (issue 18's idle memory).
  const { request } = target.protocol === 'https:' ? await import('node:https') : await import('node:http');
  const req = request(target, { method: options.method, headers, agent: false });
  req.setTimeout(options.stallMs, () => req.destroy(new ApError('UPLOAD_STALLED', `${shown} took no data and gave no answer for ${Math.round(options.stallMs / 1000)} s`)));
  let refused: ApError | null = null;
  const answered = new Promise<IncomingMessage>((resolve, reject) => {
    req.once('response', (res) => {
      res.resume();
      if ((res.statusCode ?? 0) >= 300) {
        refused = new ApError('UPLOAD_REFUSED', `${shown} answered ${res.statusCode} ${res.statusMessage ?? ''}`.trim());
        req.destroy(refused);
      }
      resolve(res);
    });
    req.once('error', reject);
  });
  answered.catch(() => {}); // observed below
  let bytes = 0;
  try {
    await pipeline(Readable.from(counted(source, (n) => (bytes = n))), req);
    const res = await answered;
    await new Promise<void>((resolve) => (res.complete ? resolve() : res.once('end', resolve).once('close', resolve)));
  } catch (err) {
    if (refused) throw refused;
    if (err instanceof ApError) throw err;
    throw new ApError('UPLOAD_FAILED', `sending to ${shown} failed: ${(err as Error).message}`);
  }
  if (refused) throw refused;
  return bytes;
}
