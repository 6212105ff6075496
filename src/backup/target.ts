// Which instance an instance restore makes, and which one it may overwrite.
// The rule that keeps a restore from overwriting the wrong instance: it
// overwrites only the instance its caller names as the `replace` target, and
// only when the restore makes that very instance (the backup's own, or the
// copy named so). "The instance named in the file" is never a target by
// itself: a Manager page, an API call or `ap ctl` must name it.
import { ApError, InvalidField } from '../errors';
import { instanceId, parseInstanceId, type Instance } from '../instances';
import type { InstanceMeta } from './format';

/** What a restore will do, decided before anything changes. */
export interface RestoreTarget {
  /** The instance the restore makes (name@domain). */
  readonly id: string;
  /** Another name or domain than the backup's: its own path and database unless given. */
  readonly clone: boolean;
  /** The instance it overwrites (the replace target), or null. */
  readonly existing: Instance | null;
}

/** Parses a `replace` value: the id of the instance to overwrite (name@domain). */
export function replaceTarget(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (value === true || value === 'true') {
    throw new InvalidField('replace', 'name the instance to overwrite (replace=name@domain): a restore overwrites only an instance it is told, never the one the backup file names');
  }
  if (typeof value !== 'string') throw new InvalidField('replace', 'expected the instance to overwrite, name@domain');
  try {
    return instanceId(parseInstanceId(value));
  } catch (err) {
    throw new InvalidField('replace', err instanceof Error ? err.message : String(err));
  }
}

/**
 * Decides the restore's instance from the backup's description, the caller's
 * options and `lookup` (the instance of an id, or null). Throws, changing
 * nothing, when the restore would overwrite anything but its named target.
 */
export function planRestoreTarget(
  meta: InstanceMeta,
  options: { readonly name?: string; readonly domain?: string; readonly replace?: string },
  lookup: (id: string) => Instance | null,
): RestoreTarget {
  const backupId = `${meta.name}@${meta.domain}`;
  const id = `${options.name ?? meta.name}@${options.domain ?? meta.domain}`;
  const clone = id !== backupId;
  const replace = options.replace;
  if (replace !== undefined && replace !== id) {
    if (clone) throw new InvalidField('replace', `the restore makes ${id}, but replace names ${replace}: a restore overwrites only the instance it makes`);
    throw new ApError(
      'BACKUP_OF_OTHER_INSTANCE',
      `the backup is of ${backupId}, not of ${replace}: nothing was changed. Restore it as a copy under a new name instead; ` +
        `to put its data into ${replace} itself, restore it as a copy with ${replace}'s name and domain and replace ${replace}`,
    );
  }
  const existing = lookup(id);
  if (existing && replace === undefined) {
    throw new ApError('EXISTS', `instance ${id} exists: restore over it only when asked to (replace ${id}), or as a copy under a new name; nothing was changed`);
  }
  return { id, clone, existing };
}
