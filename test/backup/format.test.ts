import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { backupFile, dumpStream, END_SIZE, readHeader, verifyBackupFile, type BackupMeta } from '../../src/backup/format';
import { writeStreamAtomic } from '../../src/fsutil';
import { backupFileV1 } from '../harness/backupv1';
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

/** What pg_dump -Fc writes starts so; the rest stands in for an archive. */
const archive = (size: number) => Buffer.concat([Buffer.from('PGDMP', 'latin1'), randomBytes(size - 5)]);

async function written(name: string, dump: Buffer, writer = backupFile): Promise<string> {
  const path = join(dir, name);
  await writeStreamAtomic(writer(meta, chunks(dump, 1000)), path);
  return path;
}

describe('backup file format', () => {
  it('round-trips header and dump, the dump first and whole (a pg_dump archive as it came), and verifies its checksum', async () => {
    const dump = archive(300_000);
    const path = await written('ok.dump', dump);
    const bytes = await readFile(path);
    assert.ok(bytes.subarray(0, dump.length).equals(dump), 'the file starts with the archive, byte for byte');
    const verified = await verifyBackupFile(path);
    assert.deepEqual(verified.meta, { ...meta, format: 2 });
    assert.deepEqual(await readHeader(path), { ...meta, format: 2 });
    assert.equal(verified.dumpStart, 0);
    assert.equal(verified.dumpLength, dump.length);
    const back: Buffer[] = [];
    for await (const c of dumpStream(verified)) back.push(c as Buffer);
    assert.ok(Buffer.concat(back).equals(dump));
  });

  it('still reads a format-1 file (the header first), as supervisors before wrote them', async () => {
    const dump = archive(100_000);
    const path = await written('old.apbk', dump, backupFileV1);
    assert.equal((await readFile(path)).subarray(0, 10).toString('latin1'), 'APBACKUP1\n');
    const verified = await verifyBackupFile(path);
    assert.deepEqual(verified.meta, meta);
    assert.deepEqual(await readHeader(path), meta);
    const back: Buffer[] = [];
    for await (const c of dumpStream(verified)) back.push(c as Buffer);
    assert.ok(Buffer.concat(back).equals(dump));
  });

  it('refuses truncated, bit-flipped, extended and foreign files, in either format', async () => {
    const dump = archive(50_000);
    const good = await readFile(await written('src.dump', dump));
    const headerAt = dump.length + 5;
    const old = await readFile(await written('src.apbk', dump, backupFileV1));
    const cases: [string, Buffer, RegExp][] = [
      ['truncated', good.subarray(0, good.length - 1000), /cut short|not written completely/],
      ['cut in the dump', good.subarray(0, 30), /too short|cut short/],
      ['bit flip in the dump', flip(good, 5000), /checksum does not match/],
      ['bit flip in the header', flip(good, headerAt), /header|checksum/],
      ['bit flip in the end mark', flip(good, good.length - END_SIZE + 2), /cut short or damaged|no end mark/],
      ['extra bytes', Buffer.concat([good, Buffer.from('x')]), /cut short or damaged|extra bytes|end mark/],
      ['a plain pg_dump archive', dump, /no end mark.*plain pg_dump archive/],
      ['foreign', Buffer.concat([Buffer.from('%PDF-1.7'), randomBytes(5000)]), /not an App Platform backup/],
      ['empty', Buffer.alloc(0), /too short|not an App Platform backup/],
      ['format 1, truncated', old.subarray(0, old.length - 1000), /cut short|not written completely/],
      ['format 1, bit flip in the dump', flip(old, old.length - 5000), /checksum does not match/],
      ['format 1, bit flip in the header', flip(old, 20), /header|checksum/],
    ];
    for (const [what, bytes, pattern] of cases) {
      const path = join(dir, `${what.replace(/[ ,]+/g, '-')}.dump`);
      await writeFile(path, bytes);
      await assert.rejects(verifyBackupFile(path), (err: { code?: string; message: string }) => err.code === 'BAD_BACKUP' && pattern.test(err.message), what);
    }
  });

  it('refuses a file whose header claims the other layout', async () => {
    const path = join(dir, 'claims-1.dump');
    // A format-2 layout whose header says 1 (the writer always says 2: made by hand).
    const json = Buffer.from(JSON.stringify(meta), 'utf8');
    const dump = archive(1000);
    const body = Buffer.concat([dump, json]);
    const trailer = Buffer.alloc(END_SIZE);
    trailer.write('APBKEND2', 0, 'latin1');
    trailer.writeUInt32BE(json.length, 8);
    trailer.writeBigUInt64BE(BigInt(dump.length), 12);
    createHash('sha256').update(body).digest().copy(trailer, 20);
    await writeFile(path, Buffer.concat([body, trailer]));
    await assert.rejects(verifyBackupFile(path), /says format 1, the file is laid out as format 2/);
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
      for (const [format, writer] of [['2', backupFile], ['1', backupFileV1]] as const) {
        const path = join(dir, `header-${what.replace(/ /g, '-')}-${format}.dump`);
        await writeStreamAtomic(writer(header as BackupMeta, chunks(archive(5000), 1000)), path);
        await assert.rejects(verifyBackupFile(path), (err: { code?: string; message: string }) => err.code === 'BAD_BACKUP' && pattern.test(err.message) && err.message.startsWith(path), `${what} (format ${format})`);
        assert.equal(await readHeader(path), null, `${what} (format ${format})`);
      }
    }
  });

  it('leaves no file under the final name when the stream fails', async () => {
    async function* failing(): AsyncGenerator<Buffer> {
      yield Buffer.alloc(1000);
      throw new Error('pg_dump died');
    }
    const path = join(dir, 'failed.dump');
    await assert.rejects(writeStreamAtomic(backupFile(meta, failing()), path), /pg_dump died/);
    await assert.rejects(readFile(path), /ENOENT/);
    await assert.rejects(readFile(`${path}.part`), /ENOENT/);
  });

  it('reads a file cut after the end mark was written as damaged, not as a shorter backup', async () => {
    for (const [name, writer] of [['cut.dump', backupFile], ['cut.apbk', backupFileV1]] as const) {
      const path = await written(name, archive(10_000), writer);
      await truncate(path, (await readFile(path)).length - 48);
      await assert.rejects(verifyBackupFile(path), /cut short|damaged/, name);
    }
  });
});

function flip(bytes: Buffer, at: number): Buffer {
  const copy = Buffer.from(bytes);
  copy[at] = copy[at]! ^ 0x10;
  return copy;
}
