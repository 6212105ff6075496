// The admin API's route table: every subsystem's routes, from the parts the
// composition root made. One list, so what the supervisor serves and what the
// OpenAPI document and the tests read are the same routes.
import type { ApiRoute } from '../api';
import { authRoutes, type ManagerAuth } from '../auth';
import { BACKUP_SETTINGS, backupRoutes, type Backups, type BackupSchedule } from '../backup';
import type { BootControl } from '../boot';
import type { Budget } from '../budget';
import type { Config } from '../config';
import { settingRoutes, settingValue, type Database, type Settings } from '../db';
import { updateRoutes, type Updater } from '../image';
import { Installer, installerRoutes, type InstallerMode } from '../installer';
import { databaseObjects, instanceRoutes, type AdmitInstance, type Instances, type NightlyAnalyse } from '../instances';
import { jobRoutes, type Jobs } from '../jobs';
import type { Logger } from '../log';
import { monitorRoutes, type Monitor } from '../monitor';
import { byInstaller, markByInstaller } from '../packages';
import type { Paths } from '../paths';
import { REPLICATION_SETTINGS, replicationRoutes, type ReplicationControl, type ReplicationWatch } from '../replication';
import { selfUpdateRoutes, type SelfUpdate } from '../selfupdate';
import { serviceRoutes, type Services } from '../services';
import { storeRoutes, type AppStore } from '../store';
import { systemRoutes } from '../system';
import type { Certificates } from '../tls';
import { tokenRoutes, type ApiTokens } from '../tokens';
import { supervisorRoutes, type Diagnostics, type Status } from './routes';

export interface ApiParts {
  readonly config: Config;
  readonly paths: Paths;
  readonly log: Logger;
  readonly settings: Settings;
  readonly status: () => Status;
  readonly diagnostics: () => Omit<Diagnostics, 'status' | 'node'>;
  readonly database: Database;
  readonly auth: ManagerAuth;
  readonly tokens: ApiTokens;
  readonly instances: Instances;
  readonly services: Services;
  readonly certificates: Certificates;
  readonly monitor: Monitor;
  readonly jobs: Jobs;
  readonly analyse: NightlyAnalyse;
  readonly vacuumTarget: Parameters<typeof instanceRoutes>[1]['target'];
  readonly backups: Backups;
  readonly backupSchedule: BackupSchedule;
  readonly updater: Updater;
  readonly boot: BootControl;
  readonly appStore: AppStore;
  readonly selfUpdate: SelfUpdate;
  readonly budget: Budget;
  readonly replication: ReplicationControl;
  readonly replicationWatch?: ReplicationWatch;
}

export function apiRoutes(p: ApiParts): ApiRoute[] {
  const { config, paths } = p;
  const admitInstance: AdmitInstance = (service, id, force) => p.budget.instance(service, id, force);
  return [
    ...serviceRoutes(
      p.services,
      { logs: paths.appLogs, coreDumps: paths.coreDumps },
      { jobs: p.jobs, workDir: paths.data, developerMode: async () => (await settingValue(p.settings, 'developerMode')) === 'true' },
      (name, force) => p.budget.startService(name, force),
    ),
    ...p.certificates.routes(),
    ...supervisorRoutes({ config, status: p.status, database: p.database, services: p.services, diagnostics: p.diagnostics }),
    ...authRoutes(p.auth),
    ...tokenRoutes(p.tokens),
    ...systemRoutes({ rebootCommand: config.update.rebootCommand, shutdownCommand: config.update.shutdownCommand, passwdCommand: config.system.passwdCommand, log: p.log }),
    ...instanceRoutes(p.instances, { jobs: p.jobs, target: p.vacuumTarget, analyse: p.analyse }, admitInstance),
    ...p.budget.routes(),
    ...backupRoutes(p.backups, p.backupSchedule, paths.data),
    ...jobRoutes(p.jobs),
    ...monitorRoutes(p.monitor),
    ...updateRoutes(p.updater, p.boot, paths.ramdiskLog),
    ...settingRoutes(p.settings, { ...BACKUP_SETTINGS, ...REPLICATION_SETTINGS }),
    ...storeRoutes(p.appStore),
    ...installerRoutes(
      new Installer({
        mode: async () => (await settingValue(p.settings, 'installerMode')) as InstallerMode,
        dnsName: () => settingValue(p.settings, 'dnsName'),
        store: p.appStore,
        services: p.services,
        instances: p.instances,
        jobs: p.jobs,
        admit: admitInstance,
        databaseLeft: async (instance) => {
          const found = await databaseObjects(p.database.sql, instance);
          return found.database || found.role;
        },
        origin: { mark: (service) => markByInstaller(p.database.sql, service), byInstaller: (service) => byInstaller(p.database.sql, service) },
      }),
    ),
    ...selfUpdateRoutes(p.selfUpdate),
    ...replicationRoutes(p.replication, p.replicationWatch),
  ];
}
