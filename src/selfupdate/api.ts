// The supervisor's own update in the admin API.
import { objectBody, T, type ApiRoute } from '../api';
import { InvalidField } from '../errors';
import { JobView } from '../jobs';
import type { SelfUpdate } from './index';
import { SelfUpdateState } from './views';

export function selfUpdateRoutes(self: SelfUpdate): ApiRoute[] {
  return [
    {
      method: 'GET',
      pattern: '/supervisor/update',
      summary: "the running supervisor's version and build, the newest build of it the App Store offers, why it cannot update itself, and a failed update",
      response: SelfUpdateState,
      handler: () => self.state(),
    },
    {
      method: 'POST',
      pattern: '/supervisor/update',
      summary:
        'update the supervisor from the App Store ({"build"?, "force"?}: default the newest, only a newer one unless forced): download and verify its signed package, stage it, restart into it (a job; app WebSockets drop once); refused unless it runs from /apps/manager under init',
      status: 202,
      body: T.Object({
        build: T.Optional(T.String({ description: 'a build number (default: the newest)' })),
        force: T.Optional(T.Boolean({ description: 'also when it is not newer than the running build' })),
      }),
      response: JobView,
      errors: ['UNSUPPORTED', 'CONFLICT', 'NOT_FOUND', 'NO_STORE', 'NO_TRUSTED_KEYS', 'BAD_STORE', 'BAD_PACKAGE', 'STORE_UNAVAILABLE', 'DOWNLOAD_FAILED'],
      handler: ({ body }) => {
        const b = objectBody(body);
        if (b.build !== undefined && typeof b.build !== 'string') throw new InvalidField('build', 'expected a build number as a string');
        if (b.force !== undefined && typeof b.force !== 'boolean') throw new InvalidField('force', 'expected true or false');
        return self.startUpdate({ build: b.build as string | undefined, force: b.force === true });
      },
    },
  ];
}
