// What an administrator sees after the supervisor restarts: a raised alarm is
// still active (with its time and text) until it is cleared, a cleared one
// stays cleared, the job history is kept and job ids go on, and a job that a
// kill -9 cut off shows as failed ("interrupted"), never as running.
import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { until } from '../harness/http';
import { ensureStopped, readyPorts, runAp, runApSync, type Run } from '../harness/supervisor';
import { rootWithConfig, workspace } from '../harness/workspace';

type Alarm = { id: number; source: string; code: string; severity: string; text: string; raisedAt: string; clearedAt: string | null; acknowledgedAt?: string };
type Job = { id: string; kind: string; target: string; state: string; message: string; startedAt: string; finishedAt: string | null };

let dir: string;
let root: string;
let run: Run | undefined;
/** Takes a backup's upload and never answers: the job stays running. */
let stalling: Server;
let stallingUrl: string;
const stalled: IncomingMessage[] = [];
let closedUrl: string;

const ctl = (...args: string[]) => {
  const result = runApSync(['ctl', ...args, '--json', '--root', root]);
  return { status: result.status, body: JSON.parse(result.stdout), text: result.stdout };
};
const alarms = () => ctl('alarms').body as { active: Alarm[]; cleared: Alarm[] };
const jobs = () => (ctl('jobs').body as { jobs: Job[] }).jobs;

async function start(): Promise<void> {
  run = runAp(['serve', '--root', root, '--http-port', '0', '--https-port', '0', '--reserve-size', '0']);
  await readyPorts(run);
}
async function stop(): Promise<void> {
  run!.child.kill('SIGTERM');
  assert.deepEqual(await run!.exited, [0, null]);
}

