// The backup file: a pg_dump archive that describes and checks itself.
//
// Format 2 (written since issue 20), readable by pg_restore as it is:
//
//   dump                               pg_dump -Fc output, as it came ("PGDMP…")
//   header                             JSON (BackupMeta), UTF-8, at most 1 MiB
//   trailer                            "APBKEND2", u32 big-endian header length,
//                                      u64 big-endian dump length, SHA-256 of
//                                      everything before the trailer
//
// pg_restore reads an archive from its start and stops after its last entry,
// so what follows the dump is ours alone: `pg_restore --list` and
// `pg_restore -d db file` (the seed's how-to) take the file as downloaded.
//
// Format 1 (read, no longer written): the header first.
//
//   "APBACKUP1\n"                      10 bytes
//   header length                      u32 big-endian
//   header                             JSON (BackupMeta), UTF-8, at most 1 MiB
//   dump                               pg_dump -Fc output, as it came
//   trailer                            "APBKEND1", u64 big-endian dump length,
//                                      SHA-256 of everything before the trailer
//
// Either way the checksum comes last so that a backup never needs a temporary
// copy: the producer hashes while it streams. A reader checks the framing,
// the header and the checksum before it trusts a byte of the dump.
//
// With a backup key the format-2 file is written encrypted (crypt.ts); a
// reader decrypts it as it streams, every time it reads it, and never keeps a
// plaintext copy: verifying takes one pass (the framing is read from the last
// bytes it keeps), each read of the dump another.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { ApError } from '../errors';
import { InstanceRecord } from '../records';
import { asSentence, problem, T, type Static } from '../schema';
import { checkKey, decrypted, ENC_MAGIC, ENC_PREAMBLE, isEncrypted } from './crypt';

/** Format 1: the magic line it starts with, and the mark its trailer starts with. */
export const MAGIC = Buffer.from('APBACKUP1\n', 'latin1');
export const TRAILER_MAGIC = Buffer.from('APBKEND1', 'latin1');
export const TRAILER_SIZE = TRAILER_MAGIC.length + 8 + 32;
/** Format 2: the mark its trailer starts with; the file starts as a pg_dump archive does. */
export const END_MAGIC = Buffer.from('APBKEND2', 'latin1');
export const END_SIZE = END_MAGIC.length + 4 + 8 + 32;
const PGDMP = Buffer.from('PGDMP', 'latin1');
const MAX_HEADER = 1024 * 1024;

// The instance's own fields, as its record declares them.
const { service, name, domain, path, password, dbName, dbUser, traceFlags, excludeFromBackup, maxBodyBytes } = InstanceRecord.properties;

/** What an instance backup says of its instance (no database password: a restore makes a new one). */
const InstanceMeta = T.Object({
  service,
  serviceVersion: T.Union([T.String(), T.Null()]),
  /** The app's label (build), e.g. 130004. */
  serviceLabel: T.Union([T.String(), T.Null()]),
  name,
  domain,
  path,
  password,
  dbName,
  dbUser,
  traceFlags,
  excludeFromBackup,
  maxBodyBytes,
  /** Set when the dump was taken from an external database host. */
  external: T.Union([T.Object({ host: T.String(), name: T.String() }), T.Null()]),
});
export type InstanceMeta = Readonly<Static<typeof InstanceMeta>>;

/** The header of a backup file. Fields a newer supervisor adds are let through: a reader takes what it knows. */
const BackupMeta = T.Object({
  /** The file's layout: 2 (the dump first) or 1 (the header first); the framing must agree. */
  format: T.Union([T.Literal(1), T.Literal(2)]),
  kind: T.Union([T.Literal('instance'), T.Literal('manager')]),
  createdAt: T.String(),
  supervisor: T.Object({ version: T.String(), label: T.String() }),
  /** The pg_dump that wrote it (pg_dump --version). */
  pgDump: T.String(),
  instance: T.Optional(InstanceMeta),
  /** Manager backups: the schema version of the manager database. */
  schemaVersion: T.Optional(T.Integer()),
  /** Manager backups taken on a standby: its standby.conf (its own settings; the dump is the primary's replica), restored on a standby only. */
  standbyConf: T.Optional(T.String()),
});
export type BackupMeta = Readonly<Static<typeof BackupMeta>>;

