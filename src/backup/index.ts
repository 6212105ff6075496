// Backup and restore of instances and of the Manager, and the command file's
// schedule. A backup is a stream (format.ts) from pg_dump to its target, never
// a temporary copy; a restore verifies the whole file before anything changes,
// restores into a scratch database in one transaction, and only then swaps it
// in (Instances.installRestored). Every run is a job with progress.
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Sql } from 'postgres';
import { quoteIdent, SQLSTATE, sqlState, type Settings, type SettingSpecs } from '../db';
import { every, validTimeZone } from '../time';
import { ApError, describe, InvalidField, levelOf } from '../errors';
import { writeStreamAtomic } from '../fsutil';
import { formatDbHost, instanceId, validateCreate, type Instance, type Instances } from '../instances';
import type { JobControl, Jobs, JobView } from '../jobs';
import type { Logger } from '../log';
import { redactUrl } from '../net';
import { backupDue, expandHash, parseCommandFile, rollingIndex, type BackupCommand, type CommandFile, type Method } from './commands';
import { encrypted } from './crypt';
import { backupFile, dumpStream, readHeader, refuseWithoutKey, verifyBackupFile, type BackupMeta, type InstanceMeta, type VerifiedBackup } from './format';
import type { BackupKey } from './key';
import { pgDump, pgDumpVersion, pgRestore, pgRestoreList, pgRestoreScript, type PgConnection } from './pg';
import {
  checkRestoredInstances,
  copyManagerData,
  createRestoreRole,
  dropScratch,
  handOver,
  managerObjects,
  migrateScratch,
  migrateScratchToLatest,
  onDatabase,
  prepareDataOnly,
  privilegedRoles,
  refusePrivileged,
} from './restore';
import { auditInstanceToc, auditManagerToc, parseToc, ScriptScanner, type TocEntry } from './toc';
import { counted, toUrl } from './targets';
import { planRestoreTarget } from './target';
import type { BackupRecords } from './records';

export { parseCommandFile, CommandFileError, expandHash, backupDue, utcStamp, rollingIndex } from './commands';
export { verifyBackupFile, backupFile, type BackupMeta } from './format';
export { BackupKey, keyOfFile } from './key';
export { BackupRecords } from './records';
export { BackupRecordList, BackupRecordView } from './views';
export { decrypted, isEncrypted, keyFromText } from './crypt';

export type Destination = { readonly file: string } | { readonly url: string; readonly method: Method };

/** A backup file as it is made: `cancel` kills pg_dump at once; `encrypted` tells, once it started, whether a key encrypts it. */
interface DumpStream {
  readonly chunks: AsyncGenerator<Buffer>;
  readonly cancel: () => void;
  readonly encrypted: () => boolean;
}

export interface BackupsOptions {
  /** Superuser pool on the manager database. */
  readonly sql: Sql;
  readonly instances: Instances;
  readonly jobs: Jobs;
  /** The backup key: while one is set, every backup written is encrypted with it. */
  readonly key: BackupKey;
  /** Each instance's last backup: every instance backup ends there, a job's or a download's. */
  readonly records: BackupRecords;
  readonly settings: Settings;
  readonly log: Logger;
  /** Folder of pg_dump and pg_restore (looked up when needed). */
  readonly tools: () => string;
  readonly cluster: { readonly socketDir: string; readonly port: number };
  /** An installed service's version and label, for the backup's description and #A. */
  readonly serviceInfo: (service: string) => { readonly version: string; readonly label: string } | null;
  readonly supervisor: { readonly version: string; readonly label: string };
  /** #L: the App Platform (image) label. */
  readonly boxLabel: () => string;
  /** #m: the MAC address, hex digits. */
  readonly mac: () => string;
  readonly schemaVersion: () => number;
  /** The newest manager schema this supervisor knows. */
  readonly latestSchema: number;
  /** After the manager database was restored: migrate it, reload instances and certificate. */
  readonly afterManagerRestore: () => Promise<void>;
  /** An upload that moves no data for this long fails. */
  readonly stallMs?: number;
  /** On a standby: its standby.conf now, which its Manager backups carry (its settings are not in the read-only database). */
  readonly standbyConf?: () => string;
  readonly now?: () => Date;
}

export interface RestoreOptions {
  /** Restore under another name and/or domain (a clone, with its own database). */
  readonly name?: string;
  readonly domain?: string;
  readonly path?: string;
  readonly dbName?: string;
  readonly dbUser?: string;
  /**
   * The instance (name@domain) to overwrite, or whose database left by a
   * deleted one to overwrite: only the instance the restore makes, never
   * implied by the file (see target.ts).
   */
  readonly replace?: string;
}

