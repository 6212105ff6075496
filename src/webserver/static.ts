// An app's static web content (its package's web folder), served by the
// supervisor itself under /<instance path>/<build>/…, as the vendor's clients
// expect: content types, ETag and 304, gzip when the client takes it, and a
// redirect from the path without the build segment. Build URLs never change
// content, so they are cached for a year. Small files are kept in memory
// (bounded); nothing here blocks the event loop.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { reply } from './reply';
import { shown } from './strict';

// zlib is loaded at the first compressed answer, not at every start (issue 18's idle memory).
let gzipAsync: ((body: Buffer) => Promise<Buffer>) | null = null;
const gzipBody = async (body: Buffer): Promise<Buffer> => (gzipAsync ??= promisify((await import('node:zlib')).gzip))(body);

export interface WebFile {
  readonly size: number;
  readonly mtimeMs: number;
}

/** What the webserver needs to serve a package's web folder. */
export interface WebContent {
  readonly build: string;
  readonly root: string;
  /** Relative paths ("css/app.css") of the files in the folder. */
  readonly files: ReadonlyMap<string, WebFile>;
}

const TYPES: Record<string, string> = {
  htm: 'text/html; charset=utf-8', html: 'text/html; charset=utf-8', js: 'text/javascript; charset=utf-8', mjs: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8', json: 'application/json', map: 'application/json', svg: 'image/svg+xml', png: 'image/png',
  jpg: 'image/jpeg', jpeg: 'image/jpeg', gif: 'image/gif', ico: 'image/x-icon', webp: 'image/webp', woff: 'font/woff', woff2: 'font/woff2',
  ttf: 'font/ttf', txt: 'text/plain; charset=utf-8', xml: 'application/xml', wasm: 'application/wasm', webmanifest: 'application/manifest+json',
  mp3: 'audio/mpeg', wav: 'audio/wav', pdf: 'application/pdf',
};
const COMPRESSIBLE = /^(text\/|application\/(json|xml|manifest\+json|javascript)|image\/svg)/;
const CACHE_FILE_MAX = 256 * 1024;
const CACHE_TOTAL_MAX = 8 * 1024 * 1024;

interface Cached {
  readonly body: Buffer;
  readonly gzipped: Buffer | null;
}

const cache = new Map<string, Cached>();
let cached = 0;

/**
 * Serves `rest` (the URL path after the instance prefix) from `web` when it
 * belongs to the static content; false when the app should answer instead.
 */
export function serveStatic(res: HttpResponse, req: HttpRequest, prefix: string, rest: string, web: WebContent): boolean {
  const method = req.getMethod();
  if (method !== 'get' && method !== 'head') return false;
  const parts = rest.split('/'); // "", build, …
  if (parts[1] === web.build && parts.length > 2) {
    const file = parts.slice(2).join('/');
    const info = web.files.get(file);
    if (!info) {
      reply(res, 404, `not found: ${shown(prefix + rest)}\n`);
      return true;
    }
    send(res, req, web, file, info, method === 'head');
    return true;
  }
  const file = rest.slice(1);
  if (file && web.files.has(file)) {
    const query = req.getQuery();
    res.writeStatus('302 Found').writeHeader('Location', `${prefix}/${web.build}/${file}${query ? `?${query}` : ''}`).end();
    return true;
  }
  return false;
}

function send(res: HttpResponse, req: HttpRequest, web: WebContent, file: string, info: WebFile, head: boolean): void {
  const etag = `"${web.build}-${info.size.toString(36)}-${Math.floor(info.mtimeMs).toString(36)}"`;
  const type = TYPES[file.slice(file.lastIndexOf('.') + 1).toLowerCase()] ?? 'application/octet-stream';
  if (req.getHeader('if-none-match') === etag) {
    res.writeStatus('304 Not Modified').writeHeader('ETag', etag).writeHeader('Cache-Control', 'public, max-age=31536000, immutable').endWithoutBody();
    return;
  }
  const wantsGzip = /\bgzip\b/.test(req.getHeader('accept-encoding')) && COMPRESSIBLE.test(type) && info.size > 256;
  let aborted = false;
  res.onAborted(() => (aborted = true));
  load(join(web.root, file), `${web.build}/${web.root}/${file}`, info.size, wantsGzip).then(
    (content) => {
      if (aborted) return;
      const body = wantsGzip && content.gzipped ? content.gzipped : content.body;
      res.cork(() => {
        res.writeStatus('200 OK').writeHeader('Content-Type', type).writeHeader('ETag', etag).writeHeader('Cache-Control', 'public, max-age=31536000, immutable');
        if (wantsGzip) res.writeHeader('Vary', 'Accept-Encoding');
        if (body === content.gzipped) res.writeHeader('Content-Encoding', 'gzip');
        if (head) res.endWithoutBody(body.length);
        else res.end(body);
      });
    },
    () => {
      if (!aborted) res.cork(() => reply(res, 404, 'not found\n'));
    },
  );
}

async function load(path: string, key: string, size: number, wantsGzip: boolean): Promise<Cached> {
  const hit = cache.get(key);
  if (hit && (!wantsGzip || hit.gzipped)) return hit;
  const body = hit?.body ?? (await readFile(path));
  const gzipped = wantsGzip ? await gzipBody(body) : null;
  const entry = { body, gzipped: gzipped && gzipped.length < body.length ? gzipped : null };
  if (size <= CACHE_FILE_MAX) {
    if (hit) cached -= hit.body.length + (hit.gzipped?.length ?? 0);
    cache.set(key, entry);
    cached += body.length + (entry.gzipped?.length ?? 0);
    for (const [old, value] of cache) {
      if (cached <= CACHE_TOTAL_MAX) break;
      cache.delete(old);
      cached -= value.body.length + (value.gzipped?.length ?? 0);
    }
  }
  return entry;
}
