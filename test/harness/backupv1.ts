// The backup file as supervisors before issue 20 wrote it (format 1: the
// header first), for tests that prove such files still verify and restore.
import { createHash } from 'node:crypto';
import { MAGIC, TRAILER_MAGIC, TRAILER_SIZE, type BackupMeta } from '../../src/backup/format';

/** Format 1: magic line, header length, header, the dump, trailer (as src/backup/format.ts describes it). */
export async function* backupFileV1(meta: BackupMeta, dump: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const hash = createHash('sha256');
  const json = Buffer.from(JSON.stringify({ ...meta, format: 1 }), 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32BE(json.length);
  for (const part of [MAGIC, length, json]) {
    hash.update(part);
    yield part;
  }
  let size = 0n;
  for await (const chunk of dump) {
    hash.update(chunk);
    size += BigInt(chunk.length);
    yield chunk;
  }
  const trailer = Buffer.alloc(TRAILER_SIZE);
  TRAILER_MAGIC.copy(trailer, 0);
  trailer.writeBigUInt64BE(size, TRAILER_MAGIC.length);
  hash.digest().copy(trailer, TRAILER_MAGIC.length + 8);
  yield trailer;
}