const SEED_EXTERNAL = 'its database is on an external database host: the App Platform does not restore there, as the seed says; restore the dump by hand with pg_restore on that host';

export class Backups {
  /** pg_dump --version, asked once (it is a blocking call). */
  private pgDumpVersion: string | null = null;
  /** Dumps running now: stop() ends them, so no pg_dump outlives the supervisor. */
  private readonly dumps = new Set<AbortController>();

  constructor(private readonly options: BackupsOptions) {}

  get key(): BackupKey {
    return this.options.key;
  }

  get records(): BackupRecords {
    return this.options.records;
  }

  /** What reading an encrypted file needs: the key as it is now. */
  private readonly keySource = () => this.options.key.read();

  private get local(): PgConnection {
    return { host: this.options.cluster.socketDir, port: this.options.cluster.port, user: 'postgres' };
  }

  private now(): Date {
    return (this.options.now ?? (() => new Date()))();
  }

  /** Ends every dump still running (pg_dump is killed): at shutdown. */
  async stop(): Promise<void> {
    for (const dump of this.dumps) dump.abort();
  }

  /** The backup file of `meta` around a pg_dump; `cancel` kills pg_dump at once, even while it waits for a lock. */
  private dump(meta: BackupMeta, tools: string, conn: PgConnection, database: string): DumpStream {
    const controller = new AbortController();
    const dumps = this.dumps;
    const key = this.options.key;
    let sealed = false;
    async function* tracked(): AsyncGenerator<Buffer> {
      dumps.add(controller);
      try {
        // The key as it is when the backup starts: the whole file is written with it, or plain.
        const secret = await key.read();
        sealed = secret !== null;
        const file = backupFile(meta, pgDump(tools, conn, database, controller.signal));
        yield* secret ? encrypted(secret, file) : file;
      } finally {
        dumps.delete(controller);
      }
    }
    return { chunks: tracked(), cancel: () => controller.abort(), encrypted: () => sealed };
  }

  /** The backup stream of instance `id` (for a file, an upload, or an HTTP download). */
  /** `name`: the instance's database name, as in the seed's how-to's file name (backup-<name>.dump). */
  private instanceBackup(id: string): DumpStream & { meta: BackupMeta; name: string } {
    const instance = this.options.instances.get(id);
    if (instance.phase !== 'ready') throw new ApError('CONFLICT', `instance ${id} is not ready`);
    const info = this.options.serviceInfo(instance.service);
    const tools = this.options.tools();
    this.pgDumpVersion ??= pgDumpVersion(tools);
    const e = instance.external;
    const meta: BackupMeta = {
      format: 2,
      kind: 'instance',
      createdAt: this.now().toISOString(),
      supervisor: this.options.supervisor,
      pgDump: this.pgDumpVersion,
      instance: {
        service: instance.service,
        serviceVersion: info?.version ?? null,
        serviceLabel: info?.label ?? null,
        name: instance.name,
        domain: instance.domain,
        path: instance.path,
        password: instance.password,
        dbName: instance.dbName,
        dbUser: instance.dbUser,
        traceFlags: instance.traceFlags,
        excludeFromBackup: instance.excludeFromBackup,
        maxBodyBytes: instance.maxBodyBytes,
        external: e ? { host: formatDbHost(e), name: e.name } : null,
      },
    };
    const stream = e
      ? this.dump(meta, tools, { host: e.host, port: e.port, user: e.user, password: e.password, sslmode: 'prefer' }, e.name)
      : this.dump(meta, tools, this.local, instance.dbName);
    return { meta, ...stream, name: instance.dbName };
  }

  /** The backup stream of the manager database. */
  managerBackup(): DumpStream & { meta: BackupMeta } {
    const tools = this.options.tools();
    this.pgDumpVersion ??= pgDumpVersion(tools);
    const meta: BackupMeta = {
      format: 2,
      kind: 'manager',
      createdAt: this.now().toISOString(),
      supervisor: this.options.supervisor,
      pgDump: this.pgDumpVersion,
      schemaVersion: this.options.schemaVersion(),
      ...(this.options.standbyConf ? { standbyConf: this.options.standbyConf() } : {}),
    };
    return { meta, ...this.dump(meta, tools, this.local, 'manager') };
  }

