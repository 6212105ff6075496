// A clean stop while a job is running: the parts stop in reverse order, the
// job is ended before the database closes (its pg_dump killed, the job failed
// with the reason), nothing is left running, and the exit status is 0.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { until } from '../harness/http';
import { childrenNamed } from '../harness/proc';
import { alive, asSuperuser, ensureStopped, readyPorts, type Run, runAp, runApSync } from '../harness/supervisor';
import { rootWithConfig, workspace } from '../harness/workspace';

let dir: string;
let root: string;
let run: Run;
let target: Server;
let requests = 0;

before(async () => {
  dir = await workspace('ap-stop-');
  // The target takes the upload's first bytes and then nothing: the backup runs until stopped.
  target = createServer((req) => {
    requests++;
    req.pause();
  });
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
  root = await rootWithConfig(dir, { backup: { stallTimeout: 600 } });
  run = runAp(['serve', '--root', root, '--http-port', '0', '--https-port', '0', '--reserve-size', '0']);
  await readyPorts(run);
});

after(async () => {
  target?.closeAllConnections();
  target?.close();
  if (run) await ensureStopped(run);
  await rm(dir, { recursive: true, force: true });
});

describe('a stop while a backup is running', () => {
  it('ends the job before the database closes, leaves nothing running and exits 0', { timeout: 120_000 }, async () => {
    // A dump far larger than the pipe and socket buffers (~32 MB, half of it left after pg_dump's
    // compression): pg_dump is still writing, held by the target that reads nothing, when the stop
    // comes. (The dump comes first in the file, so the target sees its first bytes only once
    // pg_dump has written them: a small database's pg_dump would be gone by then.)
    await asSuperuser(root, 'manager', (sql) => sql`CREATE TABLE stop_test_ballast AS SELECT md5(random()::text) || md5(random()::text) AS v FROM generate_series(1, 500000)`);
    const url = `http://127.0.0.1:${(target.address() as AddressInfo).port}/manager.dump`;
    const started = runApSync(['ctl', 'backup', 'manager', '--url', url, '--no-wait', '--json', '--root', root]);
    assert.equal(started.status, 0, started.stderr);
    const job = JSON.parse(started.stdout) as { id: string; state: string };
    assert.equal(job.state, 'running');
    const supervisor = run.child.pid!;
    await until('the upload reaches the target', async () => (requests > 0 ? true : undefined));
    const dumps = await until('pg_dump running', async () => {
      const found = childrenNamed(supervisor, 'pg_dump');
      return found.length > 0 ? found : undefined;
    });
    const postmaster = Number(readFileSync(`${root}/mnt/sda2/pgsql/postmaster.pid`, 'utf8').split('\n')[0]);
    assert.ok(alive(postmaster));

    const stopAt = Date.now();
    run.child.kill('SIGTERM');
    const [code] = await run.exited;
    const took = Date.now() - stopAt;
    assert.equal(code, 0, run.output.text.slice(-2000));
    assert.ok(took < 25_000, `the stop took ${took} ms`);
    const log = run.output.text;
    assert.match(log, new RegExp(`job ${job.id} \\(backup manager\\) FAILED: .*(cancelled|stopping)`));
    assert.doesNotMatch(log, /stopping .* (failed|took longer)/);
    // The job ended while the database was still there: its failure came before the database stopped.
    // The job ended while the database was still there: its failure is logged before PostgreSQL stopped.
    const failedAt = log.indexOf(`job ${job.id} (backup manager) FAILED`);
    const dbStoppedAt = log.indexOf('PostgreSQL stopped');
    assert.ok(failedAt > 0 && dbStoppedAt > failedAt, log.slice(-1500));
    for (const pid of dumps) assert.equal(alive(pid), false, `pg_dump ${pid} outlived the supervisor`);
    assert.equal(alive(postmaster), false, 'PostgreSQL outlived the supervisor');
  });
});