/** The stream of a backup file (format 2): the dump as it comes, the header, the trailer. */
export async function* backupFile(meta: BackupMeta, dump: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const hash = createHash('sha256');
  let size = 0n;
  for await (const chunk of dump) {
    hash.update(chunk);
    size += BigInt(chunk.length);
    yield chunk;
  }
  const json = Buffer.from(JSON.stringify({ ...meta, format: 2 }), 'utf8');
  if (json.length > MAX_HEADER) throw new ApError('BAD_BACKUP', `the backup's description is ${json.length} bytes, more than ${MAX_HEADER}`);
  hash.update(json);
  yield json;
  const trailer = Buffer.alloc(END_SIZE);
  END_MAGIC.copy(trailer, 0);
  trailer.writeUInt32BE(json.length, END_MAGIC.length);
  trailer.writeBigUInt64BE(size, END_MAGIC.length + 4);
  hash.digest().copy(trailer, END_MAGIC.length + 12);
  yield trailer;
}

/** The box's backup key (read when a file needs it), null when none is set. */
export type KeySource = () => Promise<Uint8Array | null>;

/** A backup file on disk whose framing and checksum were verified. */
export interface VerifiedBackup {
  readonly path: string;
  /** Set when the file is encrypted: the key it was verified with, which every read of its dump decrypts with. */
  readonly key?: Uint8Array;
  readonly meta: BackupMeta;
  /** Byte range of the dump in the file. */
  readonly dumpStart: number;
  readonly dumpLength: number;
  readonly sha256: string;
}

function refuse(message: string): never {
  throw new ApError('BAD_BACKUP', message);
}

/** Where a file's parts are, from its framing (not yet checked against the checksum). */
interface Framing {
  readonly meta: BackupMeta;
  readonly dumpStart: number;
  readonly dumpLength: number;
  /** The checksum covers [0, hashedLength); the trailer's digest is `digest`. */
  readonly hashedLength: number;
  readonly digest: Buffer;
}

/**
 * Reads and checks the framing, the header and the checksum of the whole file
 * (an encrypted one decrypted and authenticated on the way, with the box's
 * key: BACKUP_KEY_MISSING, BACKUP_KEY_WRONG). Changes nothing.
 */
