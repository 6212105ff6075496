// Encrypted backups: the format-2 file, exactly as it is written without a
// key, wrapped in libsodium's crypto_secretstream_xchacha20poly1305:
//
//   "APBKENC1"                         8 bytes
//   key fingerprint                    8 bytes (keyFingerprint: "wrong key" told apart from "damaged")
//   secretstream header                24 bytes
//   chunks                             u32 big-endian length, then that many bytes of
//                                      ciphertext (64 KiB of plaintext or less, plus 17);
//                                      the last one tagged FINAL, nothing after it
//
// Each chunk is authenticated on its own and in its place, so a reader finds
// a flipped byte, a reordered, missing or extra chunk, and a file cut short
// (no FINAL) as it streams; a whole file decrypts into the plain backup only
// if every chunk did. Never more than one chunk is held.
import { createHash } from 'node:crypto';
import { ApError } from '../errors';
import { loadSodium } from '../native';

export const ENC_MAGIC = Buffer.from('APBKENC1', 'latin1');
const FINGERPRINT_BYTES = 8;
const CHUNK = 64 * 1024;
const KEY_BYTES = 32;
/** Bytes before the first chunk. */
export const ENC_PREAMBLE = ENC_MAGIC.length + FINGERPRINT_BYTES + 24;

/** Whether a file starting with `start` is an encrypted backup. */
export function isEncrypted(start: Buffer): boolean {
  return start.subarray(0, ENC_MAGIC.length).equals(ENC_MAGIC);
}

/** A few bytes of BLAKE2b of a fixed text, keyed with the key: names the key without revealing anything of it. */
export async function keyFingerprint(key: Uint8Array): Promise<Buffer> {
  const s = await loadSodium();
  return Buffer.from(s.crypto_generichash(16, 'App Platform backup key fingerprint', key)).subarray(0, FINGERPRINT_BYTES);
}

/** The fingerprint as people see it (ap ctl backup key show, the Manager): hex in groups of four. */
export function showFingerprint(fingerprint: Buffer): string {
  return fingerprint.toString('hex').match(/.{4}/g)!.join('-');
}

/** Encrypts a backup stream as it passes (the framing above). */
export async function* encrypted(key: Uint8Array, plain: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const s = await loadSodium();
  const { state, header } = s.crypto_secretstream_xchacha20poly1305_init_push(key);
  yield Buffer.concat([ENC_MAGIC, await keyFingerprint(key), header]);
  const push = (bytes: Buffer, tag: number) => {
    const cipher = s.crypto_secretstream_xchacha20poly1305_push(state, bytes, null, tag);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(cipher.length);
    return Buffer.concat([length, cipher]);
  };
  let pending: Buffer = Buffer.alloc(0);
  for await (const chunk of plain) {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    // A full chunk goes out only once more follows: the last one, however short (also empty), is FINAL.
    while (pending.length > CHUNK) {
      yield push(pending.subarray(0, CHUNK), s.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE);
      pending = pending.subarray(CHUNK);
    }
  }
  yield push(pending, s.crypto_secretstream_xchacha20poly1305_TAG_FINAL);
}

/** Bytes taken from a stream in the sizes asked for, whatever sizes it comes in. */
class Reader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private done = false;

  constructor(private readonly source: AsyncIterator<Buffer>) {}

  /** Exactly `n` bytes, or fewer when the stream ends first. */
  async take(n: number): Promise<Buffer> {
    while (this.buffered < n && !this.done) {
      const next = await this.source.next();
      if (next.done) this.done = true;
      else {
        this.chunks.push(next.value);
        this.buffered += next.value.length;
      }
    }
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    const taken = all.subarray(0, n);
    this.chunks = all.length > n ? [all.subarray(n)] : [];
    this.buffered = all.length - taken.length;
    return taken;
  }
}

/** The key an encrypted file needs, as far as its first bytes tell: BACKUP_KEY_MISSING or BACKUP_KEY_WRONG when `key` will not do. */
export async function checkKey(start: Buffer, key: Uint8Array | null, path: string): Promise<void> {
  const wanted = start.subarray(ENC_MAGIC.length, ENC_MAGIC.length + FINGERPRINT_BYTES);
  if (!key) throw new ApError('BACKUP_KEY_MISSING', `${path} is an encrypted backup (key ${showFingerprint(wanted)}) and this box has no backup key: import its key first (ap ctl backup key import, or the Manager's Backup key), then try again`);
  if (!wanted.equals(await keyFingerprint(key))) {
    throw new ApError('BACKUP_KEY_WRONG', `${path} was encrypted with another backup key (${showFingerprint(wanted)}) than this box's (${showFingerprint(await keyFingerprint(key))}): import the key it was written with; nothing was changed`);
  }
}

