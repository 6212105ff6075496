// The Linux accounts app services run as (the vendor's App security). The
// supervisor makes each one itself, in a uid range it owns, marked as its own
// in the GECOS field, with no login shell (the *Disable App security* setting
// gives them /bin/sh for SSH debugging), and records name → uid on p2 so an
// account lost with an OS update comes back with the same uid. An account
// that exists but is not ours (root, postgres, a system user) is never used:
// its name is refused. Made with useradd (Debian) or BusyBox adduser.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { ApError, describe } from '../errors';
import type { Logger } from '../log';
import { reservedError } from '../names';

const run = promisify(execFile);

/** The uids (and gids) of service accounts: nothing else on a box or a Debian machine uses them. */
export const UID_FIRST = 61000;
export const UID_LAST = 61999;
/** GECOS of every account we make: how a supervisor knows an account is one of ours. */
export const MARK = 'App Platform service';

export interface Account {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly shell: string;
}

export interface PasswdEntry extends Account {
  readonly gecos: string;
}

/** The entries of an /etc/passwd text. */
export function parsePasswd(text: string): PasswdEntry[] {
  return text.split('\n').flatMap((line) => {
    const f = line.split(':');
    if (f.length < 7 || !f[0]) return [];
    const uid = Number(f[2]);
    const gid = Number(f[3]);
    return Number.isInteger(uid) && Number.isInteger(gid) ? [{ name: f[0], uid, gid, gecos: f[4]!, shell: f[6]! }] : [];
  });
}

/** name → gid of an /etc/group text. */
export function parseGroups(text: string): Map<string, number> {
  return new Map(text.split('\n').flatMap((line) => {
    const f = line.split(':');
    return f.length >= 3 && f[0] && Number.isInteger(Number(f[2])) ? [[f[0], Number(f[2])] as const] : [];
  }));
}

/** True when `entry` is an account a supervisor made for a service. */
export function isOurs(entry: { uid: number; gid: number; gecos: string }): boolean {
  return entry.uid >= UID_FIRST && entry.uid <= UID_LAST && entry.gid >= UID_FIRST && entry.gid <= UID_LAST && entry.gecos.startsWith(MARK);
}

/** The first uid of our range free in both files (and not kept for another service), or null when the range is full. */
export function freeId(users: readonly PasswdEntry[], groups: ReadonlyMap<string, number>, kept: ReadonlySet<number>, preferred?: number): number | null {
  const used = new Set([...users.map((u) => u.uid), ...groups.values(), ...kept]);
  if (preferred !== undefined && preferred >= UID_FIRST && preferred <= UID_LAST && !used.has(preferred)) return preferred;
  for (let id = UID_FIRST; id <= UID_LAST; id++) if (!used.has(id)) return id;
  return null;
}

export type Tool = 'shadow' | 'busybox';

/** argv lists that create the account (its group first, same id). */
export function createCommands(tool: Tool, name: string, id: number, home: string, shell: string): string[][] {
  if (tool === 'shadow') {
    return [
      ['groupadd', '--gid', String(id), name],
      ['useradd', '--uid', String(id), '--gid', String(id), '--no-create-home', '--home-dir', home, '--shell', shell, '--comment', MARK, name],
    ];
  }
  return [
    ['addgroup', '-g', String(id), name],
    ['adduser', '-D', '-H', '-u', String(id), '-G', name, '-h', home, '-s', shell, '-g', MARK, name],
  ];
}

/** argv lists that remove the account and its group (the group may already be gone with the user). */
export function deleteCommands(tool: Tool, name: string): string[][] {
  return tool === 'shadow' ? [['userdel', name], ['groupdel', name]] : [['deluser', name], ['delgroup', name]];
}

export interface AccountsOptions {
  readonly log: Logger;
  /** name → uid kept on p2. */
  readonly recorded: () => ReadonlyMap<string, number>;
  readonly record: (name: string, uid: number | null) => Promise<void>;
  readonly passwdFile?: string;
  readonly groupFile?: string;
}

const NOLOGIN = ['/usr/sbin/nologin', '/sbin/nologin', '/bin/false'];

/** Makes, checks and removes service accounts. */
export class Accounts {
  private readonly passwd: string;
  private readonly group: string;
  readonly tool: Tool;

