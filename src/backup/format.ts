// The backup file: self-describing, written as one stream, verified as a whole.
//
//   "APBACKUP1\n"                      10 bytes
//   header length                      u32 big-endian
//   header                             JSON (BackupMeta), UTF-8, at most 1 MiB
//   dump                               pg_dump -Fc output, as it came
//   trailer                            "APBKEND1", u64 big-endian dump length,
//                                      SHA-256 of everything before the trailer
//
// The checksum comes last so that a backup never needs a temporary copy: the
// producer hashes while it streams. A reader checks magic, header, length and
// checksum before it trusts a byte of the dump.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { ApError } from '../errors';
import { InstanceRecord } from '../records';
import { asSentence, problem, T, type Static } from '../schema';

export const MAGIC = Buffer.from('APBACKUP1\n', 'latin1');
export const TRAILER_MAGIC = Buffer.from('APBKEND1', 'latin1');
export const TRAILER_SIZE = TRAILER_MAGIC.length + 8 + 32;
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
  format: T.Literal(1),
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

/** The stream of a backup file: header, the dump as it comes, trailer. */
export async function* backupFile(meta: BackupMeta, dump: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const hash = createHash('sha256');
  const json = Buffer.from(JSON.stringify(meta), 'utf8');
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

/** A backup file on disk whose framing and checksum were verified. */
export interface VerifiedBackup {
  readonly path: string;
  readonly meta: BackupMeta;
  /** Byte range of the dump in the file. */
  readonly dumpStart: number;
  readonly dumpLength: number;
  readonly sha256: string;
}

function refuse(message: string): never {
  throw new ApError('BAD_BACKUP', message);
}

/** Reads and checks the header, the trailer and the checksum of the whole file. Changes nothing. */
export async function verifyBackupFile(path: string, onProgress?: (bytes: number, total: number) => void): Promise<VerifiedBackup> {
  const info = await stat(path).catch((err: Error) => refuse(`cannot read ${path}: ${err.message}`));
  if (!info.isFile()) refuse(`${path} is not a file`);
  const size = info.size;
  if (size < MAGIC.length + 4 + 2 + TRAILER_SIZE) refuse(`${path} is too short to be a backup (${size} bytes)`);
  const handle = await open(path, 'r');
  let meta: BackupMeta;
  let headerEnd: number;
  let trailer: Buffer;
  try {
    const start = Buffer.alloc(MAGIC.length + 4);
    await handle.read(start, 0, start.length, 0);
    if (!start.subarray(0, MAGIC.length).equals(MAGIC)) refuse(`${path} is not an App Platform backup (no APBACKUP1 header)`);
    const headerLength = start.readUInt32BE(MAGIC.length);
    if (headerLength === 0 || headerLength > MAX_HEADER || MAGIC.length + 4 + headerLength + TRAILER_SIZE > size) refuse(`${path}: the header length ${headerLength} does not fit the file`);
    const header = Buffer.alloc(headerLength);
    await handle.read(header, 0, headerLength, MAGIC.length + 4);
    try {
      meta = JSON.parse(header.toString('utf8')) as BackupMeta;
    } catch {
      refuse(`${path}: the header is not JSON`);
    }
    checkMeta(meta, path);
    headerEnd = MAGIC.length + 4 + headerLength;
    trailer = Buffer.alloc(TRAILER_SIZE);
    await handle.read(trailer, 0, TRAILER_SIZE, size - TRAILER_SIZE);
  } finally {
    await handle.close();
  }
  if (!trailer.subarray(0, TRAILER_MAGIC.length).equals(TRAILER_MAGIC)) refuse(`${path} is cut short or damaged (no end mark): it was not written completely`);
  const dumpLength = Number(trailer.readBigUInt64BE(TRAILER_MAGIC.length));
  if (headerEnd + dumpLength + TRAILER_SIZE !== size) refuse(`${path} is cut short or has extra bytes: the dump should be ${dumpLength} bytes`);
  const hash = createHash('sha256');
  let read = 0;
  for await (const chunk of createReadStream(path, { start: 0, end: size - TRAILER_SIZE - 1, highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>) {
    hash.update(chunk);
    read += chunk.length;
    onProgress?.(read, size);
  }
  const digest = hash.digest();
  if (!digest.equals(trailer.subarray(TRAILER_MAGIC.length + 8))) refuse(`${path} is damaged: its checksum does not match`);
  return { path, meta, dumpStart: headerEnd, dumpLength, sha256: digest.toString('hex') };
}

/** The dump bytes of a verified backup. */
export function dumpStream(backup: VerifiedBackup): Readable {
  return createReadStream(backup.path, { start: backup.dumpStart, end: backup.dumpStart + backup.dumpLength - 1, highWaterMark: 1024 * 1024 });
}

/**
 * The header of a backup from its first bytes: the description, 'more' when
 * `prefix` is too short to tell, or null when they are not a backup's header
 * (whoever verifies the whole file says why). Nothing is trusted beyond it.
 */
export function headerOf(prefix: Buffer): BackupMeta | 'more' | null {
  if (prefix.length < MAGIC.length + 4) return MAGIC.subarray(0, prefix.length).equals(prefix.subarray(0, MAGIC.length)) ? 'more' : null;
  if (!prefix.subarray(0, MAGIC.length).equals(MAGIC)) return null;
  const length = prefix.readUInt32BE(MAGIC.length);
  if (length === 0 || length > MAX_HEADER) return null;
  if (prefix.length < MAGIC.length + 4 + length) return 'more';
  try {
    const meta = JSON.parse(prefix.subarray(MAGIC.length + 4, MAGIC.length + 4 + length).toString('utf8')) as BackupMeta;
    checkMeta(meta, 'the backup');
    return meta;
  } catch {
    return null;
  }
}

/** The header of the backup file at `path`, or null when it has none that reads (see headerOf). */
export async function readHeader(path: string): Promise<BackupMeta | null> {
  const handle = await open(path, 'r').catch(() => null);
  if (!handle) return null;
  try {
    let prefix = Buffer.alloc(0);
    for (let size = 64 * 1024; ; size = MAGIC.length + 4 + MAX_HEADER) {
      const buffer = Buffer.alloc(size);
      const { bytesRead } = await handle.read(buffer, 0, size, 0);
      prefix = buffer.subarray(0, bytesRead);
      const meta = headerOf(prefix);
      if (meta !== 'more' || bytesRead < size || size > MAX_HEADER) return meta === 'more' ? null : meta;
    }
  } catch {
    return null; // a folder, a read error: the restore's verification names it
  } finally {
    await handle.close();
  }
}

/**
 * Reads an upload until its header is in (at most the header's 1 MiB), and
 * hands back the description (null: not a backup's header) and the whole
 * body, those first bytes included. `stop` ends the upload unread.
 */
export async function peekHeader(body: AsyncIterable<Buffer>): Promise<{ meta: BackupMeta | null; chunks: AsyncIterable<Buffer>; stop: () => Promise<void> }> {
  const iterator = body[Symbol.asyncIterator]();
  const taken: Buffer[] = [];
  let meta: BackupMeta | 'more' | null = 'more';
  let ended = false;
  while (meta === 'more') {
    const next = await iterator.next();
    if (next.done) {
      ended = true;
      meta = null;
      break;
    }
    taken.push(next.value);
    meta = headerOf(taken.length === 1 ? next.value : Buffer.concat(taken));
  }
  async function* chunks(): AsyncGenerator<Buffer> {
    let finished = ended;
    try {
      while (taken.length) yield taken.shift()!;
      while (!finished) {
        const next = await iterator.next();
        if (next.done) finished = true;
        else yield next.value;
      }
    } finally {
      // The consumer stopped early: the upload stops too.
      if (!finished) await iterator.return?.(undefined);
    }
  }
  return { meta, chunks: { [Symbol.asyncIterator]: chunks }, stop: async () => void (await iterator.return?.(undefined)) };
}

function checkMeta(meta: BackupMeta, path: string): void {
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) refuse(`${path}: the header is not an object`);
  if (meta.format !== 1) refuse(`${path}: backup format ${String(meta.format)} is not one this supervisor reads`);
  if (meta.kind !== 'instance' && meta.kind !== 'manager') refuse(`${path}: unknown backup kind ${String(meta.kind)}`);
  if (meta.kind === 'instance' && meta.instance === undefined) refuse(`${path}: the instance backup does not describe its instance`);
  if (meta.kind === 'manager' && meta.schemaVersion === undefined) refuse(`${path}: the manager backup has no schema version`);
  const found = problem(BackupMeta, meta);
  if (found) refuse(`${path}: the header's "${found.field}" ${asSentence(found.reason)}`);
}
