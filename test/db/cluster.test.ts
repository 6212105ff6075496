// tier: integration (starts PostgreSQL clusters of its own)
// The managed cluster starting again after its postmaster was killed: what
// kill -9 leaves behind (a backend still holding the shared memory, a
// postmaster.pid saying "ready", its pid reused by another process) must not
// stop the start, nor fool it, nor hurt anyone else.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect, findPgBin, startCluster, type Cluster, type ClusterOptions } from '../../src/db';
import type { Logger } from '../../src/log';
import { workspace } from '../harness/workspace';

const lines: string[] = [];
const log: Logger = (() => {
  const make = (name: string): Logger => ({
    error: (m) => void lines.push(`error ${name}: ${m}`),
    warn: (m) => void lines.push(`warn ${name}: ${m}`),
    info: (m) => void lines.push(`info ${name}: ${m}`),
    debug: () => {},
    child: (n) => make(n),
    close: () => {},
  });
  return make('test');
})();

let dir: string;
let options: ClusterOptions;
let cluster: Cluster | null = null;

const killed = async (c: Cluster) => {
  process.kill(c.pid, 'SIGKILL');
  const exit = await c.exited;
  assert.equal(exit.signal, 'SIGKILL');
};
const pidFile = () => join(options.dataDir, 'postmaster.pid');
const query = async () => {
  const sql = connect({ socketDir: options.socketDir, port: options.port, database: 'postgres', max: 1 });
  try {
    return (await sql<{ n: number }[]>`SELECT 1 AS n`)[0]!.n;
  } finally {
    await sql.end({ timeout: 1 });
  }
};

before(async () => {
  dir = await workspace('ap-cluster-');
  options = { dataDir: join(dir, 'pgsql'), socketDir: join(dir, 'run'), port: 5432, bin: findPgBin(null), log };
  cluster = await startCluster(options);
});

after(async () => {
  await cluster?.stop(10_000);
  await rm(dir, { recursive: true, force: true });
});

describe('starting the cluster after its postmaster was killed', () => {
  it('kills a backend the dead postmaster left attached to its shared memory, then starts', async () => {
    const sql = connect({ socketDir: options.socketDir, port: options.port, database: 'postgres', max: 1 });
    const [row] = await sql<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
    const backend = row!.pid;
    process.kill(backend, 'SIGSTOP'); // cannot notice that its postmaster died
    await killed(cluster!);
    cluster = null;
    cluster = await startCluster(options);
    // The other children of the dead postmaster may not have noticed yet: they go too.
    assert.ok(lines.some((l) => new RegExp(`killing \\d+ PostgreSQL process\\(es\\) left by a dead postmaster: .*\\b${backend}\\b`).test(l)), lines.join('\n'));
    assert.ok(!(await realServers()).includes(backend));
    assert.equal(await query(), 1);
    await sql.end({ timeout: 1 }).catch(() => {});
  });

  it('does not take the dead postmaster\'s "ready" postmaster.pid for the new one', async () => {
    const dead = cluster!;
    await killed(dead);
    cluster = null;
    assert.equal((await readFile(pidFile(), 'utf8')).split('\n')[7]?.trim(), 'ready');
    cluster = await startCluster(options);
    // Resolved only once the new server wrote its own file and answers.
    assert.equal((await readFile(pidFile(), 'utf8')).split('\n')[0], String(cluster.pid));
    assert.notEqual(cluster.pid, dead.pid);
    assert.equal(await query(), 1);
  });

  it('leaves alone a process that took the dead postmaster\'s pid, and starts', async () => {
    await killed(cluster!);
    cluster = null;
    const stranger = spawn('sleep', ['60'], { stdio: 'ignore' });
    const text = await readFile(pidFile(), 'utf8');
    await writeFile(pidFile(), text.replace(/^\d+/, String(stranger.pid)));
    try {
      cluster = await startCluster(options);
      assert.equal(stranger.exitCode ?? stranger.signalCode, null, 'the stranger was not signalled');
      assert.ok(lines.some((l) => l.includes(`postmaster.pid names pid ${stranger.pid}, which is not a PostgreSQL server`)), lines.join('\n'));
      assert.equal(await query(), 1);
    } finally {
      stranger.kill('SIGKILL');
    }
  });

  it('leaves no server process of the killed postmasters behind', async () => {
    const mine = await realServers();
    assert.deepEqual(mine.sort(), (await serversOf(cluster!.pid)).sort());
  });
});

/** Live postgres processes working in the data folder. */
async function realServers(): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cwd = await readlink(`/proc/${entry}/cwd`).catch(() => '');
    if (cwd === options.dataDir) found.push(Number(entry));
  }
  return found;
}

/** The postmaster and its children. */
async function serversOf(postmaster: number): Promise<number[]> {
  const found = [postmaster];
  for (const pid of await realServers()) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid === postmaster) found.push(pid);
  }
  return found;
}
