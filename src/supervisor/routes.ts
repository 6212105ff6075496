// The API routes about the supervisor itself: its status, the database it
// runs on, and the diagnostics for a support case.
import { AlarmView } from '../alarms';
import { T, type ApiRoute, type Static } from '../api';
import type { Config } from '../config';
import type { Database } from '../db';
import { JobView } from '../jobs';
import { DatabaseView, StatusView, type Status } from './views';

export type { Status } from './views';

export const DiagnosticsView = T.Object({
  status: StatusView,
  node: T.String({ description: 'the Node.js version' }),
  sessions: T.Integer({ description: 'open Manager sessions' }),
  jobs: T.Array(JobView, { description: 'the newest 20' }),
  alarms: T.Object({ active: T.Array(AlarmView), cleared: T.Array(AlarmView, { description: 'the newest 50' }) }),
});
export type Diagnostics = Static<typeof DiagnosticsView>;

export interface SupervisorRoutes {
  readonly config: Config;
  readonly status: () => Status;
  readonly database: Pick<Database, 'health' | 'start'>;
  /** What else a support case needs: sessions, recent jobs, alarms. */
  readonly diagnostics: () => Omit<Diagnostics, 'status' | 'node'>;
}

export function supervisorRoutes({ config, status, database, diagnostics }: SupervisorRoutes): ApiRoute[] {
  return [
    {
      method: 'GET',
      pattern: '/diagnostics',
      summary: 'for a support case: versions, memory, sessions, recent jobs, alarms raised and cleared',
      response: DiagnosticsView,
      handler: () => ({ status: status(), node: process.versions.node, ...diagnostics() }),
    },
    { method: 'GET', pattern: '/database', summary: 'the database: mode, up / down since / restarting / given up, restarts', response: DatabaseView, handler: () => ({ mode: config.db.mode, ...database.health() }) },
    {
      method: 'POST',
      pattern: '/database/start',
      summary: 'a managed cluster that was given up after dying too often: start it again (attached: check it now)',
      response: DatabaseView,
      handler: async () => ({ mode: config.db.mode, ...(await database.start()) }),
    },
    { method: 'GET', pattern: '/status', summary: "the supervisor's state: version, board, ports, database, services, memory", response: StatusView, handler: () => status() },
  ];
}
