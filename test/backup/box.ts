// What the backup API tests share: a migrated manager database on the test
// cluster, instances, jobs and the backup routes over them, and the clean-up.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Api } from '../../src/api';
import { BackupKey, BackupRecords, backupRoutes, Backups, BackupSchedule } from '../../src/backup';
import { findPgBin, findPgTools, migrate, MIGRATIONS, settings } from '../../src/db';
import { Instances } from '../../src/instances';
import { Jobs } from '../../src/jobs';
import { createLogger } from '../../src/log';
import { createTestDatabase, stopTestCluster, testCluster, type TestCluster, type TestDatabase } from '../harness/pg';
import { workspace } from '../harness/workspace';

export interface BackupBox {
  readonly cluster: TestCluster;
  readonly db: TestDatabase;
  readonly dir: string;
  readonly instances: Instances;
  readonly jobs: Jobs;
  readonly api: Api;
  /** The box's backup key, in the box's folder (none at first). */
  readonly key: BackupKey;
  /** Each instance's last backup (in memory: the folder is the upload folder, which tests expect empty). */
  readonly records: BackupRecords;
  /** Drops the instances' databases and roles, the manager database, and the folder. */
  close(): Promise<void>;
}

export async function backupBox(prefix: string): Promise<BackupBox> {
  const log = createLogger({ level: 'error', file: null });
  const cluster = await testCluster();
  const db = await createTestDatabase();
  await migrate(db.sql, MIGRATIONS, log);
  const dir = await workspace(prefix);
  const instances = await Instances.open({
    sql: db.sql,
    cluster: { socketDir: cluster.socketDir, port: cluster.port },
    services: { installed: () => true, running: () => false, control: () => false },
    log,
    checkRoutes: () => {},
    closeConnections: () => {},
  });
  const jobs = new Jobs();
  const store = settings(db.sql);
  const key = new BackupKey(join(dir, 'backup.key'), log);
  const records = new BackupRecords();
  const backups = new Backups({
    key,
    records,
    sql: db.sql,
    instances,
    jobs,
    settings: store,
    log,
    tools: () => findPgTools(findPgBin(process.env.AP_PG_BIN ?? null)),
    cluster: { socketDir: cluster.socketDir, port: cluster.port },
    serviceInfo: () => ({ version: '1.0.0', label: '100001' }),
    supervisor: { version: '0.0.0', label: 'test' },
    boxLabel: () => 'test',
    mac: () => '',
    schemaVersion: () => MIGRATIONS.at(-1)!.version,
    latestSchema: MIGRATIONS.at(-1)!.version,
    afterManagerRestore: async () => {},
  });
  const api = new Api(backupRoutes(backups, new BackupSchedule({ backups, settings: store, log }), dir), { checkResponses: true });
  return {
    cluster,
    db,
    dir,
    instances,
    jobs,
    api,
    key,
    records,
    async close() {
      const rows = await db.sql<{ db_name: string; db_user: string }[]>`SELECT db_name, db_user FROM instances`;
      for (const r of rows) {
        await db.sql.unsafe(`DROP DATABASE IF EXISTS "${r.db_name}" WITH (FORCE)`);
        await db.sql.unsafe(`DROP ROLE IF EXISTS "${r.db_user}"`);
      }
      await db.drop();
      await stopTestCluster();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
