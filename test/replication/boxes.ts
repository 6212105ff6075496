// Boxes for the standby tests: bundled supervisors with their own state roots
// and managed clusters on their own TCP ports (--pg-listen 127.0.0.1), driven
// through `ap ctl` as an administrator would.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { until } from '../harness/http';
import { asSuperuser, ensureStopped, readyPorts, runAp, runApSync, type Run } from '../harness/supervisor';
import { rootWithConfig } from '../harness/workspace';
import { freePort } from './clients';

export interface Box {
  readonly root: string;
  readonly pgPort: number;
  /** More `ap serve` flags (a fixed --manager-http-port for a browser that must find the box again after a switch). */
  readonly extra: readonly string[];
  run: Run;
}

export interface Shown {
  mode: string;
  standby?: { primary: { host: string; port: number }; name: string; switching: boolean; streaming: boolean; receivedLsn: string | null; replayedLsn: string | null; replayDelaySeconds: number | null };
  standbys: { name: string; password: string; slotExists: boolean }[];
}

const serve = (root: string, pgPort: number, extra: readonly string[] = []) =>
  runAp(['serve', '--root', root, '--http-port', '0', '--https-port', '0', '--reserve-size', '0', '--pg-listen', '127.0.0.1', '--db-port', String(pgPort), ...extra]);

/** The boxes a test file started, stopped by stopBoxes. */
const started: Box[] = [];

/** A new box under `dir`/`name`, running and ready; `extra`: more `ap serve` flags. */
export async function startBox(dir: string, name: string, extra: readonly string[] = []): Promise<Box> {
  const root = await rootWithConfig(join(dir, name), {});
  const pgPort = await freePort();
  const box: Box = { root, pgPort, extra, run: serve(root, pgPort, extra) };
  started.push(box);
  await readyPorts(box.run);
  return box;
}

export async function stopBoxes(): Promise<void> {
  for (const box of started) await ensureStopped(box.run);
}

/** kill -9 of the supervisor (its cluster is left running, as after a crash), then a start on the same root. */
export async function crashAndStart(box: Box): Promise<void> {
  box.run.child.kill('SIGKILL');
  await box.run.exited;
  box.run = serve(box.root, box.pgPort, box.extra);
  await readyPorts(box.run);
}

const ctlRun = (box: Box, args: string[]) => runApSync(['ctl', ...args, '--json', '--root', box.root]);

export function ctl(box: Box, ...args: string[]) {
  const result = ctlRun(box, args);
  assert.equal(result.status, 0, `ap ctl ${args.join(' ')}: ${result.stdout}${result.stderr}`);
  return JSON.parse(result.stdout);
}

/** An `ap ctl` that must fail: the API's error. */
export function ctlError(box: Box, ...args: string[]): { code: string; message: string; field?: string } {
  const result = ctlRun(box, args);
  assert.notEqual(result.status, 0, `ap ctl ${args.join(' ')} should fail: ${result.stdout}`);
  return JSON.parse(result.stdout).error;
}

/** GET /replication, or undefined while the supervisor does not answer (it composes itself again after a switch). */
export function shown(box: Box): Shown | undefined {
  const result = ctlRun(box, ['replication', 'show']);
  return result.status === 0 ? (JSON.parse(result.stdout) as Shown) : undefined;
}

/** The app port now (a composition after a switch takes a new one with --http-port 0). */
export const appPort = (box: Box) => (ctl(box, 'status') as { http: { port: number } }).http.port;

/** The end of a supervisor's log, for a failure's message. */
const tail = (box: Box) => box.run.output.text.split('\n').slice(-40).join('\n');

/** Waits until `box` is a standby of `primary` whose WAL receiver streams. */
export function streamingFrom(box: Box, primary: Box): Promise<Shown> {
  return until(`${box.root} streaming from port ${primary.pgPort}`, async () => {
    const s = shown(box);
    return s?.mode === 'standby' && !s.standby!.switching && s.standby!.primary.port === primary.pgPort && s.standby!.streaming ? s : undefined;
  }, 120_000).catch((err: Error) => {
    throw new Error(`${err.message}; it answers ${JSON.stringify(shown(box))}; its log ends:\n${tail(box)}`);
  });
}

/** Waits until `box` answers in `mode` (after a promotion). */
export function inMode(box: Box, mode: string): Promise<Shown> {
  return until(`${box.root} ${mode}`, async () => {
    const s = shown(box);
    return s?.mode === mode ? s : undefined;
  }, 120_000).catch((err: Error) => {
    throw new Error(`${err.message}; its log ends:\n${tail(box)}`);
  });
}

/** Rows of the test table `rows` in database `db`. */
export const rows = (box: Box, db: string) => asSuperuser(box.root, db, async (sql) => (await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM rows`)[0]!.n);
export const insertRows = (box: Box, db: string, from: number, to: number) =>
  asSuperuser(box.root, db, (sql) => sql`INSERT INTO rows SELECT g, md5(g::text) FROM generate_series(${from}::int, ${to}::int) g`);
export const createRows = (box: Box, db: string) => asSuperuser(box.root, db, (sql) => sql`CREATE TABLE rows (id int PRIMARY KEY, pad text)`);

export const instanceNames = (box: Box) => (ctl(box, 'instance', 'list') as { instances: { name: string }[] }).instances.map((i) => i.name);
export const services = (box: Box) => ctl(box, 'service', 'list') as { name: string; state: string }[];
