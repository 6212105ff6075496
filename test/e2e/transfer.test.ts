// Requests that end leave nothing behind: backup downloads cut off by the
// client (mid-stream, before the first byte, never read) end their pg_dump and
// its connection; uploads cut off at any point fail their job at once, close
// their file and delete it; a Content-Length that cannot be right is refused
// before any job starts. Raw sockets, as a careless or hostile client would.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { connect as tcp, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect } from '../../src/db';
import { until } from '../harness/http';
import { buildFixture, ensureStopped, processesMentioning, readyPorts, runAp, runApSync, type Run } from '../harness/supervisor';
import { rootWithConfig, workspace } from '../harness/workspace';

let dir: string;
let root: string;
let run: Run;
let manager: number;
let cookie = '';
let csrf = '';

/** One HTTP exchange on a fresh socket; answers status and parsed JSON body. */
function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const payload = body === undefined ? '' : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const socket = tcp(manager, '127.0.0.1');
    let raw = '';
    socket.setEncoding('latin1');
    socket.on('data', (c: string) => (raw += c));
    socket.on('error', reject);
    socket.on('close', () => {
      const [head = '', text = ''] = raw.split('\r\n\r\n');
      const set = /^set-cookie: ([^;]+)/im.exec(head);
      if (set) cookie = set[1]!;
      resolve({ status: Number(head.split(' ')[1]), body: text ? JSON.parse(text) : null });
    });
    // Not end(): uWS drops a half-closed connection before it answers.
    socket.write(
      `${method} /manager/api${path} HTTP/1.1\r\nHost: 127.0.0.1:${manager}\r\nConnection: close\r\nCookie: ${cookie}\r\nX-CSRF-Token: ${csrf}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(payload)}\r\n\r\n${payload}`,
    );
  });
}

/** A raw request whose socket the test keeps: headers (and `body`, if any) written, nothing awaited. */
function open(method: string, path: string, headers: Record<string, string>, body?: Buffer): Socket {
  const socket = tcp(manager, '127.0.0.1');
  socket.on('error', () => {});
  const lines = Object.entries({ Host: `127.0.0.1:${manager}`, Cookie: cookie, 'X-CSRF-Token': csrf, ...headers }).map(([k, v]) => `${k}: ${v}\r\n`);
  socket.write(`${method} /manager/api${path} HTTP/1.1\r\n${lines.join('')}\r\n`);
  if (body) socket.write(body);
  return socket;
}

/** The answer's status line of a raw request, or 0 when the connection closed without one. */
function statusOf(socket: Socket): Promise<number> {
  return new Promise((resolve) => {
    let raw = '';
    socket.setEncoding('latin1');
    socket.on('data', (c: string) => {
      raw += c;
      const m = /^HTTP\/1\.1 (\d{3})/.exec(raw);
      if (m) {
        resolve(Number(m[1]));
        socket.destroy();
      }
    });
    socket.on('close', () => resolve(0));
  });
}

const fds = () => readdirSync(`/proc/${run.child.pid}/fd`).length;
const uploads = () => readdirSync(join(root, 'mnt/sda2')).filter((n) => n.startsWith('upload-'));
/** Live pg_dump processes of database `db`. */
function dumpsOf(db: string): number[] {
  return processesMentioning('pg_dump').filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(db);
    } catch {
      return false; // ended meanwhile
    }
  });
}
/** Bytes pg_dump `pid` has written so far (0 once it is gone). */
function written(pid: number): number {
  try {
    return Number(/^wchar: (\d+)/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))![1]);
  } catch {
    return 0;
  }
}

before(async () => {
  dir = await workspace('ap-transfer-');
  root = await rootWithConfig(dir, {});
  run = runAp(['serve', '--root', root, '--http-port', '0', '--https-port', '0', '--reserve-size', '0']);
  manager = (await readyPorts(run)).manager;
  assert.equal(runApSync(['ctl', 'service', 'install', await buildFixture('echo', join(dir, 'packages')), '--root', root]).status, 0);
  assert.equal((await call('POST', '/session', { password: 'pwd' })).status, 200);
  csrf = (await call('GET', '/session')).body.csrf;
  assert.equal((await call('POST', '/password', { current: 'pwd', password: 'Transfer-Tests-2026' })).status, 200);
  assert.equal((await call('POST', '/session', { password: 'Transfer-Tests-2026' })).status, 200);
  csrf = (await call('GET', '/session')).body.csrf;
});

after(async () => {
  if (run) await ensureStopped(run);
  await rm(dir, { recursive: true, force: true });
});

