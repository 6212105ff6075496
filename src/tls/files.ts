// Where the webserver's certificate and key live on disk: uWebSockets.js reads
// them from files (cert_file_name / key_file_name), not from memory.
import { chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { ensureDir, writeFileAtomic } from '../fsutil';

/** Writes `webserver.crt` and `webserver.key` (0600) into `dir` (0700) atomically, and returns their paths. */
export async function writeTlsFiles(dir: string, chain: { certPem: string; keyPem: string }): Promise<{ certFile: string; keyFile: string }> {
  await ensureDir(dir, 0o700);
  // mkdir leaves an existing folder's mode alone and applies the umask to a new one.
  await chmod(dir, 0o700);
  const certFile = join(dir, 'webserver.crt');
  const keyFile = join(dir, 'webserver.key');
  // Each file is replaced whole, but two files cannot be replaced as one: a power
  // cut between the writes leaves the new key beside the old certificate until
  // the pair is written again.
  await writeFileAtomic(keyFile, chain.keyPem, 0o600);
  await writeFileAtomic(certFile, chain.certPem, 0o600);
  return { certFile, keyFile };
}
