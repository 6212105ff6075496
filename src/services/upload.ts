// Installing an app service from an uploaded package (the seed's Developer
// mode: "apps can be manually uploaded without an App Store"): a .tar.gz of the
// service folder (app.json at its top, or in one folder at its top). It is
// saved on p2, unpacked into a fresh folder, checked — only regular files and
// folders, nothing outside, a valid app.json — and handed to the ordinary
// install (which copies it in and starts it). The upload is removed either way.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ApError } from '../errors';
import { writeStreamAtomic } from '../fsutil';
import type { JobControl } from '../jobs';
import type { Manifest } from './manifest';

/** Largest package accepted. */
export const MAX_PACKAGE = 512 * 1024 * 1024;

/** Unpacks, checks and installs an uploaded package; resolves with the installed manifest. */
export async function installUpload(upload: AsyncIterable<Buffer>, workDir: string, install: (dir: string) => Promise<Manifest>, job: JobControl): Promise<Manifest> {
  const id = randomBytes(6).toString('hex');
  const file = join(workDir, `upload-service-${id}.tar.gz`);
  const dir = join(workDir, `upload-service-${id}`);
  try {
    await writeStreamAtomic(upload, file, {
      onBytes: (bytes) => {
        if (bytes > MAX_PACKAGE) throw new ApError('PACKAGE_TOO_LARGE', `the package is larger than ${MAX_PACKAGE / 1048576} MB`);
        job.progress(bytes, null, 'receiving the package');
      },
    });
    await mkdir(dir);
    job.progress(0, null, 'unpacking');
    await untar(file, dir);
    await checkTree(dir);
    const entries = await readdir(dir);
    const root = entries.includes('app.json') ? dir : entries.length === 1 ? join(dir, entries[0]!) : null;
    if (!root || !(await lstat(join(root, 'app.json')).catch(() => null))?.isFile()) {
      throw new ApError('BAD_PACKAGE', 'the package has no app.json at its top (pack the service folder: tar -czf app.tar.gz -C folder .)');
    }
    job.progress(0, null, 'installing');
    return await install(root);
  } finally {
    await rm(file, { force: true });
    await rm(dir, { recursive: true, force: true });
  }
}

function untar(file: string, into: string): Promise<void> {
  return new Promise((resolve, reject) => {
    // --no-same-owner: files become ours (root), never the packer's ids.
    const child = spawn('tar', ['-xzf', file, '-C', into, '--no-same-owner'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => (err = (err + c).slice(-2000)));
    child.once('error', (e) => reject(new ApError('BAD_PACKAGE', `cannot run tar: ${e.message}`)));
    child.once('close', (code) => (code === 0 ? resolve() : reject(new ApError('BAD_PACKAGE', `the package is not a readable .tar.gz: ${err.trim().split('\n').pop() ?? `tar status ${code}`}`))));
  });
}

/** Only regular files and folders: a link could point anywhere on the box. */
async function checkTree(dir: string): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() || entry.isDirectory()) continue;
    const path = join(entry.parentPath ?? (entry as { path?: string }).path ?? dir, entry.name).slice(dir.length + 1);
    throw new ApError('BAD_PACKAGE', `the package holds ${entry.isSymbolicLink() ? 'a symbolic link' : 'a special file'} (${path}): only files and folders are accepted`);
  }
}
