// `ap ctl backup …` and `ap ctl restore …`: the admin API's backup resources.
// Files are resolved against the current folder and handed to the supervisor
// as absolute paths.
import { resolve } from 'node:path';
import { BACKUP_SWITCHES, BACKUP_VALUE_FLAGS } from '../cli';
import { UsageError } from '../errors';
import type { ApiCall } from './instances';

const USAGE = `ap ctl backup instance <id> (--file F | --url U [--method PUT|POST])
ap ctl backup manager (--file F | --url U [--method PUT|POST])
ap ctl backup verify <file> [--restore-test]
ap ctl backup run | schedule
ap ctl restore instance <file> [--name N] [--domain D] [--path P] [--db-name N] [--db-user U] [--replace]
ap ctl restore manager <file>`;

/** The API call for `ap ctl backup|restore <sub> [arg] --flags`. */
export function backupCall(command: 'backup' | 'restore', sub: string | undefined, arg: string | undefined, flags: Readonly<Record<string, string>>, switches: ReadonlySet<string>, cwd: string): ApiCall {
  const used = (allowed: readonly string[]) => {
    for (const name of [...Object.keys(flags), ...switches]) {
      if ([...BACKUP_VALUE_FLAGS, ...BACKUP_SWITCHES, 'path', 'db-name', 'db-user'].includes(name as never) && !allowed.includes(name)) {
        throw new UsageError(`--${name} does not go with "ap ctl ${command} ${sub}"`);
      }
    }
  };
  const target = (): Record<string, string> => {
    if ((flags.file === undefined) === (flags.url === undefined)) throw new UsageError(`give --file or --url\n\n${USAGE}`);
    if (flags.file !== undefined) return { file: resolve(cwd, flags.file) };
    return { url: flags.url!, ...(flags.method ? { method: flags.method } : {}) };
  };
  const needArg = (what: string) => {
    if (arg === undefined) throw new UsageError(`ap ctl ${command} ${sub} needs ${what}\n\n${USAGE}`);
    return arg;
  };
  if (command === 'backup') {
    switch (sub) {
      case 'instance':
        used(['file', 'url', 'method']);
        return { method: 'POST', path: `/backups/instances/${encodeURIComponent(needArg('an instance (name@domain)'))}`, body: target() };
      case 'manager':
        used(['file', 'url', 'method']);
        return { method: 'POST', path: '/backups/manager', body: target() };
      case 'verify':
        used(['restore-test']);
        return { method: 'POST', path: '/backups/verify', body: { file: resolve(cwd, needArg('a backup file')), restoreTest: switches.has('restore-test') } };
      case 'run':
        used([]);
        return { method: 'POST', path: '/backups/run' };
      case 'schedule':
        used([]);
        return { method: 'GET', path: '/backups/schedule' };
    }
  } else {
    switch (sub) {
      case 'instance': {
        used(['name', 'domain', 'path', 'db-name', 'db-user', 'replace']);
        const body: Record<string, unknown> = { file: resolve(cwd, needArg('a backup file')) };
        for (const [flag, field] of [['name', 'name'], ['domain', 'domain'], ['path', 'path'], ['db-name', 'dbName'], ['db-user', 'dbUser']] as const) {
          if (flags[flag] !== undefined) body[field] = flags[flag];
        }
        if (flags.replace !== undefined) {
          // The instance to overwrite is named, never implied by the file: "--replace" alone used to mean the file's.
          if (flags.replace.startsWith('-') || !flags.replace.includes('@')) throw new UsageError(`--replace needs the instance to overwrite, name@domain (got "${flags.replace}")\n\n${USAGE}`);
          body.replace = flags.replace;
        }
        return { method: 'POST', path: '/restores/instances', body };
      }
      case 'manager':
        used([]);
        return { method: 'POST', path: '/restores/manager', body: { file: resolve(cwd, needArg('a backup file')) } };
    }
  }
  throw new UsageError(USAGE);
}
