// Small HTTP(S) clients for tests: streamed uploads with hashes, raw requests.
import { createHash, randomBytes } from 'node:crypto';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface Answer {
  readonly status: number;
  readonly headers: IncomingMessage['headers'];
  readonly body: Buffer;
}

/** One request; resolves with the whole answer. */
export function fetchRaw(url: string, options: { method?: string; body?: string | Buffer; ca?: string; servername?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
  const u = new URL(url);
  const request = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(
      u,
      { method: options.method ?? 'GET', headers: options.headers, ...(options.ca ? { ca: options.ca, servername: options.servername ?? 'localhost' } : {}), agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/**
 * POSTs `size` bytes in 64 KiB chunks (never all in memory) and hashes what
 * was sent and what came back.
 */
export function streamedEcho(url: string, size: number): Promise<{ status: number; sent: string; received: string; receivedBytes: number }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const sentHash = createHash('sha256');
    const receivedHash = createHash('sha256');
    let receivedBytes = 0;
    const req = httpRequest(u, { method: 'POST', headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) }, agent: false }, (res) => {
      res.on('data', (c: Buffer) => {
        receivedHash.update(c);
        receivedBytes += c.length;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, sent: sentHash.digest('hex'), received: receivedHash.digest('hex'), receivedBytes }));
      res.on('error', reject);
    });
    req.on('error', reject);
    const block = randomBytes(64 * 1024);
    let left = size;
    const pump = () => {
      while (left > 0) {
        const n = Math.min(left, block.length);
        left -= n;
        block[0] = left & 0xff; // vary the data a little per chunk
        const chunk = Buffer.from(block.subarray(0, n));
        sentHash.update(chunk);
        if (!req.write(chunk)) return req.once('drain', pump);
      }
      req.end();
    };
    pump();
  });
}

/** Resident memory of `pid` in KiB. */
export async function rssKb(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  return Number(/VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${pid}/status`, 'utf8'))![1]);
}

/** CPU time (user + system) of `pid` in milliseconds. */
export async function cpuMs(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime, stime in clock ticks (100 Hz)
}

/** Polls `check` until it returns a value (not undefined), or fails after `timeoutMs`. */
export async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export { randomBytes };