  constructor(private readonly options: AccountsOptions) {
    this.passwd = options.passwdFile ?? '/etc/passwd';
    this.group = options.groupFile ?? '/etc/group';
    this.tool = existsSync('/usr/sbin/useradd') || existsSync('/sbin/useradd') ? 'shadow' : 'busybox';
  }

  /** Throws SERVICE_NAME_RESERVED when an account or group named `name` exists and is not one of ours. */
  check(name: string): void {
    const entry = this.users().find((u) => u.name === name);
    if (entry && !isOurs(entry)) throw reservedError(name, `the Linux account "${name}" (uid ${entry.uid}) exists and was not made by the App Platform for a service`);
    const gid = this.groups().get(name);
    if (!entry && gid !== undefined) throw reservedError(name, `the Linux group "${name}" (gid ${gid}) exists and was not made by the App Platform for a service`);
  }

  /** The service's account, made when missing; its shell follows `login` (Disable App security). */
  async ensure(name: string, home: string, login: boolean): Promise<Account> {
    const shell = login ? '/bin/sh' : (NOLOGIN.find((p) => existsSync(p)) ?? '/bin/false');
    for (let attempt = 0; ; attempt++) {
      this.check(name);
      const entry = this.users().find((u) => u.name === name);
      if (entry) {
        if (entry.shell !== shell) await this.setShell(entry, home, shell);
        if (this.options.recorded().get(name) !== entry.uid) await this.options.record(name, entry.uid);
        return { name, uid: entry.uid, gid: entry.gid, shell };
      }
      const kept = new Set([...this.options.recorded()].filter(([n]) => n !== name).map(([, uid]) => uid));
      const id = freeId(this.users(), this.groups(), kept, this.options.recorded().get(name));
      if (id === null) throw new ApError('USER_CREATE_FAILED', `all uids from ${UID_FIRST} to ${UID_LAST} are taken: no account can be made for "${name}"`);
      try {
        for (const argv of createCommands(this.tool, name, id, home, shell)) await run(argv[0]!, argv.slice(1));
        this.options.log.info(`made the Linux account ${name} (uid ${id}) for its service`);
      } catch (err) {
        // Another supervisor on this machine (tests) may have taken the name or the id meanwhile: look again.
        await this.dropPartial(name);
        if (attempt >= 4) throw new ApError('USER_CREATE_FAILED', `cannot make the Linux account "${name}" for its service: ${describe(err)}`, { cause: err });
      }
    }
  }

  /** Removes the service's account (when the service goes or its install is undone); a missing one is fine. */
  async remove(name: string): Promise<void> {
    const entry = this.users().find((u) => u.name === name);
    if (entry && isOurs(entry)) {
      for (const argv of deleteCommands(this.tool, name)) await run(argv[0]!, argv.slice(1)).catch(() => {});
      this.options.log.info(`removed the Linux account ${name}`);
    }
    if (this.options.recorded().has(name)) await this.options.record(name, null);
  }

  private async setShell(entry: PasswdEntry, home: string, shell: string): Promise<void> {
    if (this.tool === 'shadow') await run('usermod', ['--shell', shell, entry.name]);
    else {
      // BusyBox has no usermod: make the account again with the same ids.
      for (const argv of deleteCommands('busybox', entry.name)) await run(argv[0]!, argv.slice(1)).catch(() => {});
      for (const argv of createCommands('busybox', entry.name, entry.uid, home, shell)) await run(argv[0]!, argv.slice(1));
    }
    this.options.log.info(`the Linux account ${entry.name} now has the shell ${shell}`);
  }

  /** A group made without its user (the useradd failed) is ours to remove. */
  private async dropPartial(name: string): Promise<void> {
    const gid = this.groups().get(name);
    if (!this.users().some((u) => u.name === name) && gid !== undefined && gid >= UID_FIRST && gid <= UID_LAST) {
      await run(this.tool === 'shadow' ? 'groupdel' : 'delgroup', [name]).catch(() => {});
    }
  }

  private users(): PasswdEntry[] {
    return parsePasswd(readText(this.passwd));
  }

  private groups(): Map<string, number> {
    return parseGroups(readText(this.group));
  }
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
