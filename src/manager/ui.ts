// The Manager UI's files (dist/manager/: index.html, app.js, app.css), read once
// at start and served from memory with ETag, gzip, and a strict Content
// Security Policy: only this site's own scripts, styles and connections. The
// build compresses each file beside it (name.gz): no zlib and no level-9 gzip
// at every start of a box; a file without one is served uncompressed.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';

const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' };
const CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

interface UiFile {
  readonly body: Buffer;
  readonly gzip: Buffer | null;
  readonly type: string;
  readonly etag: string;
}

/** The files of `dir`, or an empty map when the UI was not built (the API still works). */
export function loadUi(dir: string): Map<string, UiFile> {
  const files = new Map<string, UiFile>();
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    return files;
  }
  for (const name of names) {
    const type = TYPES[extname(name)];
    if (!type) continue;
    const body = readFileSync(join(dir, name));
    let gzip: Buffer | null = null;
    try {
      gzip = readFileSync(join(dir, `${name}.gz`));
    } catch {
      // not built beside it: served as it is
    }
    files.set(name, { body, gzip, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 16)}"` });
  }
  return files;
}

export function mountUi(app: TemplatedApp, files: Map<string, UiFile>): void {
  const serve = (name: string) => (res: HttpResponse, req: HttpRequest) => {
    const file = files.get(name);
    if (!file) {
      res.writeStatus('404 Not Found').writeHeader('Content-Type', 'text/plain').end('the Manager UI is not built (npm run build)\n');
      return;
    }
    const gzip = file.gzip !== null && /\bgzip\b/.test(req.getHeader('accept-encoding'));
    const fresh = req.getHeader('if-none-match') === file.etag;
    res.cork(() => {
      res.writeStatus(fresh ? '304 Not Modified' : '200 OK');
      res.writeHeader('ETag', file.etag).writeHeader('Cache-Control', name === 'index.html' ? 'no-cache' : 'public, max-age=300, must-revalidate');
      res.writeHeader('Content-Security-Policy', CSP).writeHeader('X-Content-Type-Options', 'nosniff').writeHeader('Referrer-Policy', 'no-referrer').writeHeader('X-Frame-Options', 'DENY');
      if (fresh) return void res.end();
      res.writeHeader('Content-Type', file.type).writeHeader('Vary', 'Accept-Encoding');
      if (gzip && file.gzip) res.writeHeader('Content-Encoding', 'gzip').end(file.gzip);
      else res.end(file.body);
    });
  };
  app.get('/manager/', serve('index.html'));
  app.get('/manager/index.html', serve('index.html'));
  app.get('/manager/app.js', serve('app.js'));
  app.get('/manager/app.css', serve('app.css'));
}
