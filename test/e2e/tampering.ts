// Helpers of the tampered-backup tests (backup-tampered*.test.ts): a
// supervisor of their own, `ap ctl`, the cluster seen as the superuser, and
// tamper(), which changes the SQL inside a real backup the way an attacker
// would and wraps it again with a recomputed checksum.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before } from 'node:test';
import { backupFile, verifyBackupFile } from '../../src/backup';
import { until } from '../harness/http';
import { asSuperuser, buildFixture, ensureStopped, readyPorts, runAp, runApSync, type Run } from '../harness/supervisor';
import { rootWithConfig, workspace } from '../harness/workspace';

export let dir: string;
let root: string;
let run: Run;
/** Where COPY … TO PROGRAM would leave its trace: a folder the postgres OS user may write to. */
export let marker: string;

export const ctl = (...args: string[]) => {
  const result = runApSync(['ctl', ...args, '--json', '--root', root]);
  assert.equal(result.status, 0, `ap ctl ${args.join(' ')}: ${result.stdout}${result.stderr}`);
  return JSON.parse(result.stdout);
};
/** `ap ctl` with `input` on its stdin, whatever its outcome. */
export const ctlInput = (input: string, ...args: string[]) => runApSync(['ctl', ...args, '--json', '--root', root], {}, input);
/** A job run to its end through ap ctl; returns the job, whatever its outcome. */
export const job = (...args: string[]) => JSON.parse(runApSync(['ctl', ...args, '--json', '--root', root]).stdout) as { state: string; message: string };

export const superuser = <T>(fn: Parameters<typeof asSuperuser<T>>[2], database = 'postgres') => asSuperuser(root, database, fn);

export const exists = (path: string) => stat(path).then(() => true, () => false);

/** Databases and roles of the cluster, to show that a refused restore changed nothing and left nothing. */
export const clusterState = () =>
  superuser(async (sql) => ({
    databases: (await sql<{ n: string }[]>`SELECT datname AS n FROM pg_database ORDER BY 1`).map((r) => r.n),
    roles: (await sql<{ n: string }[]>`SELECT rolname AS n FROM pg_roles ORDER BY 1`).map((r) => r.n),
  }));

/**
 * Copies backup `from` to `to` with the definition that starts with `start`
 * (a string in the dump's table of contents: a length, then the text)
 * prefixed by `injected`, and the checksum recomputed: what anyone can do.
 */
export async function tamper(from: string, to: string, start: string, injected: string): Promise<void> {
  const verified = await verifyBackupFile(from);
  const file = await readFile(from);
  const dump = file.subarray(verified.dumpStart, verified.dumpStart + verified.dumpLength);
  const at = dump.indexOf(Buffer.from(start, 'utf8'));
  assert.ok(at > 5, `the dump holds "${start}"`);
  // pg_dump's custom format writes a string as a sign byte, a 4-byte little-endian length and the bytes.
  assert.equal(dump[at - 5], 0);
  const length = dump.readUInt32LE(at - 4);
  const text = Buffer.concat([Buffer.from(injected, 'utf8'), dump.subarray(at, at + length)]);
  const size = Buffer.alloc(4);
  size.writeUInt32LE(text.length);
  const changed = Buffer.concat([dump.subarray(0, at - 4), size, text, dump.subarray(at + length)]);
  const chunks: Buffer[] = [];
  for await (const chunk of backupFile(verified.meta, Readable.from([changed]))) chunks.push(chunk);
  await writeFile(to, Buffer.concat(chunks));
}

/** Starts a supervisor with the echo service installed, for the file's tests; stops it afterwards. */
export function withSupervisor(): void {
  before(async () => {
    dir = await workspace('ap-tamper-');
    root = await rootWithConfig(dir, {});
    marker = join(tmpdir(), `ap-tamper-marker-${randomBytes(6).toString('hex')}`);
    run = runAp(['serve', '--root', root, '--http-port', '0', '--https-port', '0', '--reserve-size', '0']);
    await readyPorts(run);
    assert.equal(runApSync(['ctl', 'service', 'install', await buildFixture('echo', join(dir, 'packages')), '--root', root]).status, 0);
    await until('service running', async () => ((ctl('service', 'list') as { state: string }[])[0]?.state === 'running' ? true : undefined));
  });

  after(async () => {
    if (run) {
      run.child.kill('SIGTERM');
      await ensureStopped(run);
    }
    for (const kind of ['test', 'restore', 'manager']) await rm(`${marker}-${kind}`, { force: true });
    await rm(dir, { recursive: true, force: true });
  });
}
