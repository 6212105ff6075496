// The Manager password in the admin API, for root on the box: a reset without
// the old password (it was forgotten). A session changes it over HTTP with the
// current one (POST /password, served by the Manager's transport).
import { route, T, type ApiRoute } from '../api';
import type { ManagerAuth } from './index';

export function authRoutes(auth: Pick<ManagerAuth, 'resetPassword'>): ApiRoute[] {
  return [
    route({
      method: 'POST',
      pattern: '/password/reset',
      // Knowing no password at all is the point: only root on the box (the admin socket) may.
      local: true,
      tag: 'password',
      summary: 'set the Manager password without the current one ({"password"}, the same rules as a change); every session ends (ap ctl password)',
      body: T.Object({ password: T.String() }),
      response: T.Object({ set: T.Literal(true) }),
      handler: async ({ body }) => {
        await auth.resetPassword(body.password);
        return { set: true };
      },
    }),
  ];
}
