// The supervisor's side of the channel against a service that breaks its
// manners without breaking a frame: what it can make the supervisor hold stays
// bounded (docs/channel.md, Control messages).
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { until } from '../harness/http';
import { inlineServiceIn, servicesIn } from '../harness/services';
import { workspace } from '../harness/workspace';

let dir: string;
before(async () => {
  dir = await workspace('ap-channel-');
});
after(() => rm(dir, { recursive: true, force: true }));

// A service's start, written by hand (docs/channel.md): CONTROL frames on fd 3, hello and ready.
const RAW_START = `
const net = require('node:net');
const channel = new net.Socket({ fd: 3, readable: true, writable: true });
const control = (message) => {
  const json = Buffer.from(JSON.stringify(message));
  const head = Buffer.alloc(9);
  head.writeUInt32BE(5 + json.length, 0);
  head.writeUInt8(1, 4);
  return Buffer.concat([head, json]);
};
channel.write(control({ type: 'hello', sdk: 1, pid: process.pid, features: [] }));
channel.write(control({ type: 'ready' }));
`;

// Says hello and ready, stops reading its channel, sends 200,000 pings (4.8 MB of pongs to answer), then a log line.
const PINGER = `${RAW_START}channel.pause();
channel.write(Buffer.concat(Array(200000).fill(control({ type: 'ping' }))));
channel.write(control({ type: 'log', level: 'info', message: 'all pings sent' }));
setInterval(() => {}, 1000);
`;

it('answers no pings while the service leaves more than 1 MiB unread: one that pings without reading cannot make the supervisor queue pongs without end', async () => {
  const root = join(dir, 'root');
  const services = await servicesIn(root);
  try {
    await services.install(await inlineServiceIn(join(dir, 'packages'), 'pinger', PINGER));
    const log = join(root, 'mnt/sda2/log/apps/pinger/pinger.log');
    await until('every ping to be read', async () => ((await readFile(log, 'utf8').catch(() => '')).includes('all pings sent') ? true : undefined), 30_000);
    const queued = services.get('pinger')!.queued;
    assert.ok(queued <= 1024 * 1024 + 64, `${queued} bytes of pongs wait for a service that does not read`);
  } finally {
    await services.stop();
  }
});

// Sends 1 MiB of `log` messages as fast as its channel takes them, then a last one.
const LOGGER = `${RAW_START}for (let i = 0; i < 16; i++) channel.write(control({ type: 'log', level: 'info', message: 'x'.repeat(64 * 1024) }));
channel.write(control({ type: 'log', level: 'info', message: 'all logged' }));
setInterval(() => {}, 1000);
`;

it('reads `log` messages within the output budget (256 KiB/s with stdout and stderr): a service logging as fast as it can costs the supervisor a bounded share of a core', async () => {
  const root = join(dir, 'root-log');
  const services = await servicesIn(root);
  try {
    await services.install(await inlineServiceIn(join(dir, 'packages'), 'logger', LOGGER));
    const started = Date.now();
    const log = join(root, 'mnt/sda2/log/apps/logger/logger.log');
    await until('every log message to be written', async () => ((await readFile(log, 'utf8').catch(() => '')).includes('all logged') ? true : undefined), 30_000);
    // 1 MiB at 256 KiB a second: the fourth second at the earliest.
    const seconds = (Date.now() - started) / 1000;
    assert.ok(seconds >= 2.9, `1 MiB of log messages written in ${seconds.toFixed(2)} s`);
    // 1 MiB rotates the log (servicesIn's cap): the note is in the older file.
    assert.match(await readFile(`${log}.1`, 'utf8'), /\[supervisor\] output throttled/);
  } finally {
    await services.stop();
  }
});
