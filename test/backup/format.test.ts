import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { backupFile, dumpStream, headerOf, verifyBackupFile, type BackupMeta } from '../../src/backup/format';
import { writeStreamAtomic } from '../../src/fsutil';
import { workspace } from '../harness/workspace';

let dir: string;
before(async () => {
  dir = await workspace('ap-bkfmt-');
});
after(() => rm(dir, { recursive: true, force: true }));

const meta: BackupMeta = {
  format: 1,
  kind: 'instance',
  createdAt: '2026-11-28T00:00:00.000Z',
  supervisor: { version: '0.1.0', label: 'x' },
  pgDump: 'pg_dump (PostgreSQL) 15',
  instance: { service: 'echo', serviceVersion: '1', serviceLabel: '1', name: 'a', domain: 'example.com', path: '/example.com/a', password: 'pw', dbName: 'example.com_a', dbUser: 'example.com_a', traceFlags: 1, excludeFromBackup: false, maxBodyBytes: null, external: null },
};

async function* chunks(data: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

async function written(name: string, dump: Buffer): Promise<string> {
  const path = join(dir, name);
  await writeStreamAtomic(backupFile(meta, chunks(dump, 1000)), path);
  return path;
}

describe('backup file format', () => {
  it('round-trips header and dump, and verifies its checksum', async () => {
    const dump = randomBytes(300_000);
    const path = await written('ok.apbk', dump);
    const verified = await verifyBackupFile(path);
    assert.deepEqual(verified.meta, meta);
    assert.equal(verified.dumpLength, dump.length);
    const back: Buffer[] = [];
    for await (const c of dumpStream(verified)) back.push(c as Buffer);
    assert.ok(Buffer.concat(back).equals(dump));
  });

  it('refuses truncated, bit-flipped, extended and foreign files', async () => {
    const dump = randomBytes(50_000);
    const good = await readFile(await written('src.apbk', dump));
    const cases: [string, Buffer, RegExp][] = [
      ['truncated', good.subarray(0, good.length - 1000), /cut short|not written completely/],
      ['cut in the header', good.subarray(0, 30), /too short|header/],
      ['bit flip in the dump', flip(good, 5000), /checksum does not match/],
      ['bit flip in the header', flip(good, 20), /header|checksum/],
      ['extra bytes', Buffer.concat([good, Buffer.from('x')]), /cut short or damaged|extra bytes|end mark/],
      ['foreign', Buffer.concat([Buffer.from('PGDMP'), randomBytes(5000)]), /not an App Platform backup/],
      ['empty', Buffer.alloc(0), /too short/],
    ];
    for (const [what, bytes, pattern] of cases) {
      const path = join(dir, `${what.replace(/ /g, '-')}.apbk`);
      await writeFile(path, bytes);
      await assert.rejects(verifyBackupFile(path), (err: Error) => pattern.test(err.message), what);
    }
  });

  it("refuses a whole, checksummed file whose header does not describe its instance, naming the field", async () => {
    const instance = meta.instance!;
    const { dbUser: _dropped, ...withoutUser } = instance;
    const cases: [string, unknown, RegExp][] = [
      ['no database user', { ...meta, instance: withoutUser }, /the header's "instance\.dbUser" is required/],
      ['trace flags as text', { ...meta, instance: { ...instance, traceFlags: '1' } }, /the header's "instance\.traceFlags" must be an integer/],
      ['a body limit below zero', { ...meta, instance: { ...instance, maxBodyBytes: -1 } }, /the header's "instance\.maxBodyBytes"/],
      ['no instance', { ...meta, instance: undefined }, /does not describe its instance/],
      ['no creation time', { ...meta, createdAt: undefined }, /the header's "createdAt" is required/],
      ['a manager backup without its schema version', { ...meta, kind: 'manager', instance: undefined }, /no schema version/],
    ];
    for (const [what, header, pattern] of cases) {
      const path = join(dir, `header-${what.replace(/ /g, '-')}.apbk`);
      await writeStreamAtomic(backupFile(header as BackupMeta, chunks(randomBytes(5000), 1000)), path);
      await assert.rejects(verifyBackupFile(path), (err: { code?: string; message: string }) => err.code === 'BAD_BACKUP' && pattern.test(err.message) && err.message.startsWith(path), what);
      assert.equal(headerOf(await readFile(path)), null, what);
    }
  });

  it('leaves no file under the final name when the stream fails', async () => {
    async function* failing(): AsyncGenerator<Buffer> {
      yield Buffer.alloc(1000);
      throw new Error('pg_dump died');
    }
    const path = join(dir, 'failed.apbk');
    await assert.rejects(writeStreamAtomic(backupFile(meta, failing()), path), /pg_dump died/);
    await assert.rejects(readFile(path), /ENOENT/);
    await assert.rejects(readFile(`${path}.part`), /ENOENT/);
  });

  it('reads a file cut after the end mark was written as damaged, not as a shorter backup', async () => {
    const path = await written('cut.apbk', randomBytes(10_000));
    await truncate(path, (await readFile(path)).length - 48);
    await assert.rejects(verifyBackupFile(path), /cut short|damaged/);
  });
});

function flip(bytes: Buffer, at: number): Buffer {
  const copy = Buffer.from(bytes);
  copy[at] = copy[at]! ^ 0x10;
  return copy;
}