before(async () => {
  dir = await workspace('ap-restart-state-');
  root = await rootWithConfig(dir, {});
  stalling = createServer((req) => void stalled.push(req));
  await new Promise<void>((resolve) => stalling.listen(0, '127.0.0.1', resolve));
  stallingUrl = `http://127.0.0.1:${(stalling.address() as AddressInfo).port}`;
  // A port nobody listens on: an upload there fails at once.
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  closedUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/manager.apbk`;
  await new Promise((resolve) => closed.close(resolve));
});

after(async () => {
  stalling?.closeAllConnections();
  stalling?.close();
  if (run) await ensureStopped(run);
  await rm(dir, { recursive: true, force: true });
});

describe('alarms and jobs across restarts', () => {
  it('keeps a BACKUP_FAILED alarm active across a restart until a backup clears it, and cleared after the next', async () => {
    await start();
    const failed = ctl('backup', 'manager', '--url', closedUrl);
    assert.equal(failed.status, 1);
    assert.equal(failed.body.state, 'failed');
    const raised = alarms().active.find((a) => a.code === 'BACKUP_FAILED');
    assert.ok(raised, JSON.stringify(alarms()));
    assert.equal(raised.source, 'backup:manager');
    assert.match(raised.text, /the backup of manager failed: .*ECONNREFUSED/);
    await stop();

    await start();
    assert.deepEqual(alarms().active.find((a) => a.code === 'BACKUP_FAILED'), raised); // same id, time and text
    const shown = runApSync(['ctl', 'alarms', '--root', root]);
    assert.match(shown.stdout, new RegExp(`MAJOR +${raised.raisedAt.replace(/\./g, '\\.')}  #${raised.id} backup:manager BACKUP_FAILED: the backup of manager failed`));
    // A person says they have seen it: still active, acknowledged, and so after a restart.
    const ack = runApSync(['ctl', 'alarms', 'ack', String(raised.id), '--root', root]);
    assert.equal(ack.status, 0, ack.stderr);
    assert.match(ack.stdout, new RegExp(`alarm #${raised.id} BACKUP_FAILED acknowledged`));
    const unknown = runApSync(['ctl', 'alarms', 'ack', '999999', '--root', root]);
    assert.notEqual(unknown.status, 0);
    assert.match(unknown.stderr, /no active alarm 999999/);
    await stop();
    await start();
    const seen = alarms().active.find((a) => a.code === 'BACKUP_FAILED');
    assert.equal(seen?.id, raised.id);
    assert.ok(seen?.acknowledgedAt && Date.parse(seen.acknowledgedAt) >= Date.parse(raised.raisedAt), JSON.stringify(seen));
    assert.match(runApSync(['ctl', 'alarms', '--root', root]).stdout, /BACKUP_FAILED: the backup of manager failed.* \(acknowledged /);
    // The history is there, and ids go on.
    assert.deepEqual(jobs().map((j) => [j.id, j.kind, j.target, j.state]), [[failed.body.id, 'backup', 'manager', 'failed']]);
    const ok = ctl('backup', 'manager', '--file', join(dir, 'manager.apbk'));
    assert.equal(ok.body.state, 'succeeded', ok.text);
    assert.equal(Number(ok.body.id), Number(failed.body.id) + 1);
    assert.equal(alarms().active.some((a) => a.code === 'BACKUP_FAILED'), false);
    await stop();

    await start();
    const after = alarms();
    assert.equal(after.active.some((a) => a.code === 'BACKUP_FAILED'), false);
    assert.deepEqual(after.cleared.filter((a) => a.code === 'BACKUP_FAILED').map((a) => [a.id, a.raisedAt]), [[raised.id, raised.raisedAt]]);
    assert.doesNotMatch(runApSync(['ctl', 'alarms', '--root', root]).stdout, /BACKUP_FAILED/);
    assert.deepEqual(jobs().map((j) => [j.id, j.state]), [[ok.body.id, 'succeeded'], [failed.body.id, 'failed']]);
    const listed = runApSync(['ctl', 'jobs', '--root', root]).stdout;
    assert.match(listed, new RegExp(`^ +${ok.body.id}  backup +succeeded`, 'm'));
    assert.match(listed, new RegExp(`^ +${failed.body.id}  backup +failed`, 'm'));
  });

  it('shows a job that was running when the supervisor was killed (-9) as failed, interrupted by a restart', async () => {
    // ap ctl runs asynchronously: the upload's target lives in this process.
    const started = runAp(['ctl', 'backup', 'manager', '--url', `${stallingUrl}/stalls.apbk`, '--no-wait', '--json', '--root', root]);
    await started.exited;
    const job = JSON.parse(started.output.text) as Job;
    assert.equal(job.state, 'running');
    await until('the upload to begin', async () => (stalled.length > 0 ? true : undefined));
    // The start of the job is on disk before the kill (written when it starts).
    await until('the job on disk', async () => ((await readFile(join(root, 'mnt/sda2/jobs.json'), 'utf8')).includes(`"id":"${job.id}"`) ? true : undefined));
    run!.child.kill('SIGKILL');
    await run!.exited;

    await start();
    const shown = ctl('jobs', job.id).body as Job;
    assert.equal(shown.state, 'failed');
    assert.match(shown.message, /interrupted by a restart of the supervisor/);
    assert.ok(shown.finishedAt);
    assert.equal(jobs().some((j) => j.state === 'running'), false);
    assert.match(runApSync(['ctl', 'jobs', '--root', root]).stdout, new RegExp(`^ +${job.id}  backup +failed .*interrupted by a restart`, 'm'));
    // A backup that never finished did not happen: its alarm is raised.
    assert.match(alarms().active.find((a) => a.code === 'BACKUP_FAILED')?.text ?? '', /interrupted by a restart/);
    const next = ctl('backup', 'manager', '--file', join(dir, 'again.apbk'));
    assert.equal(Number(next.body.id), Number(job.id) + 1);
    await stop();
  });

  it('clears kept alarms whose cause the start finds gone (database, disk), and starts over a corrupt jobs file, saying so', async () => {
    const file = join(root, 'mnt/sda2/alarms.json');
    const kept = JSON.parse(await readFile(file, 'utf8'));
    const stale = (id: number, source: string, code: string) => ({ id, source, code, severity: 'critical', text: 'from before', raisedAt: '2026-01-01T00:00:00.000Z', clearedAt: null });
    kept.active.push(stale(900, 'database', 'DATABASE_DOWN'), stale(901, 'disk', 'DISK_FULL'), stale(902, 'disk', 'RESERVE_EMPTIED'));
    await writeFile(file, JSON.stringify(kept));
    await writeFile(join(root, 'mnt/sda2/jobs.json'), '{"version":1,"jobs":[{"id":"1"');
    await start();
    await run!.waitFor(/jobs\.json is not valid JSON .*moved aside to .*jobs\.json\.corrupt/);
    assert.deepEqual(jobs(), []);
    const now = await until('the disk alarms settled', async () => {
      const a = alarms();
      return a.active.some((x) => x.source === 'disk') ? undefined : a;
    });
    assert.deepEqual(now.active, []); // the last test's backup cleared BACKUP_FAILED
    assert.deepEqual(now.cleared.filter((a) => a.id >= 900).map((a) => a.code).sort(), ['DATABASE_DOWN', 'DISK_FULL', 'RESERVE_EMPTIED']);
    await stop();
  });
});
