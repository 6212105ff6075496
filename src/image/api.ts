// Image update, boot control and the rescue system's log in the admin API.
import { open } from 'node:fs/promises';
import { objectBody, T, type ApiRoute, type Static } from '../api';
import { JobView } from '../jobs';
import { BootState, BootView, parseMode, type BootControl } from '../boot';
import { InvalidField } from '../errors';
import type { Updater } from './index';
import { JournalEntry, JOURNAL_SHOWN, Label, RESCUE_LOG_SHOWN, RescueLog, UpdateState } from './views';

/**
 * GET /boot/details: the boot control and the update journal, for the
 * Manager's Boot settings page (src/ui/types.ts spells it out from the parts:
 * they are two subsystems' leaves).
 */
const BootDetails = T.Object({
  boot: BootState,
  running: Label,
  journal: T.Array(JournalEntry, { description: `the last ${JOURNAL_SHOWN} steps of p1/update/journal, oldest first (removed once an update has ended)` }),
});

/** `ramdiskLog`: the rescue system's log on p2 (also served as is at /manager/ramdisk.log). */
export function updateRoutes(updater: Updater, boot: BootControl, ramdiskLog: string): ApiRoute[] {
  return [
    {
      method: 'GET',
      pattern: '/update',
      summary: 'the running image label, the newest image the store offers for this board, and the update journal',
      response: UpdateState,
      handler: async (): Promise<UpdateState> => {
        const journal = await updater.journal();
        let check: Omit<UpdateState, 'journal'>;
        try {
          check = await updater.check();
        } catch (err) {
          check = { running: await updater.runningLabel(), available: null, error: (err as Error).message };
        }
        return { ...check, journal };
      },
    },
    {
      method: 'POST',
      pattern: '/update',
      summary: 'update the App Platform image ({"label"?, "force"?}): download, verify, stage, reboot into the rescue to apply it (a job)',
      status: 202,
      body: T.Object({ label: T.Optional(T.String({ description: 'a build number (default: the newest)' })), force: T.Optional(T.Boolean({ description: 'also when it is not newer' })) }),
      response: JobView,
      errors: ['NO_STORE', 'NO_TRUSTED_KEYS', 'NO_IMAGE', 'BAD_IMAGE', 'CONFLICT', 'STORE_UNAVAILABLE', 'DOWNLOAD_FAILED', 'NO_ROOM'],
      handler: ({ body }) => {
        const b = objectBody(body);
        if (b.label !== undefined && (typeof b.label !== 'string' || !/^\d{1,12}$/.test(b.label))) throw new InvalidField('label', 'expected a build number');
        if (b.force !== undefined && typeof b.force !== 'boolean') throw new InvalidField('force', 'expected true or false');
        return updater.startUpdate({ label: b.label as string | undefined, force: b.force === true });
      },
    },
    {
      method: 'GET',
      pattern: '/boot',
      summary: 'the boot control: normal or rescue, and the gateway boot settings',
      response: BootView,
      handler: () => boot.read(),
    },
    {
      method: 'GET',
      pattern: '/boot/details',
      summary: "the boot control as the Manager's Boot settings page shows it: the settings, the file behind them, the GRUB menu (x86_64), the running image and the last steps of the update journal",
      response: BootDetails,
      handler: async (): Promise<Static<typeof BootDetails>> => {
        const [state, running, journal] = await Promise.all([boot.inspect(), updater.runningLabel(), updater.journal()]);
        return { boot: state, running, journal: journal.slice(-JOURNAL_SHOWN) };
      },
    },
    {
      method: 'GET',
      pattern: '/rescue-log',
      summary: "the rescue system's log (p2/ramdisk.log): what it did at the last update, rollback or technician's session; its end when long",
      response: RescueLog,
      tag: 'update',
      handler: () => readRescueLog(ramdiskLog),
    },
    {
      method: 'PUT',
      pattern: '/boot',
      summary: 'set the boot control for the next boot ({"mode": "normal"|"rescue"})',
      body: T.Object({ mode: T.String({ description: 'normal or rescue' }) }),
      response: BootView,
      handler: ({ body }) => boot.set(parseMode(objectBody(body).mode)),
    },
  ];
}

/** The log, or its last RESCUE_LOG_SHOWN bytes from the start of a line; a missing file is a box whose rescue never ran. */
async function readRescueLog(file: string): Promise<RescueLog> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { exists: false, bytes: 0, modifiedAt: null, text: '', truncated: false };
    throw err;
  }
  try {
    const info = await handle.stat();
    const start = Math.max(0, info.size - RESCUE_LOG_SHOWN);
    const buffer = Buffer.alloc(info.size - start);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, start);
    const text = buffer.subarray(0, bytesRead).toString('utf8');
    return { exists: true, bytes: info.size, modifiedAt: info.mtime.toISOString(), text: start > 0 ? text.slice(text.indexOf('\n') + 1) : text, truncated: start > 0 };
  } finally {
    await handle.close();
  }
}