export async function verifyBackupFile(path: string, onProgress?: (bytes: number, total: number) => void, key: KeySource = noKey): Promise<VerifiedBackup> {
  const info = await stat(path).catch((err: Error) => refuse(`cannot read ${path}: ${err.message}`));
  if (!info.isFile()) refuse(`${path} is not a file`);
  const size = info.size;
  const handle = await open(path, 'r');
  let framing: Framing;
  try {
    const start = await readAt(handle, 0, ENC_MAGIC.length);
    if (isEncrypted(start)) return await verifyEncrypted(path, size, await key(), onProgress);
    framing = await frame((position, length) => readAt(handle, position, length), size, path);
  } finally {
    await handle.close();
  }
  const hash = createHash('sha256');
  let read = 0;
  if (framing.hashedLength > 0) {
    for await (const chunk of createReadStream(path, { start: 0, end: framing.hashedLength - 1, highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>) {
      hash.update(chunk);
      read += chunk.length;
      onProgress?.(read, size);
    }
  }
  return checked(path, framing, hash.digest());
}

const noKey: KeySource = () => Promise.resolve(null);

function checked(path: string, framing: Framing, digest: Buffer, key?: Uint8Array): VerifiedBackup {
  if (!digest.equals(framing.digest)) refuse(`${path} is damaged: its checksum does not match`);
  return { path, meta: framing.meta, dumpStart: framing.dumpStart, dumpLength: framing.dumpLength, sha256: digest.toString('hex'), ...(key ? { key } : {}) };
}

/**
 * An encrypted file: decrypted once through, hashing all but the last
 * END_SIZE bytes of the plaintext and keeping its last ones (the header and
 * trailer, at most MAX_HEADER + END_SIZE), whose framing is then checked as a
 * plain file's; only format 2 is ever written encrypted.
 */
async function verifyEncrypted(path: string, fileSize: number, key: Uint8Array | null, onProgress?: (bytes: number, total: number) => void): Promise<VerifiedBackup> {
  const keep = MAX_HEADER + END_SIZE;
  const hash = createHash('sha256');
  let head: Buffer | null = null;
  const tail: Buffer[] = [];
  let tailBytes = 0;
  let size = 0;
  let read = 0;
  const file = createReadStream(path, { highWaterMark: 1024 * 1024 });
  const source = (async function* () {
    for await (const chunk of file as AsyncIterable<Buffer>) {
      read += chunk.length;
      onProgress?.(read, fileSize);
      yield chunk;
    }
  })();
  for await (const chunk of decrypted(key, source, path)) {
    head ??= chunk;
    size += chunk.length;
    tail.push(chunk);
    tailBytes += chunk.length;
    while (tailBytes - tail[0]!.length >= keep) {
      const old = tail.shift()!;
      hash.update(old);
      tailBytes -= old.length;
    }
  }
  const end = Buffer.concat(tail);
  if (!head?.subarray(0, PGDMP.length).equals(PGDMP)) refuse(`${path}: its key opens it, but what it holds is not a backup of format 2`);
  const endStart = size - end.length;
  const framing = await frame(async (position, length) => (position >= endStart ? end.subarray(position - endStart, position - endStart + length) : head!.subarray(position, position + length)), size, path);
  hash.update(end.subarray(0, Math.max(0, end.length - END_SIZE)));
  return checked(path, framing, hash.digest(), key!);
}

async function readAt(handle: FileHandle, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  const { bytesRead } = await handle.read(buffer, 0, length, position);
  return buffer.subarray(0, bytesRead);
}

function parseMeta(bytes: Buffer, path: string, format: 1 | 2): BackupMeta {
  let meta: BackupMeta;
  try {
    meta = JSON.parse(bytes.toString('utf8')) as BackupMeta;
  } catch {
    refuse(`${path}: the header is not JSON`);
  }
  checkMeta(meta, path);
  if (meta.format !== format) refuse(`${path}: the header says format ${meta.format}, the file is laid out as format ${format}`);
  return meta;
}

type ReadAt = (position: number, length: number) => Promise<Buffer>;

/** The parts of the file as its framing says, format 2 or 1, refused when they do not fit its size. */
async function frame(read: ReadAt, size: number, path: string): Promise<Framing> {
  const start = await read(0, Math.min(size, MAGIC.length + 4));
  if (start.subarray(0, PGDMP.length).equals(PGDMP)) {
    if (size < PGDMP.length + 2 + END_SIZE) refuse(`${path} is too short to be a backup (${size} bytes)`);
    const trailer = await read(size - END_SIZE, END_SIZE);
    if (!trailer.subarray(0, END_MAGIC.length).equals(END_MAGIC)) {
      refuse(`${path} is cut short or damaged (no end mark): it was not written completely, or it is a plain pg_dump archive without the App Platform's description`);
    }
    const headerLength = trailer.readUInt32BE(END_MAGIC.length);
    const dumpLength = Number(trailer.readBigUInt64BE(END_MAGIC.length + 4));
    if (headerLength === 0 || headerLength > MAX_HEADER || dumpLength + headerLength + END_SIZE !== size) {
      refuse(`${path} is cut short or has extra bytes: its end mark says a dump of ${dumpLength} and a header of ${headerLength} bytes`);
    }
    const meta = parseMeta(await read(dumpLength, headerLength), path, 2);
    return { meta, dumpStart: 0, dumpLength, hashedLength: size - END_SIZE, digest: trailer.subarray(END_MAGIC.length + 12) };
  }
  if (size < MAGIC.length + 4 + 2 + TRAILER_SIZE) refuse(`${path} is too short to be a backup (${size} bytes)`);
  if (!start.subarray(0, MAGIC.length).equals(MAGIC)) refuse(`${path} is not an App Platform backup (neither a pg_dump archive with its description nor an APBACKUP1 file)`);
  const headerLength = start.readUInt32BE(MAGIC.length);
  if (headerLength === 0 || headerLength > MAX_HEADER || MAGIC.length + 4 + headerLength + TRAILER_SIZE > size) refuse(`${path}: the header length ${headerLength} does not fit the file`);
  const meta = parseMeta(await read(MAGIC.length + 4, headerLength), path, 1);
  const headerEnd = MAGIC.length + 4 + headerLength;
  const trailer = await read(size - TRAILER_SIZE, TRAILER_SIZE);
  if (!trailer.subarray(0, TRAILER_MAGIC.length).equals(TRAILER_MAGIC)) refuse(`${path} is cut short or damaged (no end mark): it was not written completely`);
  const dumpLength = Number(trailer.readBigUInt64BE(TRAILER_MAGIC.length));
  if (headerEnd + dumpLength + TRAILER_SIZE !== size) refuse(`${path} is cut short or has extra bytes: the dump should be ${dumpLength} bytes`);
  return { meta, dumpStart: headerEnd, dumpLength, hashedLength: size - TRAILER_SIZE, digest: trailer.subarray(TRAILER_MAGIC.length + 8) };
}

/** The dump bytes of a verified backup (decrypted again as they are read, when it is encrypted). */
export function dumpStream(backup: VerifiedBackup): Readable {
  if (!backup.key) return createReadStream(backup.path, { start: backup.dumpStart, end: backup.dumpStart + backup.dumpLength - 1, highWaterMark: 1024 * 1024 });
  return Readable.from(firstBytes(decrypted(backup.key, createReadStream(backup.path, { highWaterMark: 1024 * 1024 }), backup.path), backup.dumpLength));
}

/**
 * The first `length` bytes of a stream; the rest is still read through, and
 * the last piece is held back until the stream ended well: pg_restore sees
 * the end of the dump only once the whole file authenticated.
 */
async function* firstBytes(source: AsyncIterable<Buffer>, length: number): AsyncGenerator<Buffer> {
  let left = length;
  let held: Buffer | null = null;
  for await (const chunk of source) {
    if (left === 0) continue;
    const piece = chunk.subarray(0, left);
    left -= piece.length;
    if (held) yield held;
    held = piece;
  }
  if (held) yield held;
}

/**
 * The header of the backup file at `path` (either format), or null when its
 * framing does not read or it is encrypted (its header is known only once
 * the whole file is decrypted); the checksum is not checked.
 */
export async function readHeader(path: string): Promise<BackupMeta | null> {
  const handle = await open(path, 'r').catch(() => null);
  if (!handle) return null;
  try {
    const info = await handle.stat();
    return info.isFile() ? (await frame((position, length) => readAt(handle, position, length), info.size, path)).meta : null;
  } catch {
    return null; // a folder, a read error, a bad framing, an encrypted file: the restore's verification names it
  } finally {
    await handle.close();
  }
}

/** For an encrypted file: BACKUP_KEY_MISSING or BACKUP_KEY_WRONG when the box's key cannot open it, told from its first bytes. Changes nothing. */
export async function refuseWithoutKey(path: string, key: KeySource): Promise<void> {
  const handle = await open(path, 'r').catch(() => null);
  if (!handle) return; // the restore's verification names it
  let start: Buffer;
  try {
    start = await readAt(handle, 0, ENC_PREAMBLE);
  } finally {
    await handle.close();
  }
  if (isEncrypted(start)) await checkKey(start, await key(), path);
}

function checkMeta(meta: BackupMeta, path: string): void {
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) refuse(`${path}: the header is not an object`);
  if (meta.format !== 1 && meta.format !== 2) refuse(`${path}: backup format ${String(meta.format)} is not one this supervisor reads`);
  if (meta.kind !== 'instance' && meta.kind !== 'manager') refuse(`${path}: unknown backup kind ${String(meta.kind)}`);
  if (meta.kind === 'instance' && meta.instance === undefined) refuse(`${path}: the instance backup does not describe its instance`);
  if (meta.kind === 'manager' && meta.schemaVersion === undefined) refuse(`${path}: the manager backup has no schema version`);
  const found = problem(BackupMeta, meta);
  if (found) refuse(`${path}: the header's "${found.field}" ${asSentence(found.reason)}`);
}
