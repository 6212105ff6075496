// ed25519 signatures over image manifests, with libsodium (loaded only when an
// image is signed or checked: most of the time a box needs none of it).
// Keys are base64 text: a public key of 32 bytes, a secret key of 64.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ApError } from '../errors';
import { loadSodium } from '../native';

const sodium = loadSodium;

export interface KeyPair {
  readonly publicKey: string;
  readonly secretKey: string;
}

export async function generateKeyPair(): Promise<KeyPair> {
  const s = await sodium();
  const { publicKey, privateKey } = s.crypto_sign_keypair();
  return { publicKey: Buffer.from(publicKey).toString('base64'), secretKey: Buffer.from(privateKey).toString('base64') };
}

/** The detached signature of `message`, base64. */
export async function sign(message: Uint8Array, secretKey: string): Promise<string> {
  const s = await sodium();
  const key = decodeKey(secretKey, 64, 'secret key');
  return Buffer.from(s.crypto_sign_detached(message, key)).toString('base64');
}

/** Whether `signature` (base64) over `message` verifies with one of `publicKeys`. */
export async function verifyWithAny(message: Uint8Array, signature: string, publicKeys: readonly string[]): Promise<boolean> {
  const s = await sodium();
  const sig = Buffer.from(signature.trim(), 'base64');
  if (sig.length !== 64) return false;
  for (const key of publicKeys) {
    let bytes: Uint8Array;
    try {
      bytes = decodeKey(key, 32, 'public key');
    } catch {
      continue; // a malformed key verifies nothing
    }
    // Anything libsodium itself throws is not "does not verify": it propagates.
    if (s.crypto_sign_verify_detached(sig, message, bytes)) return true;
  }
  return false;
}

function decodeKey(text: string, length: number, what: string): Uint8Array {
  const bytes = Buffer.from(text.trim(), 'base64');
  if (bytes.length !== length) throw new ApError('BAD_KEY', `a ${what} is ${length} bytes of base64; this one is ${bytes.length}`);
  return bytes;
}

/** The trusted public keys: every *.pub file in `dir` (shipped in the rootfs overlay). */
export async function loadTrustedKeys(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.pub')).sort();
  } catch {
    return [];
  }
  const keys: string[] = [];
  for (const name of names) {
    const text = (await readFile(join(dir, name), 'utf8')).trim();
    if (Buffer.from(text, 'base64').length === 32) keys.push(text);
  }
  return keys;
}
