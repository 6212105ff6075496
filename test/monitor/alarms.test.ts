import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { SMTPServer } from 'smtp-server';
import { Alarms, type AlarmEvent } from '../../src/alarms';
import { EventsForwarder } from '../../src/alarms/events';
import type { Logger } from '../../src/log';
import { Mailer } from '../../src/mail';
import { createCertificate } from '../../src/tls';
import { until } from '../harness/http';

const lines: string[] = [];
/** A logger that keeps its lines, to check what was logged. */
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

describe('alarms', () => {
  it('raise once per source and code, update, clear, and keep a history', () => {
    const alarms = new Alarms();
    const heard: string[] = [];
    alarms.onEvent((e) => heard.push(`${e.type} ${e.alarm.code} ${e.alarm.severity}`));
    alarms.raise('disk', 'DISK_WARNING', 'major', 'at 86 %');
    alarms.raise('disk', 'DISK_WARNING', 'major', 'at 87 %'); // text only: no new event
    alarms.raise('service:echo', 'CRASH_LOOP', 'critical', 'dead');
    assert.deepEqual(
      alarms.active().map((a) => [a.code, a.text]),
      [
        ['CRASH_LOOP', 'dead'],
        ['DISK_WARNING', 'at 87 %'],
      ],
    );
    alarms.clear('disk', 'DISK_WARNING');
    alarms.clear('disk', 'DISK_WARNING');
    assert.deepEqual(heard, ['raised DISK_WARNING major', 'raised CRASH_LOOP critical', 'cleared DISK_WARNING major']);
    assert.equal(alarms.history()[0]!.code, 'DISK_WARNING');
    assert.ok(alarms.history()[0]!.clearedAt);
  });
});

describe('Events app forwarder', () => {
  let server: Server | null = null;
  after(() => server?.close());

  it('delivers every event in order, also after the Events app was down for a while', async () => {
    const received: { mt: string; code: string; auth: string | undefined }[] = [];
    let port = 0;
    // Find a free port, then leave it closed: the Events app is down.
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    port = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const forwarder = new EventsForwarder({
      target: async () => ({ url: `http://127.0.0.1:${port}/events`, user: 'ev', password: 'pw' }),
      log,
      box: { label: 'test', host: 'box' },
      minDelayMs: 50,
      maxDelayMs: 200,
    });
    const alarms = new Alarms();
    alarms.onEvent((e: AlarmEvent) => forwarder.push(e));
    alarms.raise('disk', 'DISK_WARNING', 'major', 'a');
    alarms.raise('tls', 'CERT_EXPIRING', 'warning', 'b');
    alarms.clear('disk', 'DISK_WARNING');
    // A failed try is logged, and nothing is lost while the Events app is down.
    await until('a failed try', async () => (lines.filter((l) => /Events app at http:\/\/127\.0\.0\.1:\d+\/events: .*3 events wait/.test(l)).length >= 2 ? true : undefined));
    assert.equal(forwarder.pending, 3);
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        const event = JSON.parse(body);
        received.push({ mt: event.mt, code: event.code, auth: req.headers.authorization });
        res.end();
      });
    });
    await new Promise<void>((r) => server!.listen(port, '127.0.0.1', r));
    await until('delivered', async () => (received.length === 3 ? true : undefined));
    assert.deepEqual(
      received.map((r) => `${r.mt} ${r.code}`),
      ['AlarmRaised DISK_WARNING', 'AlarmRaised CERT_EXPIRING', 'AlarmCleared DISK_WARNING'],
    );
    assert.equal(received[0]!.auth, `Basic ${Buffer.from('ev:pw').toString('base64')}`);
    forwarder.stop();
  });

  it('keeps a bounded queue, dropping the oldest', () => {
    const forwarder = new EventsForwarder({ target: () => new Promise(() => {}), log, box: { label: 't', host: 'b' }, maxQueue: 5 });
    const alarms = new Alarms();
    alarms.onEvent((e) => forwarder.push(e));
    for (let i = 0; i < 20; i++) alarms.raise('x', `C${i}`, 'warning', 't');
    assert.equal(forwarder.pending, 5);
    forwarder.stop();
  });
});