describe('downloads and uploads that end early', () => {
  it('ends every pg_dump and its connection when backup downloads are cut off, so a clean-up completes', async () => {
    assert.equal((await call('POST', '/instances', { service: 'echo', name: 'big', domain: 'example.com' })).status, 201);
    const status = JSON.parse(runApSync(['ctl', 'status', '--json', '--root', root]).stdout);
    const db = 'example.com_big';
    // ~20 MB that does not compress: more than the socket buffers take, so a client that stops reading holds pg_dump up.
    const sql = connect({ socketDir: status.db.socketDir, port: status.db.port, database: db, max: 1 });
    try {
      await sql.unsafe(`CREATE TABLE blob (n int, data bytea)`);
      await sql.unsafe(`INSERT INTO blob SELECT g, decode(string_agg(md5(random()::text || i), ''), 'hex') FROM generate_series(1, 20) g, generate_series(1, 65536) i GROUP BY g`);
    } finally {
      await sql.end({ timeout: 1 });
    }
    const path = '/backups/instances/big@example.com/download';
    const sockets: Socket[] = [];
    for (let i = 0; i < 20; i++) {
      const socket = open('GET', path, {});
      if (i % 2 === 0) socket.once('data', () => socket.pause()); // reads a little, then stops
      else socket.pause(); // never reads
      sockets.push(socket);
    }
    // Two more that go away before the first byte.
    for (let i = 0; i < 2; i++) open('GET', path, {}).destroy();
    try {
      await until('20 pg_dumps running', async () => (dumpsOf(db).length >= 20 ? true : undefined), 60_000);
      // Every pg_dump stuck behind its client: what it wrote no longer grows.
      await until('pg_dumps held up by their clients', async () => {
        const pids = dumpsOf(db);
        const before = pids.map(written);
        await new Promise((r) => setTimeout(r, 500));
        return pids.every((pid, i) => written(pid) === before[i]) ? true : undefined;
      }, 60_000);
    } finally {
      for (const socket of sockets) socket.destroy();
    }
    // pg_dump and its server process (whose title names the database) are gone.
    await until('no pg_dump and no connection to the database left', async () => (processesMentioning(db).length === 0 ? true : undefined), 20_000);
    const cleanup = runApSync(['ctl', 'instance', 'cleanup', 'big@example.com', '--root', root]);
    assert.equal(cleanup.status, 0, cleanup.stderr);
  });

  it('fails the job of an upload cut off at any point, closes its file and deletes it', async () => {
    const path = '/restores/instances/upload?name=cut';
    const headers = { 'Content-Type': 'application/octet-stream', 'Content-Length': String(10 * 1024 * 1024) };
    const fdsBefore = fds();
    const kinds = ['headers only', 'half a body', 'after its job started'] as const;
    for (let i = 0; i < 51; i++) {
      const kind = kinds[i % 3]!;
      const socket = open('POST', path, headers, kind === 'headers only' ? undefined : Buffer.alloc(512 * 1024, i));
      if (kind === 'after its job started') {
        await until('the job receives', async () => {
          const jobs = (await call('GET', '/jobs')).body.jobs as { kind: string; state: string; progress: { done: number } }[];
          return jobs.some((j) => j.kind === 'restore' && j.state === 'running' && j.progress.done > 0) ? true : undefined;
        });
      } else {
        await new Promise((r) => setTimeout(r, 20)); // let the bytes leave before the cut
      }
      socket.destroy();
    }
    const jobs = await until('no upload job left running', async () => {
      const all = (await call('GET', '/jobs')).body.jobs as { kind: string; state: string; message: string }[];
      return all.some((j) => j.kind === 'restore' && j.state === 'running') ? undefined : all.filter((j) => j.kind === 'restore');
    }, 20_000);
    assert.ok(jobs.length >= 17, `${jobs.length} restore jobs`);
    for (const job of jobs) {
      assert.equal(job.state, 'failed');
      assert.match(job.message, /the upload was cut off/);
    }
    assert.deepEqual(uploads(), []);
    const fdsAfter = fds();
    console.log(`supervisor fds: ${fdsBefore} before 51 cut uploads, ${fdsAfter} after`);
    // A little slack for the database pool and log files, never one per upload.
    assert.ok(fdsAfter <= fdsBefore + 3, `fds ${fdsBefore} → ${fdsAfter}`);
  });

  it('refuses a Content-Length that cannot be right before any job starts', async () => {
    const count = async () => ((await call('GET', '/jobs')).body.jobs as unknown[]).length;
    const before = await count();
    // uWS itself drops, unanswered, a connection whose Content-Length it cannot take (not digits, over 999,999,999):
    // there the outcome a client sees is a closed connection (0), and what matters is that nothing started.
    for (const [path, lengths, statuses] of [
      ['/restores/instances/upload', ['1000000000'], [0, 413]],
      ['/restores/instances/upload', ['-5'], [0, 400]],
      ['/restores/instances/upload', ['12abc'], [0, 400]],
      ['/restores/instances/upload', ['10', '20'], [400]],
      ['/restores/instances/upload', ['1234567890123456789'], [0, 400]],
      ['/services/upload', [String(600 * 1024 * 1024)], [413]],
      ['/services/upload', ['1, 2'], [0, 400]],
    ] as const) {
      const socket = tcp(manager, '127.0.0.1');
      socket.on('error', () => {});
      const head = lengths.map((l) => `Content-Length: ${l}\r\n`).join('');
      socket.write(`POST /manager/api${path} HTTP/1.1\r\nHost: 127.0.0.1:${manager}\r\nCookie: ${cookie}\r\nX-CSRF-Token: ${csrf}\r\n${head}\r\n`);
      const status = await statusOf(socket);
      assert.ok((statuses as readonly number[]).includes(status), `${path} with Content-Length ${lengths.join(' and ')}: ${status}`);
    }
    assert.equal(await count(), before);
    assert.deepEqual(uploads(), []);
  });
});
