// The API routes about the supervisor itself: its status, the database it
// runs on, the diagnostics for a support case, and (root on the box only) a
// full GC for measurements.
import { AlarmView } from '../alarms';
import { T, type ApiRoute, type Static } from '../api';
import type { Config } from '../config';
import type { Database } from '../db';
import { ApError } from '../errors';
import { JobView } from '../jobs';
import type { Services } from '../services';
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
  /** Asked to collect their garbage too by POST /debug/gc. */
  readonly services: Pick<Services, 'list' | 'get'>;
}

const Bytes = T.Integer({ minimum: 0 });

export function supervisorRoutes({ config, status, database, diagnostics, services }: SupervisorRoutes): ApiRoute[] {
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
    {
      method: 'POST',
      pattern: '/debug/gc',
      // For benchmarks on the box (ap ctl debug gc); nothing a browser needs.
      local: true,
      summary: "a full garbage collection in the supervisor (started with node --expose-gc) and in every service; answers the supervisor's memory after it, with each V8 heap space",
      response: T.Object({
        rss: Bytes,
        heapTotal: Bytes,
        heapUsed: Bytes,
        external: Bytes,
        arrayBuffers: Bytes,
        spaces: T.Record(T.String(), T.Object({ size: Bytes, physical: Bytes, used: Bytes })),
      }),
      errors: ['GC_UNAVAILABLE'],
      handler: async () => {
        const gc = (globalThis as { gc?: () => void }).gc;
        if (!gc) throw new ApError('GC_UNAVAILABLE', 'start the supervisor with node --expose-gc to use this');
        for (const service of services.list()) services.get(service.name)?.requestGc();
        gc();
        // Where the heap's pages go, per V8 space (committed, physical, in use).
        const { getHeapSpaceStatistics } = await import('node:v8'); // not loaded at every start
        const spaces = Object.fromEntries(getHeapSpaceStatistics().map((s) => [s.space_name, { size: s.space_size, physical: s.physical_space_size, used: s.space_used_size }]));
        return { ...process.memoryUsage(), spaces };
      },
    },
  ];
}