/**
 * Decrypts an encrypted backup stream as it passes; throws BAD_BACKUP at the
 * first chunk that does not authenticate, at an end without the FINAL chunk
 * and at bytes after it, so only a whole, unchanged file yields all of its
 * plaintext. The key is checked first (checkKey).
 */
export async function* decrypted(key: Uint8Array | null, source: AsyncIterable<Buffer>, path: string): AsyncGenerator<Buffer> {
  const s = await loadSodium();
  const input = source[Symbol.asyncIterator]();
  const reader = new Reader(input);
  try {
    const preamble = await reader.take(ENC_PREAMBLE);
    if (preamble.length < ENC_PREAMBLE || !isEncrypted(preamble)) damaged(path, 'it is too short to be an encrypted backup');
    const header = preamble.subarray(ENC_MAGIC.length + FINGERPRINT_BYTES);
    const pull = (state: ReturnType<typeof s.crypto_secretstream_xchacha20poly1305_init_pull>, cipher: Buffer) => s.crypto_secretstream_xchacha20poly1305_pull(state, cipher, null);
    try {
      await checkKey(preamble, key, path);
    } catch (err) {
      if (key && (err as ApError).code === 'BACKUP_KEY_WRONG') {
        // The fingerprint differs, yet the key opens the file: it is the fingerprint that was damaged.
        const first = await nextChunk(reader, path).catch(() => null);
        if (first && pull(s.crypto_secretstream_xchacha20poly1305_init_pull(header, key), first)) damaged(path, "the key's fingerprint in it was changed");
      }
      throw err;
    }
    const state = s.crypto_secretstream_xchacha20poly1305_init_pull(header, key!);
    for (let cipher = await nextChunk(reader, path); cipher; cipher = await nextChunk(reader, path)) {
      const opened = pull(state, cipher);
      if (!opened) damaged(path, 'a part of it does not authenticate (changed, or not written with this key)');
      if (opened.message.length > 0) yield Buffer.from(opened.message.buffer, opened.message.byteOffset, opened.message.length);
      if (opened.tag === s.crypto_secretstream_xchacha20poly1305_TAG_FINAL) {
        if ((await reader.take(1)).length > 0) damaged(path, 'it has bytes after its end');
        return;
      }
    }
    damaged(path, 'it is cut short (its last part is missing)');
  } finally {
    await input.return?.(); // a file being read is closed however this ends
  }
}

function damaged(path: string, why: string): never {
  throw new ApError('BAD_BACKUP', `${path} is damaged: ${why}`);
}

/** The next chunk's ciphertext, or null at the end of the stream. */
async function nextChunk(reader: Reader, path: string): Promise<Buffer | null> {
  const length = await reader.take(4);
  if (length.length === 0) return null;
  if (length.length < 4) damaged(path, 'it is cut short (in the middle of a part)');
  const size = length.readUInt32BE(0);
  if (size < 17 || size > CHUNK + 17) damaged(path, `a part's length (${size}) is not one an encrypted backup has`);
  const cipher = await reader.take(size);
  if (cipher.length < size) damaged(path, 'it is cut short (in the middle of a part)');
  return cipher;
}

// --- the key as text: exported for safekeeping, imported on this or another box ---

const TEXT_PREFIX = 'apbk1:';

function textChecksum(key: Uint8Array): Buffer {
  return createHash('sha256').update(TEXT_PREFIX).update(key).digest().subarray(0, 4);
}

/** The key as `apbk1:` and base64url of the key and a 4-byte checksum (48 characters): what a person keeps safe. */
export function keyToText(key: Uint8Array): string {
  return TEXT_PREFIX + Buffer.concat([key, textChecksum(key)]).toString('base64url');
}

/** The key from its text (spaces and line breaks ignored); BAD_KEY for text that is not one, or mistyped (its checksum). */
export function keyFromText(text: string): Buffer {
  const compact = text.replace(/\s+/g, '');
  if (!compact.startsWith(TEXT_PREFIX)) throw new ApError('BAD_KEY', `a backup key is text starting with "${TEXT_PREFIX}", as ap ctl backup key export prints it`);
  const body = compact.slice(TEXT_PREFIX.length);
  if (!/^[A-Za-z0-9_-]{48}$/.test(body)) throw new ApError('BAD_KEY', `a backup key is "${TEXT_PREFIX}" and 48 characters of A-Z, a-z, 0-9, "-" and "_"; this one has ${body.length}${/[^A-Za-z0-9_-]/.test(body) ? ' and others' : ''}`);
  const bytes = Buffer.from(body, 'base64url');
  const key = bytes.subarray(0, KEY_BYTES);
  if (!bytes.subarray(KEY_BYTES).equals(textChecksum(key))) throw new ApError('BAD_KEY', 'this backup key is mistyped: its checksum does not match (check every character against the exported text)');
  return key;
}