  /**
   * The backup of instance `id` for a download, recorded when it ends; one the
   * client cut off is not (stopping a download is its choice, not a failed backup).
   */
  instanceDownload(id: string): DumpStream & { name: string } {
    const target = instanceId(this.options.instances.get(id));
    const stream = this.instanceBackup(target);
    const records = this.options.records;
    let cut = false;
    async function* recorded(): AsyncGenerator<Buffer> {
      let bytes = 0;
      try {
        for await (const chunk of stream.chunks) {
          bytes += chunk.length;
          yield chunk;
        }
      } catch (err) {
        if (!cut) records.failed(target, describe(err));
        throw err;
      }
      records.succeeded(target, bytes);
    }
    return { ...stream, chunks: recorded(), cancel: () => ((cut = true), stream.cancel()) };
  }

  startInstanceBackup(id: string, destination: Destination): JobView {
    const instance = this.options.instances.get(id);
    const target = instanceId(instance);
    return this.options.jobs.start('backup', target, `backing up ${target} to ${describeDestination(destination)}`, async (job) => {
      let sent: { bytes: number; written: string };
      try {
        sent = await this.send(this.instanceBackup(target), destination, job);
      } catch (err) {
        this.options.records.failed(target, describe(err));
        throw err;
      }
      this.options.records.succeeded(target, sent.bytes);
      return `backed up ${target} to ${describeDestination(destination)} (${sent.written})`;
    });
  }

  startManagerBackup(destination: Destination): JobView {
    return this.options.jobs.start('backup', 'manager', `backing up the Manager to ${describeDestination(destination)}`, (job) =>
      this.send(this.managerBackup(), destination, job).then(({ written }) => `backed up the Manager to ${describeDestination(destination)} (${written})`),
    );
  }

  /** Streams a backup to the destination, reporting bytes; says how much was written and what ("N bytes", and whether encrypted). */
  private async send({ chunks, encrypted }: DumpStream, destination: Destination, job: JobControl): Promise<{ bytes: number; written: string }> {
    const progress = counted(chunks, (bytes) => job.progress(bytes, null, 'sending'));
    try {
      const bytes = 'file' in destination ? await writeStreamAtomic(progress, destination.file) : await toUrl(progress, destination.url, { method: destination.method, stallMs: this.options.stallMs ?? 60_000 });
      return { bytes, written: `${bytes} bytes${encrypted() ? ', encrypted with the backup key' : ''}` };
    } finally {
      await chunks.return(undefined); // stops pg_dump if the target failed first
    }
  }

  /** Checks a backup file: framing, checksum, what the dump holds, and optionally a full restore into a scratch database. */
  async startVerify(path: string, restoreTest: boolean): Promise<JobView> {
    // A standby (it has a standby.conf) cannot create the scratch database: its cluster is read-only.
    if (restoreTest && this.options.standbyConf) throw new ApError('NOT_ON_STANDBY', 'a restore test creates a scratch database, which a standby cannot (its database is read-only): verify without --restore-test here, or test the restore on the primary');
    await refuseWithoutKey(path, this.keySource);
    return this.options.jobs.start('verify', path, `verifying ${path}`, async (job) => {
      const { backup, toc } = await this.check(path, job);
      let result = `${path}: ${backup.meta.kind === 'instance' ? 'an' : 'a'} ${backup.meta.kind} backup${backup.meta.instance ? ` of ${backup.meta.instance.name}@${backup.meta.instance.domain}` : ''} from ${backup.meta.createdAt}${backup.key ? ", encrypted with this box's backup key (it authenticates)" : ''}, checksum ok (sha256 ${backup.sha256.slice(0, 16)}…), pg_restore reads it and it holds nothing a restore refuses`;
      if (restoreTest) {
        const scratch = `ap_restore_${randomBytes(6).toString('hex')}`;
        job.progress(0, null, `restoring into scratch database ${scratch}`);
        try {
          if (backup.meta.kind === 'manager') await this.restoreManagerScratch(backup, toc, scratch, job.signal);
          else await this.restoreInstanceScratch(backup, toc, scratch, job.signal);
        } finally {
          await dropScratch(this.options.sql, scratch);
        }
        result += '; it restores completely (into a scratch database, dropped again)';
      }
      return result;
    });
  }

