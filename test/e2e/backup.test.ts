// Backup and restore through the bundled supervisor and `ap ctl`: a round trip
// of the example service's data, a clone, bad files refused before anything
// changes, HTTP targets that fail in every way, the command file, the Manager.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { verifyBackupFile } from '../../src/backup';
import { dumpStream } from '../../src/backup/format';
import { findPgBin, findPgTools } from '../../src/db';
import { writeStreamAtomic } from '../../src/fsutil';
import { backupFileV1 } from '../harness/backupv1';
import { fetchRaw, until } from '../harness/http';
import { asSuperuser, buildFixture, ensureStopped, readyPorts, runAp, runApSync, type Run } from '../harness/supervisor';
import { rootWithConfig, workspace } from '../harness/workspace';
import { connect, type Client } from '../harness/ws';

const sha = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

let dir: string;
let root: string;
let run: Run;
let port: number;
let target: Server;
let targetUrl: string;
/** What the test target does with the next uploads. */
let mode: 'ok' | '500' | 'close' | 'stall' = 'ok';
const received: { method: string; url: string; auth: string | undefined; bytes: number; file: string }[] = [];

const ctl = (...args: string[]) => {
  const result = runApSync(['ctl', ...args, '--json', '--root', root]);
  assert.equal(result.status, 0, `ap ctl ${args.join(' ')}: ${result.stdout}${result.stderr}`);
  return JSON.parse(result.stdout);
};
/** A job run to its end through ap ctl (which waits); returns the job, whatever its outcome. */
const job = (...args: string[]) => JSON.parse(runApSync(['ctl', ...args, '--json', '--root', root]).stdout);
/** The same, without blocking this process (the test's HTTP target lives here). */
const jobAsync = async (...args: string[]) => {
  const r = runAp(['ctl', ...args, '--json', '--root', root]);
  await r.exited;
  return JSON.parse(r.output.text);
};
const ctlAsync = jobAsync;
const get = (path: string) => fetchRaw(`http://127.0.0.1:${port}${path}`);
const dbcount = async (path: string) => {
  const answer = await get(`${path}/dbcount`);
  assert.equal(answer.status, 200, answer.body.toString());
  return JSON.parse(answer.body.toString()) as { n: number; database: string; user: string };
};

const superuser = <T>(fn: Parameters<typeof asSuperuser<T>>[2], database = 'postgres') => asSuperuser(root, database, fn);

before(async () => {
  dir = await workspace('ap-backup-');
  root = await rootWithConfig(dir, { backup: { stallTimeout: 2 } });
  run = runAp(['serve', '--root', root, '--http-port', '0', '--https-port', '0', '--reserve-size', '0']);
  port = (await readyPorts(run)).app;
  for (const fixture of ['echo', 'pbxecho']) {
    assert.equal(runApSync(['ctl', 'service', 'install', await buildFixture(fixture, join(dir, 'packages')), '--root', root]).status, 0);
  }
  await until('services running', async () => {
    const list = ctl('service', 'list') as { state: string }[];
    return list.length === 2 && list.every((s) => s.state === 'running') ? true : undefined;
  });
  let counter = 0;
  target = createServer((req, res) => {
    if (mode === 'stall') return; // reads nothing, answers nothing
    if (mode === 'close') {
      req.once('data', () => req.socket.destroy());
      return;
    }
    const file = join(dir, `upload-${++counter}`);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      void writeFile(file, body).then(() => {
        received.push({ method: req.method!, url: req.url!, auth: req.headers.authorization, bytes: body.length, file });
        res.statusCode = mode === '500' ? 500 : 201;
        res.end();
      });
    });
  });
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
  targetUrl = `http://127.0.0.1:${(target.address() as AddressInfo).port}`;
});

after(async () => {
  target?.closeAllConnections();
  target?.close();
  if (run) await ensureStopped(run);
  await rm(dir, { recursive: true, force: true });
});

