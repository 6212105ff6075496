// The disk guard on a real, small data partition (a tmpfs as mnt/sda2, the
// cluster included): warning, apps stopped at the threshold, exactly those
// started again, the reserve file emptied when full and made again; the
// alarms reach a stand-in Events app and the mails an SMTP sink (STARTTLS).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFile, mkdir, rm, stat, statfs, truncate, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SMTPServer } from 'smtp-server';
import { createCertificate } from '../../src/tls';
import { fetchRaw, until } from '../harness/http';
import { buildFixture, ensureStopped, readyPorts, runAp, runApSync, type Run } from '../harness/supervisor';
import { workspace } from '../harness/workspace';

const asRoot = process.getuid?.() === 0;
let dir: string;
let root: string;
let data: string;
let run: Run;
let port: number;
let events: Server;
let smtp: SMTPServer;
const received: { mt: string; code: string }[] = [];
const mails: string[] = [];

const ctl = (...args: string[]) => {
  const result = runApSync(['ctl', ...args, '--json', '--root', root]);
  assert.equal(result.status, 0, `ap ctl ${args.join(' ')}: ${result.stdout}${result.stderr}`);
  return JSON.parse(result.stdout);
};
const MB = 1024 * 1024;
const RESERVE = 16 * MB;

/**
 * Grows or shrinks the filler in place so that `percent` of the partition is
 * used. Never removes it first: the monitor samples every second, and a dip
 * between a removal and the new write would clear and raise alarms again.
 */
async function fillTo(percent: number): Promise<void> {
  const filler = join(data, 'filler');
  const have = (await stat(filler).catch(() => null))?.size ?? 0;
  const fs = await statfs(data);
  const total = fs.blocks * fs.bsize;
  const used = total - fs.bavail * fs.bsize;
  const want = have + Math.floor((total * percent) / 100) - used;
  if (want <= 0) await rm(filler, { force: true });
  else if (want < have) await truncate(filler, want);
  else if (want > have) await appendFile(filler, Buffer.alloc(want - have));
}

/** Fills the partition to the last byte. */
async function fillUp(): Promise<void> {
  await rm(join(data, 'filler'), { force: true });
  const fs = await statfs(data);
  await writeFile(join(data, 'filler'), Buffer.alloc(fs.bavail * fs.bsize)).catch(() => {});
  await writeFile(join(data, 'filler2'), Buffer.alloc(MB)).catch(() => {});
}

const activeCodes = () => (ctl('alarms').active as { code: string }[]).map((a) => a.code).sort();
const state = (name: string) => (ctl('service', 'list') as { name: string; state: string }[]).find((s) => s.name === name)!.state;

before(async () => {
  if (!asRoot) return;
  dir = await workspace('ap-disk-');
  root = join(dir, 'root');
  data = join(root, 'mnt/sda2');
  await mkdir(data, { recursive: true });
  const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=160m,mode=0755', 'tmpfs', data], { encoding: 'utf8' });
  assert.equal(mount.status, 0, mount.stderr);
  await mkdir(join(root, 'etc'), { recursive: true });
  await writeFile(join(root, 'etc/ap.json'), '{}');

  events = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const e = JSON.parse(body);
      received.push({ mt: e.mt, code: e.code });
      res.end();
    });
  });
  await new Promise<void>((r) => events.listen(0, '127.0.0.1', r));
  const cert = createCertificate({ commonName: 'smtp.test', altNames: { ip: ['127.0.0.1'] }, days: 30 });
  smtp = new SMTPServer({
    key: cert.keyPem,
    cert: cert.certPem,
    authOptional: true,
    onData(stream, _session, callback) {
      let body = '';
      stream.on('data', (c: Buffer) => (body += c.toString()));
      stream.on('end', () => {
        mails.push(/^Subject: (.*)$/m.exec(body)?.[1] ?? '');
        callback();
      });
    },
  });
  await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', r));

  run = runAp(['serve', '--root', root, '--http-port', '0', '--https-port', '0', '--reserve-size', '16M', '--monitor-interval', '1']);
  port = (await readyPorts(run)).app;
  for (const [name, value] of [
    ['diskThreshold', '90'],
    ['eventsUrl', `http://127.0.0.1:${(events.address() as AddressInfo).port}/events`],
    ['smtpServer', '127.0.0.1'],
    ['smtpPort', String((smtp.server.address() as AddressInfo).port)],
    ['smtpSecurity', 'starttls'],
    ['smtpInsecureTls', 'true'],
    ['smtpSender', 'ap@box.test'],
    ['alarmEmail', 'admin@example.test'],
  ]) ctl('setting', 'set', name!, value!);
  for (const fixture of ['echo', 'pbxecho']) {
    assert.equal(runApSync(['ctl', 'service', 'install', await buildFixture(fixture, join(dir, 'packages')), '--root', root]).status, 0);
  }
  await until('services running', async () => (state('echo') === 'running' && state('pbxecho') === 'running' ? true : undefined));
  ctl('service', 'stop', 'pbxecho'); // not running: must stay so after a disk-full episode
});