  /**
   * Verifies the file as a whole, reads the dump's table of contents, and
   * scans the SQL a restore would run; refuses (BAD_BACKUP) what no backup of
   * ours holds. Changes nothing.
   */
  private async check(path: string, job: JobControl): Promise<{ backup: VerifiedBackup; toc: TocEntry[] }> {
    const backup = await verifyBackupFile(path, (bytes, total) => job.progress(bytes, total, 'verifying the checksum'), this.keySource);
    job.progress(0, null, 'reading the dump with pg_restore --list');
    const toc = parseToc(await pgRestoreList(this.options.tools(), dumpStream(backup), job.signal));
    if (backup.meta.kind === 'instance') auditInstanceToc(toc);
    job.progress(0, backup.dumpLength, 'checking the statements in the dump');
    const scanner = new ScriptScanner();
    await pgRestoreScript(this.options.tools(), counted(dumpStream(backup), (bytes) => job.progress(bytes, backup.dumpLength, 'checking the statements in the dump')), (text) => scanner.write(text), job.signal);
    scanner.end();
    scanner.check();
    return { backup, toc };
  }

  /**
   * Restores an instance dump into a new scratch database, as a new role of
   * the same name that owns nothing else and may do nothing else; the role is
   * left for the caller to hand over or drop (dropScratch).
   */
  private async restoreInstanceScratch(backup: VerifiedBackup, toc: readonly TocEntry[], scratch: string, signal: AbortSignal, onBytes?: (bytes: number) => void): Promise<void> {
    const keep = auditInstanceToc(toc);
    const role = await createRestoreRole(this.options.sql, this.options.cluster, scratch);
    // Owned by the restore role, so what it creates may go into public (PostgreSQL 15: public belongs to the database owner).
    await this.options.sql.unsafe(`CREATE DATABASE ${quoteIdent(scratch)} OWNER ${quoteIdent(scratch)} ENCODING 'UTF8'`);
    const args = ['--exit-on-error', '--single-transaction', '--no-owner', '--no-acl', '-d', scratch];
    const input = onBytes ? counted(dumpStream(backup), onBytes) : dumpStream(backup);
    await pgRestore(this.options.tools(), role, args, input, keep.map((e) => e.line).join('\n') + '\n', signal);
  }

  /**
   * Restores a Manager dump into a new scratch database: the supervisor makes
   * the manager schema of the backup's version there itself, the restore role
   * may only insert rows into its tables, pg_restore restores only their
   * data; then the schema is brought up to date.
   */
  private async restoreManagerScratch(backup: VerifiedBackup, toc: readonly TocEntry[], scratch: string, signal: AbortSignal, onBytes?: (bytes: number) => void): Promise<void> {
    const version = backup.meta.schemaVersion ?? 0;
    if (version > this.options.latestSchema) {
      throw new ApError('BAD_BACKUP', `${backup.path} has manager schema ${version}, newer than this supervisor knows (${this.options.latestSchema}): update first`);
    }
    const sql = this.options.sql;
    await sql.unsafe(`CREATE DATABASE ${quoteIdent(scratch)} ENCODING 'UTF8'`);
    const role = await createRestoreRole(sql, this.options.cluster, scratch);
    await onDatabase(this.options.cluster, scratch, async (db) => {
      await migrateScratch(db, version);
      const { tables, sequences } = await managerObjects(db);
      const keep = auditManagerToc(toc, tables, sequences);
      await prepareDataOnly(db, scratch, scratch, tables);
      const args = ['--data-only', '--exit-on-error', '--single-transaction', '--no-owner', '--no-acl', '-d', scratch];
      const input = onBytes ? counted(dumpStream(backup), onBytes) : dumpStream(backup);
      await pgRestore(this.options.tools(), role, args, input, keep.map((e) => e.line).join('\n') + '\n', signal);
      await migrateScratchToLatest(db);
      await checkRestoredInstances(db, sql);
    });
  }

  /**
   * Restores an instance backup (the file is verified first; nothing changes
   * if it is bad). A restore onto the wrong instance is refused before the
   * job starts, from the file's header; the job checks again.
   */
  async startRestore(path: string, options: RestoreOptions = {}): Promise<JobView> {
    await refuseWithoutKey(path, this.keySource);
    const meta = await readHeader(path);
    if (meta?.kind === 'instance') this.restoredInstance(meta.instance!, options);
    return this.options.jobs.start('restore', path, `restoring ${path}`, (job) => this.restoreInstance(path, options, job));
  }

