// Image update and boot control in the admin API.
import { objectBody, T, type ApiRoute } from '../api';
import { JobView } from '../jobs';
import { parseMode, type BootControl } from '../boot';
import { InvalidField } from '../errors';
import type { Updater } from './index';
import { BootView } from '../boot';
import { UpdateState } from './views';

export function updateRoutes(updater: Updater, boot: BootControl): ApiRoute[] {
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
      method: 'PUT',
      pattern: '/boot',
      summary: 'set the boot control for the next boot ({"mode": "normal"|"rescue"})',
      body: T.Object({ mode: T.String({ description: 'normal or rescue' }) }),
      response: BootView,
      handler: ({ body }) => boot.set(parseMode(objectBody(body).mode)),
    },
  ];
}
