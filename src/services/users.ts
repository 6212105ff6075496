// Each service runs as a Linux user named after it (the vendor's App
// security), created on first need with whatever the system has: useradd
// (Debian) or BusyBox adduser.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { lookupAccount } from '../db';
import { ApError } from '../errors';

const run = promisify(execFile);

/** uid/gid of the service's user, creating it (no login, no home of its own) when missing. */
export async function ensureServiceAccount(name: string, home: string): Promise<{ uid: number; gid: number }> {
  const existing = lookupAccount(name);
  if (existing) return existing;
  const nologin = ['/usr/sbin/nologin', '/sbin/nologin', '/bin/false'].find((p) => existsSync(p)) ?? '/bin/false';
  try {
    if (existsSync('/usr/sbin/useradd')) {
      await run('/usr/sbin/useradd', ['--system', '--user-group', '--no-create-home', '--home-dir', home, '--shell', nologin, name]);
    } else {
      await run('adduser', ['-S', '-D', '-H', '-h', home, '-s', nologin, name]);
    }
  } catch (err) {
    throw new ApError('USER_CREATE_FAILED', `cannot create the Linux user "${name}" for its service`, { cause: err });
  }
  const created = lookupAccount(name);
  if (!created) throw new ApError('USER_CREATE_FAILED', `the Linux user "${name}" was created but cannot be found`);
  return created;
}
