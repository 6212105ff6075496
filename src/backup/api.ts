// Backups and restores in the admin API. Local files are the supervisor's
// (root's) paths: the admin socket is root-only; the Manager's HTTP upload and
// download come with the Manager.
import { readdirSync, readFileSync, statfsSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { route, StreamBody, T, type ApiRoute, type UploadBody } from '../api';
import { InvalidField } from '../errors';
import { unwritableFile } from '../fsutil';
import { JobView } from '../jobs';
import type { BackupSchedule, Backups, Destination, RestoreOptions } from './index';
import { keyRoutes } from './key';
import { replaceTarget } from './target';
import { BackupRecordList } from './views';

function destination(body: Record<string, unknown>): Destination {
  const { file, url, method } = body;
  if ((file === undefined) === (url === undefined)) throw new InvalidField('destination', 'give either "file" (a path on the box) or "url" (http or https)');
  if (file !== undefined) return { file: absolutePath(file, 'file') };
  if (typeof url !== 'string') throw new InvalidField('url', 'expected a URL');
  const m = method === undefined ? 'PUT' : String(method).toUpperCase();
  if (m !== 'PUT' && m !== 'POST') throw new InvalidField('method', 'expected PUT or POST');
  return { url, method: m };
}

/** A file destination refused before its job starts when it cannot be written (a folder, or no such folder): a typo must not fail the instance's last backup. */
async function writable(to: Destination): Promise<Destination> {
  const unwritable = 'file' in to ? await unwritableFile(to.file) : null;
  if (unwritable) throw new InvalidField('file', unwritable.message);
  return to;
}

function absolutePath(value: unknown, field: string): string {
  if (typeof value !== 'string' || !isAbsolute(value) || value.includes('\0')) throw new InvalidField(field, 'expected an absolute path on the box');
  return value;
}

function optionalString(body: Record<string, unknown>, field: string): string | undefined {
  const value = body[field];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new InvalidField(field, 'expected a string');
  return value;
}

function restoreOptions(source: Record<string, unknown>): RestoreOptions {
  for (const key of Object.keys(source)) {
    if (!['file', 'name', 'domain', 'path', 'dbName', 'dbUser', 'replace'].includes(key)) throw new InvalidField(key, 'unknown field');
  }
  return {
    name: optionalString(source, 'name'),
    domain: optionalString(source, 'domain'),
    path: optionalString(source, 'path'),
    dbName: optionalString(source, 'dbName'),
    dbUser: optionalString(source, 'dbUser'),
    replace: source.replace === false || source.replace === 'false' ? undefined : replaceTarget(source.replace),
  };
}

const Destination = T.Object({
  file: T.Optional(T.String({ description: 'an absolute path on the box' })),
  url: T.Optional(T.String({ description: 'http or https; the body is PUT or POSTed there' })),
  method: T.Optional(T.String({ description: 'PUT (default) or POST' })),
});
const restoreFields = {
  name: T.Optional(T.String({ description: 'restore under this name (default: the backup\'s)' })),
  domain: T.Optional(T.String()),
  path: T.Optional(T.String()),
  dbName: T.Optional(T.String()),
  dbUser: T.Optional(T.String()),
};
const Replace = T.Union([T.String({ description: 'name@domain of the instance it overwrites' }), T.Boolean()]);
const RestoreBody = T.Object({ file: T.String({ description: 'an absolute path on the box' }), ...restoreFields, replace: T.Optional(Replace) }, { additionalProperties: false });
const RestoreQuery = T.Object({ ...restoreFields, replace: T.Optional(T.String({ description: 'name@domain of the instance it overwrites' })) });
const FileBody = T.Object({ file: T.String({ description: 'an absolute path on the box' }) });
const BACKUP = { type: 'application/octet-stream' } as const;
const JOB_ERRORS = ['CONFLICT', 'BUSY'] as const;
/** An encrypted file on the box is refused before its job starts when the box's key cannot open it (an upload's job fails so). */
const KEY_ERRORS = ['BACKUP_KEY_MISSING', 'BACKUP_KEY_WRONG', 'BAD_KEY'] as const;

/** The bytes free for an uploaded backup in `dir` (the data partition): a larger one could never be restored. */
function freeBytes(dir: string): number {
  try {
    const stats = statfsSync(dir);
    return stats.bavail * stats.bsize;
  } catch {
    return Number.MAX_SAFE_INTEGER; // cannot tell: writing it will say
  }
}

/** `uploadDir`: where an uploaded backup waits (on the data partition) while it is verified and restored. */
export function backupRoutes(backups: Backups, schedule: BackupSchedule, uploadDir: string): ApiRoute[] {
  const stamp = () => new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  // An encrypted download is no pg_dump archive: its name says so (ap ctl backup decrypt makes the .dump).
  const encryptedSuffix = async () => ((await backups.key.show()).set ? '.enc' : '');
  return [
    ...keyRoutes(backups.key),
    route({
      method: 'GET',
      pattern: '/backups/last',
      summary: "each instance's last backup: when it ended, ok or failed (and why), the last success and its size",
      response: BackupRecordList,
      handler: () => ({ records: backups.records.list() }),
    }),
    {
      method: 'GET',
      pattern: '/backups/instances/{id}/download',
      summary: 'an instance backup as the response body (application/octet-stream; encrypted, and named *.dump.enc, while a backup key is set)',
      download: BACKUP,
      secret: true, // the instance's data and password
      handler: async ({ params }) => {
        const suffix = await encryptedSuffix();
        const { chunks, name, cancel } = backups.instanceDownload(params.id!);
        return new StreamBody(chunks, 'application/octet-stream', `backup-${name}.dump${suffix}`, cancel);
      },
    },
    {
      method: 'GET',
      pattern: '/backups/manager/download',
      summary: 'a Manager backup as the response body (encrypted, and named *.dump.enc, while a backup key is set)',
      download: BACKUP,
      secret: true, // every instance's password, the Manager's password hash
      handler: async () => {
        const suffix = await encryptedSuffix();
        const { chunks, cancel } = backups.managerBackup();
        return new StreamBody(chunks, 'application/octet-stream', `backup-manager-${stamp()}.dump${suffix}`, cancel);
      },
    },
    route({
      method: 'POST',
      pattern: '/restores/instances/upload',
      summary: 'restore an instance from the uploaded body (?name, domain, path, dbName, dbUser; replace=<name@domain>: the instance it overwrites) (a job)',
      status: 202,
      upload: true,
      maxUpload: () => freeBytes(uploadDir),
      query: RestoreQuery,
      response: JobView,
      errors: ['UPLOAD_TOO_LARGE', 'UPLOAD_ABORTED', 'BAD_BACKUP', 'EXISTS', ...JOB_ERRORS],
      handler: ({ body, query }) => backups.startRestoreUpload(body as unknown as UploadBody, uploadDir, restoreOptions(query)),
    }),
    {
      method: 'POST',
      pattern: '/restores/manager/upload',
      summary: 'restore the manager database from the uploaded body (a job)',
      status: 202,
      upload: true,
      maxUpload: () => freeBytes(uploadDir),
      response: JobView,
      errors: ['UPLOAD_TOO_LARGE', 'UPLOAD_ABORTED', 'BAD_BACKUP', 'STANDBY_BACKUP', ...JOB_ERRORS],
      handler: ({ body }) => backups.startRestoreUpload(body as UploadBody, uploadDir, 'manager'),
    },
    route({
      method: 'POST',
      pattern: '/backups/instances/{id}',
      summary: 'back up an instance to {"file"} or {"url", "method"} (a job)',
      status: 202,
      body: Destination,
      response: JobView,
      errors: JOB_ERRORS,
      handler: async ({ params, body }) => backups.startInstanceBackup(params.id!, await writable(destination(body))),
    }),
    route({
      method: 'POST',
      pattern: '/backups/manager',
      summary: 'back up the manager database to {"file"} or {"url", "method"} (a job)',
      status: 202,
      body: Destination,
      response: JobView,
      errors: JOB_ERRORS,
      handler: async ({ body }) => backups.startManagerBackup(await writable(destination(body))),
    }),
    route({
      method: 'POST',
      pattern: '/backups/verify',
      summary: 'check a backup file {"file", "restoreTest"?}: checksum, pg_restore --list, optionally a full restore into a scratch database (a job)',
      status: 202,
      body: T.Object({ file: T.String({ description: 'an absolute path on the box' }), restoreTest: T.Optional(T.Boolean({ description: 'also restore it into a scratch database' })) }),
      response: JobView,
      errors: [...JOB_ERRORS, ...KEY_ERRORS, 'NOT_ON_STANDBY'],
      handler: ({ body }) => backups.startVerify(absolutePath(body.file, 'file'), body.restoreTest === true),
    }),
    {
      method: 'GET',
      pattern: '/backups/schedule',
      summary: 'the command file as it runs: hours, backups (URLs without credentials), last run',
      response: T.Object({}, { additionalProperties: true, description: 'hours, backups (URLs without credentials), last run' }),
      handler: () => schedule.status(),
    },
    {
      method: 'POST',
      pattern: '/backups/run',
      summary: "run the command file's backups now; answers when they are done",
      response: T.Object({}, { additionalProperties: true, description: 'the outcome of each backup' }),
      errors: ['NO_COMMAND_FILE', 'BUSY'],
      handler: () => schedule.runNow(),
    },
    route({
      method: 'POST',
      pattern: '/restores/instances',
      summary: 'restore an instance backup {"file", "name"?, "domain"?, "path"?, "dbName"?, "dbUser"?, "replace"?: "<name@domain>", the instance it overwrites} (a job); verified (an encrypted one decrypted with the box\'s backup key) before anything changes',
      status: 202,
      body: RestoreBody,
      response: JobView,
      errors: ['BAD_BACKUP', 'EXISTS', ...KEY_ERRORS, ...JOB_ERRORS],
      handler: ({ body }) => backups.startRestore(absolutePath(body.file, 'file'), restoreOptions(body)),
    }),
    route({
      method: 'POST',
      pattern: '/restores/manager',
      summary: 'restore the manager database from {"file"} (a job): settings and instances come back',
      status: 202,
      body: FileBody,
      response: JobView,
      errors: ['BAD_BACKUP', 'STANDBY_BACKUP', ...KEY_ERRORS, ...JOB_ERRORS],
      handler: ({ body }) => backups.startManagerRestore(absolutePath(body.file, 'file')),
    }),
  ];
}

/** #m: the first real network interface's MAC address, hex digits only ("" when there is none). */
export function macAddress(sysNet = '/sys/class/net'): string {
  try {
    for (const name of readdirSync(sysNet).sort((a, b) => (a === 'eth0' ? -1 : b === 'eth0' ? 1 : a.localeCompare(b)))) {
      if (name === 'lo') continue;
      const address = readFileSync(`${sysNet}/${name}/address`, 'utf8').trim();
      if (/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(address) && address !== '00:00:00:00:00:00') return address.replace(/:/g, '').toLowerCase();
    }
  } catch {
    // no /sys: no MAC
  }
  return '';
}

/** #L: the image label in p1 (mnt/sda1/label), or the supervisor's build label. */
export function boxLabel(labelFile: string, fallback: string): string {
  try {
    const label = readFileSync(labelFile, 'utf8').trim();
    return label === '' ? fallback : label;
  } catch {
    return fallback;
  }
}

