// What to do about an alarm, and the Manager page where one does it: derived
// from its code and source in one table, never stored (an alarm kept from an
// older version gets today's advice). Every code raised anywhere has an entry:
// test/alarms/advice.test.ts reads the sources' raise() calls to hold that.
import type { Alarm } from './views';

export interface Advice {
  readonly todo: string;
  readonly link: { readonly href: string; readonly label: string };
}

// Manager pages (hash routes of src/ui/routes.ts).
const SYSTEM = { href: '#/system', label: 'System' };
const SETTINGS_UPDATE = { href: '#/settings/update', label: 'Settings: Update' };
const SETTINGS_SECURITY = { href: '#/settings/security', label: 'Settings: Security' };
const SETTINGS_BACKUPS = { href: '#/settings/backups', label: 'Settings: Backups' };
const SETTINGS_POWER = { href: '#/settings/power', label: 'Settings: Restart and shutdown' };
const DIAGNOSTICS = { href: '#/diagnostics', label: 'Diagnostics' };
const REPLICATION = { href: '#/replication', label: 'Replication' };
const RESCUE_LOG = { href: '#/rescue-log', label: 'Rescue system log' };
const service = (name: string) => ({ href: `#/service/${encodeURIComponent(name)}`, label: `Service ${name}` });
const instance = (id: string) => ({ href: `#/instance/${encodeURIComponent(id)}`, label: `Instance ${id}` });

/** By code; `subject` is what the source names after its colon ("echo" of "service:echo"), or "". */
export const ADVICE: Readonly<Record<string, (subject: string) => Advice>> = {
  DATABASE_DOWN: () => ({ todo: 'Start the database again (ap ctl db start); if it keeps dying, read its log and check the data partition is not full.', link: DIAGNOSTICS }),
  DISK_WARNING: () => ({ todo: 'Free space on the data partition (old instances, databases, logs, core dumps) or raise the disk threshold (Settings: Alarms and events) before the apps are stopped.', link: SYSTEM }),
  DISK_FULL: () => ({ todo: 'The apps were stopped: free space on the data partition (old instances, databases, logs, core dumps); they start again by themselves below the threshold.', link: SYSTEM }),
  RESERVE_EMPTIED: () => ({ todo: 'Free space on the data partition now; the reserve file is made again at the next start.', link: SYSTEM }),
  CRASH_LOOP: (name) => ({ todo: 'Read its last crash and log on its page, fix the cause (or update the app), then start it again.', link: service(name) }),
  SERVICE_OUT_OF_MEMORY: (name) => ({ todo: 'Raise its memory limit on its page if the box has room, or update the app if it leaks.', link: service(name) }),
  BACKUP_FAILED: (id) =>
    id === 'manager'
      ? { todo: 'Check the backup target (space, URL, credentials) in the command file, then back up again.', link: SETTINGS_BACKUPS }
      : { todo: 'Read why it failed, fix the target (space, URL, credentials) or the instance, then back it up again.', link: instance(id) },
  UPDATE_FAILED: () => ({ todo: 'The box runs the image it ran before: read the rescue system log for why, then update again from Settings.', link: RESCUE_LOG }),
  REBOOT_FAILED: () => ({ todo: 'The staged image waits for a reboot: restart the box from Settings (or reboot it by hand).', link: SETTINGS_POWER }),
  MANAGER_UPDATE_FAILED: () => ({ todo: 'The previous Manager runs again: read the update\'s message, then try the Manager update again from Settings.', link: SETTINGS_UPDATE }),
  CERT_EXPIRING: () => ({ todo: 'Upload a renewed webserver certificate in Settings (Security) before it expires.', link: SETTINGS_SECURITY }),
  CERT_EXPIRED: () => ({ todo: 'Clients refuse the box now: upload a valid webserver certificate in Settings (Security).', link: SETTINGS_SECURITY }),
  REPLICATION_BROKEN: (name) => ({
    todo: name ? `Bring standby ${name} back online (network, its supervisor), or remove it from Replication so the primary stops keeping WAL for it.` : 'Check the network to the primary and that it still lists this standby.',
    link: REPLICATION,
  }),
  REPLICATION_WAL_RETAINED: () => ({ todo: 'Bring the absent standbys back, or remove them on Replication, before the data partition fills with WAL.', link: REPLICATION }),
};

/** The advice for `alarm`, or null for a code the table does not know. */
export function adviceFor(alarm: Pick<Alarm, 'source' | 'code'>): Advice | null {
  const colon = alarm.source.indexOf(':');
  return ADVICE[alarm.code]?.(colon < 0 ? '' : alarm.source.slice(colon + 1)) ?? null;
}