  /**
   * Restores from an upload, as a job from the first byte (its progress is the
   * upload's, and an upload cut off fails it at once): the bytes are saved
   * under `dir` (a restore verifies the whole file before it changes anything,
   * and a backup's description is at its end), its description is checked as
   * a file's is (a restore onto the wrong instance, a standby's Manager
   * backup: the job fails with that code, nothing changed), then it is
   * restored. The saved copy is removed afterwards either way.
   */
  async startRestoreUpload(body: AsyncIterable<Buffer>, dir: string, options: RestoreOptions | 'manager'): Promise<JobView> {
    const what = options === 'manager' ? 'the Manager' : 'an instance';
    return this.options.jobs.start('restore', 'upload', `receiving a backup of ${what}`, async (job) => {
      const path = join(dir, `upload-${randomBytes(6).toString('hex')}.dump`);
      try {
        await writeStreamAtomic(body, path, { onBytes: (bytes) => job.progress(bytes, null, 'receiving the upload') });
        const meta = await readHeader(path);
        if (options === 'manager') {
          refuseStandbyBackup(meta, path);
          return await this.restoreManager(path, job);
        }
        if (meta?.kind === 'instance') this.restoredInstance(meta.instance!, options);
        return await this.restoreInstance(path, options, job);
      } catch (err) {
        // The saved copy's name is ours, not the person's: their file is "the uploaded file".
        throw renamed(err, path, 'the uploaded file');
      } finally {
        await rm(path, { force: true });
      }
    });
  }

  private async restoreInstance(path: string, options: RestoreOptions, job: JobControl): Promise<string> {
    const { backup, toc } = await this.check(path, job);
    if (backup.meta.kind !== 'instance') throw new ApError('BAD_BACKUP', `${path} is a ${backup.meta.kind} backup, not an instance backup`);
    const next = this.restoredInstance(backup.meta.instance!, options);
    const id = instanceId(next);
    const sql = this.options.sql;
    refusePrivileged(await privilegedRoles(sql, [next.dbUser]), `the restore of ${id}`);
    job.progress(0, backup.dumpLength, `restoring into a scratch database for ${id}`);
    const scratch = `ap_restore_${randomBytes(6).toString('hex')}`;
    let roleCreated = false;
    try {
      await this.restoreInstanceScratch(backup, toc, scratch, job.signal, (bytes) => job.progress(bytes, backup.dumpLength, `restoring into a scratch database for ${id}`));
      try {
        await sql.unsafe(`CREATE USER ${quoteIdent(next.dbUser)}`);
        roleCreated = true;
      } catch (err) {
        if (sqlState(err) !== SQLSTATE.duplicateObject) throw err;
      }
      // Every object, and the database, becomes the instance user's (also in a clone); the restore role goes.
      await onDatabase(this.options.cluster, scratch, (db) => handOver(db, scratch, next.dbUser));
      await sql.unsafe(`DROP ROLE ${quoteIdent(scratch)}`);
      job.progress(backup.dumpLength, backup.dumpLength, `putting ${id} in place`);
      await this.options.instances.installRestored(next, scratch, options.replace !== undefined);
    } catch (err) {
      await dropScratch(sql, scratch).catch(() => {});
      if (roleCreated) await sql.unsafe(`DROP ROLE IF EXISTS ${quoteIdent(next.dbUser)}`).catch(() => {});
      throw err;
    }
    return `restored ${id} (backup of ${backup.meta.instance!.name}@${backup.meta.instance!.domain} from ${backup.meta.createdAt})`;
  }

  /** The instance a restore makes: the backup's, or a clone under another name, or the one it replaces with the backup's settings. */
  private restoredInstance(meta: InstanceMeta, options: RestoreOptions): Instance {
    if (meta.external) throw new ApError('EXTERNAL_DB', `the backup of ${meta.name}@${meta.domain} was taken from an external database host (${meta.external.host}); ${SEED_EXTERNAL}`);
    const name = options.name ?? meta.name;
    const domain = options.domain ?? meta.domain;
    const { id, clone, existing } = planRestoreTarget(meta, options, (key) => {
      try {
        return this.options.instances.get(key);
      } catch (err) {
        if (err instanceof ApError && err.code === 'NOT_FOUND') return null;
        throw err;
      }
    });
    if (existing) {
      if (existing.external) throw new ApError('EXTERNAL_DB', `instance ${id}: ${SEED_EXTERNAL}`);
      if (existing.service !== meta.service) throw new ApError('CONFLICT', `instance ${id} is of service ${existing.service}; the backup is of ${meta.service}`);
      return {
        ...existing,
        password: meta.password,
        traceFlags: meta.traceFlags,
        excludeFromBackup: meta.excludeFromBackup,
        maxBodyBytes: meta.maxBodyBytes,
        ...(options.path ? { path: options.path } : {}),
        wanted: 'running',
        phase: 'provisioning',
      };
    }
    return validateCreate({
      service: meta.service,
      name,
      domain,
      password: meta.password,
      traceFlags: meta.traceFlags,
      excludeFromBackup: meta.excludeFromBackup,
      ...(meta.maxBodyBytes === null ? {} : { maxBodyBytes: meta.maxBodyBytes }),
      ...(options.path ? { path: options.path } : clone ? {} : { path: meta.path }),
      ...(options.dbName ? { dbName: options.dbName } : clone ? {} : { dbName: meta.dbName }),
      ...(options.dbUser ? { dbUser: options.dbUser } : clone ? {} : { dbUser: meta.dbUser }),
    });
  }