describe('mail', () => {
  const servers: SMTPServer[] = [];
  after(() => {
    for (const s of servers) s.close();
  });

  async function smtp(options: { refuse?: boolean }): Promise<{ port: number; mails: { from: string; to: string; body: string; secure: boolean }[] }> {
    const cert = createCertificate({ commonName: 'smtp.test', altNames: { dns: ['localhost'], ip: ['127.0.0.1'] }, days: 30 });
    const mails: { from: string; to: string; body: string; secure: boolean }[] = [];
    const server = new SMTPServer({
      key: cert.keyPem,
      cert: cert.certPem,
      authOptional: false,
      onAuth(auth, _session, callback) {
        if (auth.username === 'mailer' && auth.password === 'secret') return callback(null, { user: 'mailer' });
        callback(new Error('Invalid username or password'));
      },
      onRcptTo(_address, _session, callback) {
        if (options.refuse) return callback(Object.assign(new Error('Mailbox unavailable'), { responseCode: 550 }));
        callback();
      },
      onData(stream, session, callback) {
        let body = '';
        stream.on('data', (c: Buffer) => (body += c.toString()));
        stream.on('end', () => {
          mails.push({ from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', to: session.envelope.rcptTo.map((r) => r.address).join(','), body, secure: session.secure });
          callback();
        });
      },
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return { port: (server.server.address() as AddressInfo).port, mails };
  }

  const settings = (port: number) => ({
    smtp: { server: '127.0.0.1', port, security: 'starttls' as const, user: 'mailer', password: 'secret', sender: 'ap@box.test', insecureTls: true },
    to: 'admin@example.test',
  });

  it('reaches an SMTP server with STARTTLS and authentication; the test mail reports the reply', async () => {
    const sink = await smtp({});
    const mailer = new Mailer({ config: async () => settings(sink.port), log });
    const reply = await mailer.test();
    assert.match(reply, /accepted by 127\.0\.0\.1: 250/);
    mailer.send({ subject: 'App Platform: disk space warning (86.0 %)', text: 'free some space' });
    await until('mail arrived', async () => (sink.mails.length === 2 ? true : undefined));
    assert.deepEqual([sink.mails[1]!.from, sink.mails[1]!.to, sink.mails[1]!.secure], ['ap@box.test', 'admin@example.test', true]);
    assert.match(sink.mails[1]!.body, /Subject: App Platform: disk space warning/);
    mailer.stop();
  });

  it('logs a refusal and tries again, never losing the mail', async () => {
    let refuse = true;
    const refusing = await smtp({ refuse: true });
    const working = await smtp({});
    const mailer = new Mailer({ config: async () => settings(refuse ? refusing.port : working.port), log, retryDelaysMs: [100] });
    await assert.rejects(mailer.test(), /Mailbox unavailable|550/);
    mailer.send({ subject: 'alarm 1', text: 't' });
    await until('failure logged', async () => (lines.some((l) => /mail "alarm 1" to admin@example\.test failed \(attempt 1\).*550/.test(l)) ? true : undefined));
    assert.equal(mailer.pending, 1);
    refuse = false; // the server is fixed (here: another one)
    // The server has the mail a moment before the client has its 250 and drops it from the queue.
    await until('delivered on retry', async () => (working.mails.length === 1 && mailer.pending === 0 ? true : undefined));
    assert.equal(working.mails.length, 1);
    mailer.stop();
  });

  it('refuses a test mail with a wrong password, saying why', async () => {
    const sink = await smtp({});
    const mailer = new Mailer({ config: async () => ({ ...settings(sink.port), smtp: { ...settings(sink.port).smtp, password: 'wrong' } }), log });
    await assert.rejects(mailer.test(), /Invalid username or password|535/);
    mailer.stop();
  });
});
