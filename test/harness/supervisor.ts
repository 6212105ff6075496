// Runs the bundled supervisor (dist/ap.js) as a user would, and waits on what
// it says: its log lines, its exit, and systemd notifications.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, findPgBin } from '../../src/db';
import { notInUnitTier } from './tier';

export const REPO = join(dirname(fileURLToPath(import.meta.url)), '../..');
export const BUNDLE = join(REPO, 'dist/ap.js');

/** What the box's init scripts (S50postgresql, S92manager) run with on a folder `root`: this machine's PostgreSQL, the bundle, the dev board. */
export function initScriptEnv(root: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    AP_ROOT: root,
    PGBIN: dirname(realpathSync(join(findPgBin(null), 'pg_ctl'))),
    AP_BOARD: 'dev',
    AP_JS: BUNDLE,
    NODE: process.execPath,
    ...extra,
  };
}

/** Waits until `test` holds for the text collected so far (re-checked on each chunk). */
class Collector {
  text = '';
  private waiters: { test: (text: string) => boolean; resolve: () => void }[] = [];

  push(chunk: string): void {
    this.text += chunk;
    this.waiters = this.waiters.filter((w) => {
      if (!w.test(this.text)) return true;
      w.resolve();
      return false;
    });
  }

  until(test: (text: string) => boolean, what: string, failed: Promise<unknown>, timeoutMs: number): Promise<void> {
    if (test(this.text)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; got:\n${this.text}`)), timeoutMs);
      this.waiters.push({
        test,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
      void failed.then(() => {
        clearTimeout(timer);
        reject(new Error(`process ended while waiting for ${what}; got:\n${this.text}`));
      });
    });
  }
}

export interface Run {
  readonly child: ChildProcess;
  readonly output: Collector;
  /** Resolves with [code, signal] when the process ends. */
  readonly exited: Promise<[number | null, NodeJS.Signals | null]>;
  /** Waits for a line matching `pattern` in its stdout+stderr. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
}

/** Spawns `node dist/ap.js ...args`. */
export function runAp(args: readonly string[], env: Record<string, string> = {}): Run {
  notInUnitTier('the bundle');
  const child = spawn(process.execPath, [BUNDLE, ...args], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
    // Every answer of the admin API is checked against its route's schema (src/api): a mismatch fails the test with a 500.
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/', AP_CHECK_RESPONSES: '1', ...env },
  });
  const output = new Collector();
  child.stdout!.setEncoding('utf8').on('data', (c: string) => output.push(c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => output.push(c));
  const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('close', (code, signal) => resolve([code, signal])));
  return {
    child,
    output,
    exited,
    async waitFor(pattern, timeoutMs = 60_000) {
      await output.until((t) => pattern.test(t), String(pattern), exited, timeoutMs);
      return pattern.exec(output.text)!;
    },
  };
}

/**
 * Waits for the supervisor's ready line; the ports its apps (instances, health)
 * and its Manager (UI, /manager/api, the event socket) answer HTTP on: two
 * listeners, two origins. Tests take each port from here.
 */
export async function readyPorts(run: Run, timeoutMs = 60_000): Promise<{ app: number; manager: number }> {
  const [, manager] = await run.waitFor(/ready: Manager at http:\/\/[^\s]*:(\d+)\//, timeoutMs);
  // Logged just before the ready line.
  const [, app] = await run.waitFor(/apps at http:\/\/[^\s]*:(\d+)\//, 1000);
  return { app: Number(app), manager: Number(manager) };
}

/** Runs `node dist/ap.js ...args` to completion. */
export function runApSync(args: readonly string[], env: Record<string, string> = {}, input = ''): { status: number | null; stdout: string; stderr: string } {
  notInUnitTier('the bundle');
  const result = spawnSync(process.execPath, [BUNDLE, ...args], {
    cwd: REPO,
    encoding: 'utf8',
    input,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/', AP_CHECK_RESPONSES: '1', ...env },
    timeout: 60_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/**
 * Cleanup for a run a failed assertion left behind: SIGTERM so it stops its
 * PostgreSQL too, SIGKILL only if that does not end it in 30 s.
 */
export async function ensureStopped(run: Run): Promise<void> {
  if (run.child.exitCode !== null || run.child.signalCode !== null) return;
  run.child.kill('SIGTERM');
  const timer = setTimeout(() => run.child.kill('SIGKILL'), 30_000);
  await run.exited;
  clearTimeout(timer);
}

export interface NotifyListener {
  readonly path: string;
  readonly messages: Collector;
  waitFor(text: string, timeoutMs?: number): Promise<void>;
  close(): void;
}

/**
 * Listens on a Unix datagram socket as systemd does for NOTIFY_SOCKET. Node has
 * no Unix datagram sockets, so a few lines of Python hold it.
 */
export async function listenNotify(path: string): Promise<NotifyListener> {
  const script = [
    'import socket, sys',
    's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
    's.bind(sys.argv[1])',
    'print("LISTENING", flush=True)',
    'while True:',
    '    data = s.recv(4096).decode()',
    '    for line in data.splitlines():',
    '        print(line, flush=True)',
  ].join('\n');
  const child = spawn('python3', ['-c', script, path], { stdio: ['ignore', 'pipe', 'inherit'] });
  const messages = new Collector();
  child.stdout!.setEncoding('utf8').on('data', (c: string) => messages.push(c));
  const gone = new Promise((resolve) => child.once('close', resolve));
  await messages.until((t) => t.includes('LISTENING'), 'the notify listener', gone, 10_000);
  return {
    path,
    messages,
    waitFor: (text, timeoutMs = 60_000) => messages.until((t) => t.split('\n').includes(text), text, gone, timeoutMs),
    close: () => child.kill(),
  };
}

/** Whether process `pid` exists (a zombie counts until it is reaped). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Pids of live processes whose command line mentions `needle`. */
export function processesMentioning(needle: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(needle)) found.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/**
 * Builds the example service (test/fixtures/<name>) into `into/<name>`: its
 * app.json and service.js bundled with the SDK, as an installable folder.
 */
export async function buildFixture(name: string, into: string): Promise<string> {
  const { build } = await import('esbuild');
  const { copyFile, mkdir } = await import('node:fs/promises');
  const dir = join(into, name);
  await mkdir(dir, { recursive: true });
  await copyFile(join(REPO, 'test/fixtures', name, 'app.json'), join(dir, 'app.json'));
  const { cp, stat } = await import('node:fs/promises');
  const web = join(REPO, 'test/fixtures', name, 'web');
  if (await stat(web).catch(() => null)) await cp(web, join(dir, 'web'), { recursive: true });
  await build({
    entryPoints: [join(REPO, 'test/fixtures', name, 'service.ts')],
    outfile: join(dir, 'service.js'),
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    logLevel: 'warning',
  });
  return dir;
}

/** Runs `fn` as the PostgreSQL superuser on `database` of the supervisor serving `root` (its cluster found with `ap ctl status`). */
export async function asSuperuser<T>(root: string, database: string, fn: (sql: ReturnType<typeof connect>) => Promise<T>): Promise<T> {
  const result = runApSync(['ctl', 'status', '--json', '--root', root]);
  if (result.status !== 0) throw new Error(`ap ctl status: ${result.stdout}${result.stderr}`);
  const { db } = JSON.parse(result.stdout) as { db: { socketDir: string; port: number } };
  const sql = connect({ socketDir: db.socketDir, port: db.port, database, max: 1 });
  try {
    return await fn(sql);
  } finally {
    await sql.end({ timeout: 1 });
  }
}