  /** Restores the manager database (settings, instances) from a manager backup; the box's configuration comes back. */
  async startManagerRestore(path: string): Promise<JobView> {
    await refuseWithoutKey(path, this.keySource);
    refuseStandbyBackup(await readHeader(path), path);
    return this.options.jobs.start('restore', 'manager', `restoring the Manager from ${path}`, (job) => this.restoreManager(path, job));
  }

  private async restoreManager(path: string, job: JobControl): Promise<string> {
    const { backup, toc } = await this.check(path, job);
    if (backup.meta.kind !== 'manager') throw new ApError('BAD_BACKUP', `${path} is an instance backup, not a Manager backup`);
    refuseStandbyBackup(backup.meta, path);
    if ((backup.meta.schemaVersion ?? 0) > this.options.latestSchema) {
      throw new ApError('BAD_BACKUP', `${path} has manager schema ${backup.meta.schemaVersion}, newer than this supervisor knows (${this.options.latestSchema}): update first`);
    }
    job.progress(0, backup.dumpLength, 'restoring the manager database into a scratch database');
    const scratch = `ap_restore_${randomBytes(6).toString('hex')}`;
    try {
      await this.restoreManagerScratch(backup, toc, scratch, job.signal, (bytes) => job.progress(bytes, backup.dumpLength, 'restoring the manager database into a scratch database'));
      job.progress(backup.dumpLength, backup.dumpLength, 'putting the configuration in place');
      await this.options.instances.exclusive(() => onDatabase(this.options.cluster, scratch, (db) => copyManagerData(this.options.sql, db)));
    } finally {
      await dropScratch(this.options.sql, scratch).catch((err: unknown) => this.options.log.warn(`restore: dropping ${scratch}: ${describe(err)}`));
    }
    job.progress(backup.dumpLength, backup.dumpLength, 'bringing the configuration back');
    await this.options.afterManagerRestore();
    return `restored the Manager (backup from ${backup.meta.createdAt}); instances: ${this.options.instances.list().length}`;
  }

  /**
   * The standby.conf a standby's Manager backup carries (the whole file is
   * verified first); NOT_ON_STANDBY for any other backup: their restore writes
   * the database, which a standby cannot. Changes nothing.
   */
  async standbyConfIn(path: string): Promise<{ text: string; createdAt: string }> {
    const { meta } = await verifyBackupFile(path, undefined, this.keySource);
    if (meta.kind !== 'manager' || meta.standbyConf === undefined) {
      throw new ApError('NOT_ON_STANDBY', `${path} is ${meta.kind === 'manager' ? 'a Manager backup of a primary or standalone box' : 'an instance backup'}: its restore writes the database, which a standby cannot; restore it on the primary (a standby restores only a Manager backup taken on a standby, its standby.conf)`);
    }
    return { text: meta.standbyConf, createdAt: meta.createdAt };
  }