async function login(password: string, instance = 'pbx'): Promise<boolean> {
  const client: Client = await connect(`ws://127.0.0.1:${port}/example.com/${instance}/ws`);
  client.sendJson({ mt: 'AppChallenge' });
  const { challenge } = (await client.nextJson()) as { challenge: string };
  client.sendJson({ mt: 'AppLogin', app: 'a', domain: 'example.com', sip: 's', digest: sha(['a', 'example.com', 's', '', '', challenge, password].join(':')) });
  const result = await client.nextJson();
  client.ws.terminate();
  return result.ok === true;
}

describe('backup and restore', () => {
  it('round-trips an instance: data and passwords come back after it was deleted', async () => {
    ctl('instance', 'create', 'app@example.com', '--service', 'echo', '--password', 'app-pw');
    ctl('instance', 'create', 'pbx@example.com', '--service', 'pbxecho', '--password', 'pbx-pw');
    await until('served', async () => ((await get('/example.com/app/hello')).status === 200 ? true : undefined));
    for (let i = 1; i <= 3; i++) assert.equal((await dbcount('/example.com/app')).n, i);
    await until('pbx served', async () => ((await get('/example.com/pbx/hello')).status === 200 ? true : undefined));
    await dbcount('/example.com/pbx');

    const appFile = join(dir, 'app.apbk');
    const pbxFile = join(dir, 'pbx.apbk');
    const backup = job('backup', 'instance', 'app@example.com', '--file', appFile);
    assert.equal(backup.state, 'succeeded', backup.message);
    assert.ok(backup.progress.done > 1000);
    assert.equal(job('backup', 'instance', 'pbx@example.com', '--file', pbxFile).state, 'succeeded');
    const verified = job('backup', 'verify', appFile, '--restore-test');
    assert.equal(verified.state, 'succeeded', verified.message);
    assert.match(verified.message, /: an instance backup of app@example\.com from .*checksum ok.*restores completely/);

    ctl('instance', 'delete', 'app@example.com', '--drop-database');
    ctl('instance', 'delete', 'pbx@example.com', '--drop-database');
    assert.equal((await get('/example.com/app/hello')).status, 404);

    const restored = job('restore', 'instance', appFile);
    assert.equal(restored.state, 'succeeded', restored.message);
    assert.equal(job('restore', 'instance', pbxFile).state, 'succeeded');
    const shown = ctl('instance', 'show', 'app@example.com');
    assert.equal(shown.password, 'app-pw');
    assert.equal(shown.state, 'running');
    assert.deepEqual(await dbcount('/example.com/app'), { n: 4, database: 'example.com_app', user: 'example.com_app' });
    assert.equal(await login('pbx-pw'), true); // the PBX logs in with the old password again
  });

  it("is a pg_dump archive the seed's how-to restores as it stands (createdb, pg_restore -d); a backup in the old format still restores", async () => {
    const tools = findPgTools(findPgBin(null));
    const status = ctl('status');
    const pg = (program: string, args: string[]) =>
      new Promise<{ code: number; out: string; err: string }>((resolve) => {
        const child = spawn(join(tools, program), [...args, '-h', status.db.socketDir, '-p', String(status.db.port), '-U', 'postgres'], { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        let err = '';
        child.stdout.on('data', (d) => (out += d));
        child.stderr.on('data', (d) => (err += d));
        child.once('close', (code) => resolve({ code: code ?? 1, out, err }));
      });
    const file = join(dir, 'backup-example.com_app.dump');
    assert.equal(job('backup', 'instance', 'app@example.com', '--file', file).state, 'succeeded');
    const list = await pg('pg_restore', ['--list', file]);
    assert.equal(list.code, 0, list.err);
    assert.match(list.out, /Archive created at/);
    assert.match(list.out, /TABLE DATA public/);
    const created = await pg('createdb', ['--encoding=UTF-8', 'exampledb']);
    assert.equal(created.code, 0, created.err);
    try {
      const restored = await pg('pg_restore', ['-d', 'exampledb', file]);
      assert.deepEqual([restored.code, restored.err], [0, ''], 'no error, no warning (no owner the other host lacks)');
      const counts = async (database: string) =>
        superuser(async (sql) => {
          const tables = await sql<{ t: string }[]>`SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`;
          const out: Record<string, number> = {};
          for (const { t } of tables) out[t] = (await sql.unsafe<{ n: number }[]>(`SELECT count(*)::int AS n FROM public."${t.replace(/"/g, '""')}"`))[0]!.n;
          return out;
        }, database);
      const original = await counts('example.com_app');
      assert.ok(Object.keys(original).length > 0 && Object.values(original).some((n) => n > 0), JSON.stringify(original));
      assert.deepEqual(await counts('exampledb'), original);
    } finally {
      await pg('dropdb', ['exampledb']);
    }

    // What a supervisor before this format wrote (the header first) restores as before.
    const verified = await verifyBackupFile(file);
    const old = join(dir, 'old-format.apbk');
    await writeStreamAtomic(backupFileV1({ ...verified.meta, format: 1 }, dumpStream(verified)), old);
    assert.equal((await readFile(old)).subarray(0, 10).toString('latin1'), 'APBACKUP1\n');
    const back = job('restore', 'instance', old, '--name', 'oldformat', '--domain', 'example.com');
    assert.equal(back.state, 'succeeded', back.message);
    assert.equal(ctl('instance', 'show', 'oldformat@example.com').password, 'app-pw');
    ctl('instance', 'delete', 'oldformat@example.com', '--drop-database');
  });

  it('restores a clone under another name with its own database, and over an instance only when --replace names it', async () => {
    const appFile = join(dir, 'app.apbk');
    const clone = job('restore', 'instance', appFile, '--name', 'copy', '--domain', 'example.com');
    assert.equal(clone.state, 'succeeded', clone.message);
    const shown = ctl('instance', 'show', 'copy@example.com');
    assert.deepEqual([shown.path, shown.database.name, shown.database.user], ['/example.com/copy', 'example.com_copy', 'example.com_copy']);
    assert.deepEqual(await dbcount('/example.com/copy'), { n: 4, database: 'example.com_copy', user: 'example.com_copy' });
    // The original went on counting; the clone has its own rows.
    assert.equal((await dbcount('/example.com/app')).n, 5);

    // Over an existing instance only when it is named: not implied by the file, never another instance.
    const refused = runApSync(['ctl', 'restore', 'instance', appFile, '--json', '--root', root]);
    assert.equal(refused.status, 1);
    assert.match(refused.stdout + refused.stderr, /app@example\.com exists: restore over it only when asked to \(replace app@example\.com\)/);
    // (A --replace without name@domain is a usage error: test/cli/ctl-backup.test.ts.)
    const other = runApSync(['ctl', 'restore', 'instance', appFile, '--replace', 'copy@example.com', '--json', '--root', root]);
    assert.equal(other.status, 1);
    assert.match(other.stdout + other.stderr, /the backup is of app@example\.com, not of copy@example\.com: nothing was changed/);
    assert.equal((await dbcount('/example.com/app')).n, 6);
    const replaced = job('restore', 'instance', appFile, '--replace', 'app@example.com');
    assert.equal(replaced.state, 'succeeded', replaced.message);
    assert.equal((await dbcount('/example.com/app')).n, 4); // back to the backup's 3, plus this one
    const leftovers = await superuser((sql) => sql<{ datname: string }[]>`SELECT datname FROM pg_database WHERE datname LIKE 'ap\\_%'`);
    assert.deepEqual([...leftovers], []);
  });

  it('refuses truncated, damaged and foreign files before anything changes', async () => {
    const good = await readFile(join(dir, 'app.apbk'));
    const bad: [string, Buffer][] = [
      ['truncated', good.subarray(0, good.length - 100)],
      ['flipped', Buffer.from(good.map((b, i) => (i === Math.floor(good.length / 2) ? b ^ 1 : b)))],
      ['foreign', Buffer.from('PGDMP this is not ours')],
    ];
    const before = ctl('instance', 'list').instances;
    const databases = async () => [...(await superuser((sql) => sql<{ datname: string }[]>`SELECT datname FROM pg_database ORDER BY datname`))].map((r) => r.datname);
    const dbsBefore = await databases();
    for (const [what, bytes] of bad) {
      const file = join(dir, `${what}.apbk`);
      await writeFile(file, bytes);
      const restore = job('restore', 'instance', file, '--replace', 'app@example.com');
      assert.equal(restore.state, 'failed', what);
      assert.match(restore.message, /cut short|damaged|checksum|not an App Platform backup|too short/, what);
      const verify = job('backup', 'verify', file);
      assert.equal(verify.state, 'failed', what);
    }
    assert.deepEqual(ctl('instance', 'list').instances, before);
    assert.deepEqual(await databases(), dbsBefore);
    assert.equal((await dbcount('/example.com/app')).n, 5);
  });

  it('restores a consistent database taken under write load (pgbench)', async () => {
    const tools = findPgTools(findPgBin(null));
    const status = ctl('status');
    const pgbench = (args: string[]) =>
      new Promise<number>((resolve) => {
        const child = spawn(join(tools, 'pgbench'), [...args, '-h', status.db.socketDir, '-p', String(status.db.port), '-U', 'postgres', 'example.com_copy'], { stdio: 'ignore' });
        child.once('close', (code) => resolve(code ?? 1));
      });
    assert.equal(await pgbench(['-i', '-s', '2', '-q']), 0);
    const load = pgbench(['-c', '4', '-T', '4', '-n']);
    // Until the load is writing.
    await until('pgbench writing', async () => {
      const [row] = await superuser((sql) => sql<{ n: number }[]>`SELECT count(*)::int AS n FROM pgbench_history`, 'example.com_copy');
      return row!.n > 0 ? true : undefined;
    });
    const file = join(dir, 'loaded.apbk');
    assert.equal(job('backup', 'instance', 'copy@example.com', '--file', file).state, 'succeeded');
    assert.equal(await load, 0);
    assert.equal(job('restore', 'instance', file, '--name', 'loaded', '--domain', 'example.com').state, 'succeeded');
    const sums = await superuser(
      (sql) => sql<{ a: string; t: string; b: string; h: string; n: string }[]>`
        SELECT (SELECT sum(abalance) FROM pgbench_accounts)::text AS a, (SELECT sum(tbalance) FROM pgbench_tellers)::text AS t,
               (SELECT sum(bbalance) FROM pgbench_branches)::text AS b, (SELECT coalesce(sum(delta), 0) FROM pgbench_history)::text AS h,
               (SELECT count(*) FROM pgbench_history)::text AS n`,
      'example.com_loaded',
    );
    const s = sums[0]!;
    assert.ok(Number(s.n) > 0, 'the backup saw some of the load');
    assert.deepEqual([s.a, s.t, s.b], [s.h, s.h, s.h]); // pgbench's invariant: every transaction whole or not at all
    // The restored tables belong to the instance's user.
    const owners = await superuser((sql) => sql<{ o: string }[]>`SELECT DISTINCT tableowner AS o FROM pg_tables WHERE schemaname = 'public'`, 'example.com_loaded');
    assert.deepEqual([...owners].map((r) => r.o), ['example.com_loaded']);
  });

  it('uploads to an HTTP target with basic auth; a refusing, dropping or stalling target fails the job', async () => {
    const url = `${targetUrl.replace('http://', 'http://backup:s3cret@')}/app.dump`;
    const ok = await jobAsync('backup', 'instance', 'app@example.com', '--url', url, '--method', 'POST');
    assert.equal(ok.state, 'succeeded', ok.message);
    assert.equal(JSON.stringify(ok).includes('s3cret'), false);
    const upload = received.at(-1)!;
    assert.deepEqual([upload.method, upload.url, upload.auth], ['POST', '/app.dump', `Basic ${Buffer.from('backup:s3cret').toString('base64')}`]);
    assert.equal(job('backup', 'verify', upload.file).state, 'succeeded');

    for (const [m, pattern] of [
      ['500', /answered 500/],
      ['close', /sending to .* failed|socket hang up|ECONNRESET|EPIPE/],
      ['stall', /took no data and gave no answer for 2 s/],
    ] as const) {
      mode = m;
      const failed = await jobAsync('backup', 'instance', 'app@example.com', '--url', url);
      assert.equal(failed.state, 'failed', `${m}: ${failed.message}`);
      assert.match(failed.message, pattern, m);
      assert.equal(failed.message.includes('s3cret'), false);
    }
    mode = 'ok';
    // Every failure is in the log, and in the jobs list.
    await run.waitFor(/job \d+ \(backup app@example\.com\) FAILED: .*answered 500/, 10_000);
    assert.equal(run.output.text.includes('s3cret'), false);
    const jobs = ctl('jobs').jobs as { state: string; kind: string }[];
    assert.ok(jobs.filter((j) => j.kind === 'backup' && j.state === 'failed').length >= 3);
    // pg_dump did not stay behind.
    const dumps = await superuser((sql) => sql<{ n: number }[]>`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'pg_dump'`);
    assert.equal(dumps[0]!.n, 0);
  });

  it('runs the command file: the manager and every instance not excluded, names expanded, #bN rolling', async () => {
    ctl('instance', 'edit', 'loaded@example.com', '--exclude-from-backup', 'true');
    const bad = runApSync(['ctl', 'setting', 'set', 'commandFile', '-', '--root', root], {}, 'times 25\nbackup-nothing x\n');
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /line 1: "25" is not an hour.*line 2: unknown command "backup-nothing"/);
    // An hour far from now, so the schedule's own tick does not run it during the test (times is UTC here).
    const text = `# to the test target\ntimes ${(new Date().getUTCHours() + 12) % 24}\nbackup-instances ${targetUrl.replace('http://', 'http://u:pw@')}/#I-#D-#b1.dump PUT\n`;
    const set = runApSync(['ctl', 'setting', 'set', 'commandFile', '-', '--json', '--root', root], {}, text);
    assert.equal(set.status, 0, set.stderr);
    assert.equal(JSON.parse(set.stdout).value.includes(':pw@'), false);
    assert.equal(ctl('setting', 'list').settings.commandFile.value.includes(':pw@'), false);
    assert.equal(JSON.stringify(ctl('backup', 'schedule')).includes(':pw@'), false);

    received.length = 0;
    const first = await ctlAsync('backup', 'run');
    assert.deepEqual(first, { ok: 4, failed: 0, skipped: ['loaded@example.com'] });
    assert.deepEqual(received.map((r) => r.url).sort(), ['/app-example.com-0.dump', '/copy-example.com-0.dump', '/manager--0.dump', '/pbx-example.com-0.dump']);
    received.length = 0;
    await ctlAsync('backup', 'run');
    assert.ok(received.every((r) => r.url.endsWith('-1.dump')), JSON.stringify(received.map((r) => r.url)));
    received.length = 0;
    mode = '500';
    const failing = await ctlAsync('backup', 'run');
    mode = 'ok';
    assert.deepEqual([failing.ok, failing.failed], [0, 4]);
    received.length = 0;
    await ctlAsync('backup', 'run');
    assert.equal(received.length, 4);
    assert.ok(received.every((r) => r.url.endsWith('-1.dump')), JSON.stringify(received.map((r) => r.url))); // runs 0, 1, 2 (failed), 3: 3 % 2 = 1
    assert.match(ctl('backup', 'schedule').lastResult, /4 backed up, 0 failed, 1 excluded/);
  });

  it('backs up and restores the Manager: settings and instances come back', async () => {
    const file = join(dir, 'manager.apbk');
    assert.equal(job('backup', 'manager', '--file', file).state, 'succeeded');
    ctl('setting', 'set', 'timezone', 'Asia/Tokyo');
    ctl('instance', 'delete', 'copy@example.com'); // its database stays
    const restored = job('restore', 'manager', file);
    assert.equal(restored.state, 'succeeded', restored.message);
    assert.equal(ctl('setting', 'list').settings.timezone.value, 'UTC');
    assert.ok(ctl('instance', 'list').instances.some((i: { id: string }) => i.id === 'copy@example.com'));
    await until('copy served again', async () => ((await get('/example.com/copy/hello')).status === 200 ? true : undefined));
    assert.equal((await dbcount('/example.com/copy')).n, 5);
    const wrongKind = job('restore', 'instance', file);
    assert.match(wrongKind.message, /is a manager backup, not an instance backup/);
  });
});
