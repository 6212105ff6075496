import type { ApiRoute } from '../../src/api';
import { backupRoutes } from '../../src/backup';
import { settingRoutes } from '../../src/db';
import { updateRoutes } from '../../src/image';
import { instanceRoutes } from '../../src/instances';
import { jobRoutes } from '../../src/jobs';
import { monitorRoutes } from '../../src/monitor';
import { serviceRoutes } from '../../src/services';
import { storeRoutes } from '../../src/store';
import { supervisorRoutes } from '../../src/supervisor/routes';
import { systemRoutes } from '../../src/system';
import { Certificates } from '../../src/tls';

// The whole table as src/supervisor/compose.ts builds it; handlers never run here, so the parts they would call are absent.
const absent = {} as never;
export const table: readonly ApiRoute[] = [
  ...serviceRoutes(absent, { logs: '/nonexistent', coreDumps: '/nonexistent' }, { jobs: absent, workDir: '/nonexistent', developerMode: async () => false }),
  ...new Certificates(absent).routes(),
  ...supervisorRoutes({ config: absent, status: absent, database: absent, diagnostics: absent }),
  ...systemRoutes({ rebootCommand: 'none', shutdownCommand: 'none', passwdCommand: 'none', log: absent }),
  ...instanceRoutes(absent, { jobs: absent, target: absent, analyse: absent }),
  ...backupRoutes(absent, absent, '/nonexistent'),
  ...jobRoutes(absent),
  ...monitorRoutes(absent),
  ...updateRoutes(absent, absent),
  ...settingRoutes(absent),
  ...storeRoutes(absent),
];