  /**
   * Runs the backups of a command file once, one after the other. `run` is
   * this run's number (for #bN). Resolves with how many failed.
   */
  async runCommands(file: CommandFile, runs: Readonly<Record<string, number>>): Promise<{ ok: number; failed: number; skipped: string[] }> {
    let ok = 0;
    let failed = 0;
    const skipped: string[] = [];
    const when = this.now();
    const mac = this.options.mac();
    const label = this.options.boxLabel();
    for (const command of file.backups) {
      const run = runs[String(command.line)] ?? 0;
      const values = (I: string, D: string, A: string) => ({ L: label, A, I, D, m: mac, d: when, b: (n: number) => rollingIndex(run, n) });
      const targets: { id: string | 'manager'; url: string }[] = [];
      if (command.kind === 'backup-manager' || command.kind === 'backup-instances') {
        targets.push({ id: 'manager', url: expandHash(command.url, values('manager', '', this.options.supervisor.label)) });
      }
      if (command.kind === 'backup-instances') {
        for (const instance of this.options.instances.list()) {
          if (instance.excludeFromBackup) {
            skipped.push(instanceId(instance));
            this.options.log.info(`backup: ${instanceId(instance)} is excluded from backup; skipped`);
            continue;
          }
          if (instance.phase !== 'ready') continue;
          targets.push({ id: instanceId(instance), url: expandHash(command.url, values(instance.name, instance.domain, this.options.serviceInfo(instance.service)?.label ?? '')) });
        }
      }
      if (command.kind === 'backup-instance') {
        const id = `${command.name}@${command.domain}`;
        let instance: Instance | null = null;
        try {
          instance = this.options.instances.get(id);
        } catch {
          failed++;
          this.options.log.warn(`backup (command file line ${command.line}): no instance ${id}`);
        }
        if (instance) targets.push({ id, url: expandHash(command.url, values(instance.name, instance.domain, this.options.serviceInfo(instance.service)?.label ?? '')) });
      }
      for (const target of targets) {
        const destination = { url: target.url, method: command.method };
        let job: JobView;
        try {
          job = target.id === 'manager' ? this.startManagerBackup(destination) : this.startInstanceBackup(target.id, destination);
        } catch (err) {
          failed++;
          this.options.log[levelOf(err)](`backup of ${target.id} (command file line ${command.line}) failed: ${describe(err)}`);
          continue;
        }
        const done = await this.options.jobs.settled(job.id);
        if (done?.state === 'succeeded') ok++;
        else {
          failed++;
          this.options.log.error(`backup of ${target.id} (command file line ${command.line}) FAILED: ${done?.message ?? 'unknown'}; retried at the next scheduled time`);
        }
      }
    }
    return { ok, failed, skipped };
  }
}

/** A standby's Manager backup (standby.conf) restores on a standby only (the seed: "not on a primary though!"). */
function refuseStandbyBackup(meta: BackupMeta | null, path: string): void {
  if (meta?.kind === 'manager' && meta.standbyConf !== undefined) {
    throw new ApError('STANDBY_BACKUP', `${path} is a Manager backup taken on a standby (it holds that standby's standby.conf): it restores on a standby only, not on a primary or standalone box; nothing was changed`);
  }
}

function describeDestination(destination: Destination): string {
  return 'file' in destination ? destination.file : `${destination.method} ${redactUrl(destination.url)}`;
}

// --- the command file's schedule ---

export const SETTING_COMMAND_FILE = 'commandFile';

/** The backup's own setting, the command file: checked by its parser before it is saved (db's settingRoutes serves it). */
export const BACKUP_SETTINGS: SettingSpecs = {
  [SETTING_COMMAND_FILE]: {
    label: 'Command file',
    default: '',
    check: (value) => {
      try {
        parseCommandFile(value);
      } catch (err) {
        throw new InvalidField(SETTING_COMMAND_FILE, (err as Error).message);
      }
      return value;
    },
    // URLs may carry user:password@: never shown.
    show: (value) => value.replace(/(https?:\/\/)[^/@\s]*@/gi, '$1***@'),
  },
};
const STATE_KEY = 'backupSchedule';

interface ScheduleState {
  /** Local hour of the last scheduled run, "YYYY-MM-DDTHH". */
  readonly lastKey: string | null;
  /** Runs so far per command-file line (by its text), for #bN. */
  readonly runs: Readonly<Record<string, number>>;
  readonly lastResult: string | null;
}

export interface BackupScheduleOptions {
  readonly backups: Backups;
  readonly settings: Settings;
  readonly log: Logger;
  readonly now?: () => Date;
  readonly intervalMs?: number;
}

/** Runs the command file's backups in its hours, once per hour across restarts and clock jumps. */
export class BackupSchedule {
  private stopTimer: (() => void) | null = null;
  /** Scheduled and manual runs, one at a time: each reads and writes the state inside. */
  private queue: Promise<unknown> = Promise.resolve();
  private reported: string | null = null;

  constructor(private readonly options: BackupScheduleOptions) {}

