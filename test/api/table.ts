import type { ApiRoute } from '../../src/api';
import { loadConfig } from '../../src/config';
import { layout } from '../../src/paths';
import { Budget } from '../../src/budget';
import { apiRoutes } from '../../src/supervisor/table';
import { Certificates } from '../../src/tls';

// The whole table as src/supervisor/compose.ts builds it (the same function); handlers never run here, so the parts they would call are absent.
const absent = {} as never;
const config = loadConfig({ flags: {}, env: {}, cwd: '/nonexistent' });
export const table: readonly ApiRoute[] = apiRoutes({
  config,
  paths: layout('/nonexistent'),
  log: absent,
  settings: absent,
  status: absent,
  diagnostics: absent,
  database: absent,
  auth: absent,
  tokens: absent,
  instances: absent,
  services: absent,
  certificates: new Certificates(absent),
  monitor: absent,
  jobs: absent,
  analyse: absent,
  vacuumTarget: absent,
  backups: absent,
  backupSchedule: absent,
  updater: absent,
  boot: absent,
  appStore: absent,
  selfUpdate: absent,
  budget: new Budget(absent),
  replication: absent,
});