after(async () => {
  if (!asRoot) return;
  events?.close();
  smtp?.close();
  if (run) await ensureStopped(run);
  spawnSync('umount', ['-l', data]);
  await rm(dir, { recursive: true, force: true });
});

describe('disk-full protection', { skip: asRoot ? false : 'needs root to mount a tmpfs' }, () => {
  it('warns, stops the apps at the threshold, and starts exactly those again', async () => {
    assert.equal((await stat(join(data, 'empty_if_no_space'))).size, RESERVE);
    await fillTo(84);
    await until('warning', async () => (activeCodes().includes('DISK_WARNING') ? true : undefined));
    await until('warning mail', async () => (mails.some((m) => m.startsWith('App Platform: disk space warning')) ? true : undefined));
    await fillTo(93);
    await until('apps stopped', async () => (activeCodes().includes('DISK_FULL') && state('echo') === 'stopped' ? true : undefined));
    await until('full mail', async () => (mails.some((m) => m.startsWith('App Platform: disk full')) ? true : undefined));
    const metrics = await fetchRaw(`http://127.0.0.1:${port}/manager/metrics`);
    assert.match(metrics.body.toString(), /^ap_disk_used_bytes\{partition="p2"\} \d+/m);
    await fillTo(60);
    await until('apps back', async () => (state('echo') === 'running' && activeCodes().length === 0 ? true : undefined));
    assert.equal(state('pbxecho'), 'stopped');
    await until('events delivered', async () => (received.some((e) => e.mt === 'AlarmCleared' && e.code === 'DISK_WARNING') ? true : undefined));
    assert.deepEqual(
      received.filter((e) => e.code.startsWith('DISK')).map((e) => `${e.mt} ${e.code}`),
      ['AlarmRaised DISK_WARNING', 'AlarmRaised DISK_FULL', 'AlarmCleared DISK_FULL', 'AlarmCleared DISK_WARNING'],
    );
  });

  it('empties the reserve file when the partition is completely full and makes it again when there is room', async () => {
    await fillUp();
    await until('reserve emptied', async () => ((await stat(join(data, 'empty_if_no_space'))).size === 0 ? true : undefined));
    assert.ok(activeCodes().includes('RESERVE_EMPTIED'));
    await rm(join(data, 'filler'), { force: true });
    await rm(join(data, 'filler2'), { force: true });
    await until('reserve back', async () => ((await stat(join(data, 'empty_if_no_space'))).size === RESERVE && !activeCodes().includes('RESERVE_EMPTIED') ? true : undefined));
    await until('apps back again', async () => (state('echo') === 'running' ? true : undefined));
  });

  it('raises an alarm for a certificate that expires within 30 days, and clears it for a new one', async () => {
    const soon = createCertificate({ commonName: 'box.example.test', days: 10 });
    await writeFile(join(dir, 'soon.pem'), soon.certPem + soon.keyPem);
    ctl('cert', 'install', join(dir, 'soon.pem'));
    const alarm = (ctl('alarms').active as { code: string; severity: string; text: string }[]).find((a) => a.code === 'CERT_EXPIRING');
    assert.equal(alarm?.severity, 'warning');
    assert.match(alarm!.text, /expires on .*, in 1[01] days/);
    const later = createCertificate({ commonName: 'box.example.test', days: 365 });
    await writeFile(join(dir, 'later.pem'), later.certPem + later.keyPem);
    ctl('cert', 'install', join(dir, 'later.pem'));
    assert.equal(activeCodes().includes('CERT_EXPIRING'), false);
    await until('event', async () => (received.some((e) => e.mt === 'AlarmCleared' && e.code === 'CERT_EXPIRING') ? true : undefined));
  });
});