  start(): void {
    this.stopTimer = every(this.options.intervalMs ?? 60_000, () => this.tick(), (err) => this.options.log.error(`backup schedule: ${describe(err)}`));
  }

  async stop(): Promise<void> {
    this.stopTimer?.();
    this.stopTimer = null;
    await this.queue;
  }

  /** Looks at the clock; runs the backups when an hour of theirs has come. */
  tick(): Promise<void> {
    return this.exclusive(async () => {
      const file = await this.commandFile();
      if (!file || file.backups.length === 0) return;
      const timeZone = (await this.options.settings.get('timezone')) ?? 'UTC';
      const state = await this.state();
      const { key, due } = backupDue((this.options.now ?? (() => new Date()))(), validZone(timeZone), file.hours, state.lastKey);
      if (!due) return;
      // Recorded first: a crash during the run does not repeat the hour.
      await this.save({ ...state, lastKey: key });
      await this.run(file);
    });
  }

  /** Runs the command file's backups now (also the Manager's button); waits for a run in progress first. */
  runNow(): Promise<{ ok: number; failed: number; skipped: string[] }> {
    return this.exclusive(async () => {
      const commands = await this.commandFile();
      if (!commands) throw new ApError('NO_COMMAND_FILE', 'no valid command file is set (setting commandFile)');
      return this.run(commands);
    });
  }

  private async run(commands: CommandFile): Promise<{ ok: number; failed: number; skipped: string[] }> {
    const state = await this.state();
    const runs = Object.fromEntries(commands.backups.map((c) => [String(c.line), state.runs[lineKey(c)] ?? 0]));
    const result = await this.options.backups.runCommands(commands, runs);
    const counted: Record<string, number> = { ...state.runs };
    for (const c of commands.backups) counted[lineKey(c)] = (state.runs[lineKey(c)] ?? 0) + 1;
    const summary = `${result.ok} backed up, ${result.failed} failed${result.skipped.length ? `, ${result.skipped.length} excluded` : ''}`;
    await this.save({ ...(await this.state()), runs: counted, lastResult: `${new Date().toISOString()}: ${summary}` });
    this.options.log[result.failed ? 'error' : 'info'](`command file backups: ${summary}`);
    return result;
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => {});
    return run;
  }

  async status(): Promise<Record<string, unknown>> {
    const file = await this.commandFile();
    const state = await this.state();
    return {
      hours: file?.hours ?? null,
      backups: (file?.backups ?? []).map((c) => ({ line: c.line, kind: c.kind, url: redactUrl(c.url), method: c.method, ...(c.kind === 'backup-instance' ? { instance: `${c.name}@${c.domain}` } : {}) })),
      lastHour: state.lastKey,
      lastResult: state.lastResult,
    };
  }

  private async commandFile(): Promise<CommandFile | null> {
    const text = await this.options.settings.get(SETTING_COMMAND_FILE);
    if (text === null || text.trim() === '') return null;
    try {
      return parseCommandFile(text);
    } catch (err) {
      const message = describe(err);
      if (this.reported !== message) this.options.log.warn(`the stored command file is not valid (${message}); no scheduled backups until it is fixed`);
      this.reported = message;
      return null;
    }
  }

  private async state(): Promise<ScheduleState> {
    const text = await this.options.settings.get(STATE_KEY);
    const empty: ScheduleState = { lastKey: null, runs: {}, lastResult: null };
    if (text === null) return empty;
    try {
      return { ...empty, ...(JSON.parse(text) as Partial<ScheduleState>) };
    } catch {
      return empty;
    }
  }

  private async save(state: ScheduleState): Promise<void> {
    await this.options.settings.set(STATE_KEY, JSON.stringify(state));
  }
}

/** A command line's identity for its #bN counter: its text, so editing other lines keeps it. */
function lineKey(c: BackupCommand): string {
  return `${c.kind} ${c.url} ${c.kind === 'backup-instance' ? `${c.name} ${c.domain} ` : ''}${c.method}`;
}

function validZone(timeZone: string): string {
  return validTimeZone(timeZone) ? timeZone : 'UTC';
}
export { backupRoutes, boxLabel, macAddress } from './api';

/** `err` with `path` in its message said as `shown`, same code (its causes dropped: they would name `path` again). */
function renamed(err: unknown, path: string, shown: string): unknown {
  if (!(err instanceof Error) || !err.message.includes(path)) return err;
  const message = err.message.split(path).join(shown);
  return err instanceof ApError ? ApError.reported(err.code, message) : new Error(message);
}
