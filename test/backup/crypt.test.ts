// The encrypted backup framing (src/backup/crypt.ts) on its own: round trips
// of every size that matters, the key told apart from damage, and every way
// a file can be changed or cut refused. Then an encrypted format-2 file read
// by the backup reader (verify, header, dump) as a plain one is.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decrypted, ENC_PREAMBLE, encrypted, keyFingerprint, keyFromText, keyToText } from '../../src/backup/crypt';
import { backupFile, dumpStream, readHeader, verifyBackupFile, type BackupMeta } from '../../src/backup/format';
import { workspace } from '../harness/workspace';

const CHUNK = 64 * 1024;
const key = randomBytes(32);
const other = randomBytes(32);

async function collect(source: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of source) parts.push(part);
  return Buffer.concat(parts);
}

/** `data` in pieces of `size` bytes, as a stream of a pg_dump or a file would come. */
async function* pieces(data: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

const encrypt = (data: Buffer, piece = 1000) => collect(encrypted(key, pieces(data, piece)));
const decrypt = (file: Buffer, withKey: Uint8Array | null = key, piece = 777) => collect(decrypted(withKey, pieces(file, piece), 'the file'));

/** Where each chunk of an encrypted file starts (after its preamble). */
function chunkStarts(file: Buffer): number[] {
  const starts: number[] = [];
  for (let at = ENC_PREAMBLE; at < file.length; at += 4 + file.readUInt32BE(at)) starts.push(at);
  return starts;
}

const refusedAs = (code: string, pattern?: RegExp) => (err: { code?: string; message: string }) => {
  assert.equal(err.code, code, err.message);
  if (pattern) assert.match(err.message, pattern);
  return true;
};

describe('encrypted backup framing', () => {
  for (const size of [0, 1, 1000, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 3 * CHUNK + 12345]) {
    it(`round-trips ${size} bytes, whatever the pieces it is read in`, async () => {
      const plain = randomBytes(size);
      const file = await encrypt(plain);
      if (size >= 16) assert.ok(!file.includes(plain.subarray(0, 16)), 'the plaintext does not show');
      // One chunk per 64 KiB started, the last one FINAL (an empty one only for nothing at all).
      assert.equal(chunkStarts(file).length, Math.max(1, Math.ceil(size / CHUNK)));
      assert.ok((await decrypt(file)).equals(plain));
      assert.ok((await decrypt(file, key, 1)).equals(plain), 'byte by byte');
      assert.ok((await decrypt(file, key, 1 << 20)).equals(plain), 'in one piece');
    });
  }

  it('tells a missing and a wrong key from damage, by the fingerprint the file carries', async () => {
    const file = await encrypt(randomBytes(5000));
    await assert.rejects(decrypt(file, null), refusedAs('BACKUP_KEY_MISSING', /import its key first/));
    await assert.rejects(decrypt(file, other), refusedAs('BACKUP_KEY_WRONG', /another backup key/));
    assert.notDeepEqual(await keyFingerprint(key), await keyFingerprint(other));
    // A damaged fingerprint with the right key: the key still opens the file, so it is damage.
    const changed = Buffer.from(file);
    changed[9]! ^= 0x01;
    await assert.rejects(decrypt(changed), refusedAs('BAD_BACKUP', /fingerprint/));
    await assert.rejects(decrypt(changed, other), refusedAs('BACKUP_KEY_WRONG'));
  });

  it('refuses a flipped byte anywhere: magic, header, a length, any chunk, the last byte', async () => {
    const file = await encrypt(randomBytes(2 * CHUNK + 500));
    const [first, second, last] = chunkStarts(file) as [number, number, number];
    const offsets = [0, 7, 12, 20, ENC_PREAMBLE - 1, first, first + 2, first + 4, first + 100, second + 3, second + 5000, last + 4, file.length - 1];
    for (const offset of offsets) {
      const changed = Buffer.from(file);
      changed[offset]! ^= 0x40;
      await assert.rejects(decrypt(changed), refusedAs('BAD_BACKUP'), `byte ${offset}`);
    }
  });

  it('refuses a file cut at every chunk boundary and inside a chunk, and one with anything after its end', async () => {
    const file = await encrypt(randomBytes(3 * CHUNK));
    for (const at of [...chunkStarts(file), ENC_PREAMBLE - 1, 10, 0, file.length - 1, chunkStarts(file)[1]! + 2, chunkStarts(file)[1]! + 100]) {
      await assert.rejects(decrypt(file.subarray(0, at)), refusedAs('BAD_BACKUP', /cut short|too short/), `cut at ${at}`);
    }
    // Another complete chunk after FINAL (a second file's end appended), and a stray byte.
    const [, , , finalStart] = chunkStarts(file) as number[];
    await assert.rejects(decrypt(Buffer.concat([file, file.subarray(finalStart!)])), refusedAs('BAD_BACKUP', /after its end/));
    await assert.rejects(decrypt(Buffer.concat([file, Buffer.from([0])])), refusedAs('BAD_BACKUP', /after its end/));
    // Chunks swapped or one dropped: each chunk authenticates only in its place.
    const starts = chunkStarts(file);
    const part = (i: number) => file.subarray(starts[i]!, starts[i + 1] ?? file.length);
    await assert.rejects(decrypt(Buffer.concat([file.subarray(0, ENC_PREAMBLE), part(1), part(0), part(2), part(3)])), refusedAs('BAD_BACKUP'));
    await assert.rejects(decrypt(Buffer.concat([file.subarray(0, ENC_PREAMBLE), part(0), part(2), part(3)])), refusedAs('BAD_BACKUP'));
  });

  it('refuses a chunk length no encrypted backup has, before reading that much', async () => {
    const file = await encrypt(randomBytes(100));
    const changed = Buffer.from(file);
    changed.writeUInt32BE(0x7fffffff, ENC_PREAMBLE);
    await assert.rejects(decrypt(changed), refusedAs('BAD_BACKUP', /length/));
  });

  it('keeps the key as apbk1: text with a checksum, refusing a mistyped one', () => {
    const text = keyToText(key);
    assert.match(text, /^apbk1:[A-Za-z0-9_-]{48}$/);
    assert.ok(keyFromText(`  ${text.slice(0, 20)}\n${text.slice(20)}  `).equals(key), 'spaces and line breaks are ignored');
    const typo = text.slice(0, 30) + (text[30] === 'A' ? 'B' : 'A') + text.slice(31);
    assert.throws(() => keyFromText(typo), refusedAs('BAD_KEY', /mistyped/));
    assert.throws(() => keyFromText(text.slice(0, -1)), refusedAs('BAD_KEY'));
    assert.throws(() => keyFromText(text.replace('apbk1:', '')), refusedAs('BAD_KEY', /apbk1:/));
  });
});

describe('an encrypted backup file read by the backup reader', () => {
  let dir: string;
  before(async () => {
    dir = await workspace('ap-bkcrypt-');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const meta: BackupMeta = { format: 2, kind: 'manager', createdAt: '2026-11-30T00:00:00.000Z', supervisor: { version: '0.1.0', label: 'x' }, pgDump: 'pg_dump (PostgreSQL) 15', schemaVersion: 3 };
  const keyOf = (k: Uint8Array | null) => () => Promise.resolve(k);

  for (const size of [100, 3 * CHUNK, 2 * 1024 * 1024 + 7]) {
    it(`verifies a ${size}-byte dump through its encryption and yields the dump exactly`, async () => {
      const dump = Buffer.concat([Buffer.from('PGDMP', 'latin1'), randomBytes(size - 5)]);
      const plain = await collect(backupFile(meta, pieces(dump, 4096)));
      const path = join(dir, `enc-${size}.dump.enc`);
      await writeFile(path, await collect(encrypted(key, pieces(plain, 5000))));
      const verified = await verifyBackupFile(path, undefined, keyOf(key));
      assert.deepEqual(verified.meta, meta);
      assert.equal(verified.dumpLength, dump.length);
      assert.ok((await collect(dumpStream(verified) as AsyncIterable<Buffer>)).equals(dump));
      assert.equal(await readHeader(path), null, 'its header is not readable without decrypting it');
      await assert.rejects(verifyBackupFile(path), refusedAs('BACKUP_KEY_MISSING'));
      await assert.rejects(verifyBackupFile(path, undefined, keyOf(other)), refusedAs('BACKUP_KEY_WRONG'));
    });
  }

  it("gives a restore the dump's last bytes only once the whole file authenticated (a file changed after it was verified)", async () => {
    const dump = Buffer.concat([Buffer.from('PGDMP', 'latin1'), randomBytes(5 * CHUNK)]);
    const path = join(dir, 'changed-later.dump.enc');
    const file = await collect(encrypted(key, backupFile(meta, pieces(dump, 4096))));
    await writeFile(path, file);
    const verified = await verifyBackupFile(path, undefined, keyOf(key));
    const changed = Buffer.from(file);
    changed[file.length - 3]! ^= 0x01; // in the chunk that holds the header and trailer, after the dump
    await writeFile(path, changed);
    let seen = 0;
    await assert.rejects(
      (async () => {
        for await (const chunk of dumpStream(verified) as AsyncIterable<Buffer>) seen += chunk.length;
      })(),
      refusedAs('BAD_BACKUP'),
    );
    assert.ok(seen < dump.length, `${seen} of ${dump.length} bytes reached the reader`);
  });

  it('closes the file it reads however the reading ends', async () => {
    const dump = Buffer.concat([Buffer.from('PGDMP', 'latin1'), randomBytes(3 * CHUNK)]);
    const file = await collect(encrypted(key, backupFile(meta, pieces(dump, 4096))));
    const path = join(dir, 'fds.dump.enc');
    const changed = Buffer.from(file);
    changed[ENC_PREAMBLE + 10]! ^= 0x01;
    await writeFile(path, changed);
    const open = async () => (await readdir('/proc/self/fd')).length;
    const before = await open();
    for (let i = 0; i < 20; i++) {
      await assert.rejects(verifyBackupFile(path, undefined, keyOf(key)), refusedAs('BAD_BACKUP'));
      await assert.rejects(verifyBackupFile(path, undefined, keyOf(other)), refusedAs('BACKUP_KEY_WRONG'));
    }
    assert.ok((await open()) <= before + 2, `${(await open()) - before} more files open`);
  });

  it('refuses an encrypted file whose plaintext is not a whole backup (authentic, but cut before it was encrypted)', async () => {
    const dump = Buffer.concat([Buffer.from('PGDMP', 'latin1'), randomBytes(10_000)]);
    const plain = await collect(backupFile(meta, pieces(dump, 4096)));
    const path = join(dir, 'inner-cut.dump.enc');
    await writeFile(path, await collect(encrypted(key, pieces(plain.subarray(0, plain.length - 10), 5000))));
    await assert.rejects(verifyBackupFile(path, undefined, keyOf(key)), refusedAs('BAD_BACKUP', /end mark|cut short/));
  });
});
