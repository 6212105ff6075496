// Backups and restores in the admin API. Local files are the supervisor's
// (root's) paths: the admin socket is root-only; the Manager's HTTP upload and
// download come with the Manager.
import { readdirSync, readFileSync, statfsSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { objectBody, StreamBody, type ApiRoute, type UploadBody } from '../api';
import { InvalidField } from '../errors';
import type { BackupSchedule, Backups, Destination, RestoreOptions } from './index';
import { replaceTarget } from './target';

function destination(body: Record<string, unknown>): Destination {
  const { file, url, method } = body;
  if ((file === undefined) === (url === undefined)) throw new InvalidField('destination', 'give either "file" (a path on the box) or "url" (http or https)');
  if (file !== undefined) return { file: absolutePath(file, 'file') };
  if (typeof url !== 'string') throw new InvalidField('url', 'expected a URL');
  const m = method === undefined ? 'PUT' : String(method).toUpperCase();
  if (m !== 'PUT' && m !== 'POST') throw new InvalidField('method', 'expected PUT or POST');
  return { url, method: m };
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
  return [
    {
      method: 'GET',
      pattern: '/backups/instances/{id}/download',
      summary: 'an instance backup as the response body (application/octet-stream)',
      handler: ({ params }) => {
        const { chunks, name, cancel } = backups.instanceBackup(params.id!);
        return new StreamBody(chunks, 'application/octet-stream', `${name}-${stamp()}.apbk`, cancel);
      },
    },
    {
      method: 'GET',
      pattern: '/backups/manager/download',
      summary: 'a Manager backup as the response body',
      handler: () => {
        const { chunks, cancel } = backups.managerBackup();
        return new StreamBody(chunks, 'application/octet-stream', `manager-${stamp()}.apbk`, cancel);
      },
    },
    {
      method: 'POST',
      pattern: '/restores/instances/upload',
      summary: 'restore an instance from the uploaded body (?name, domain, path, dbName, dbUser; replace=<name@domain>: the instance it overwrites) (a job)',
      status: 202,
      upload: true,
      maxUpload: () => freeBytes(uploadDir),
      handler: ({ body, query }) => backups.startRestoreUpload(body as UploadBody, uploadDir, restoreOptions(query)),
    },
    {
      method: 'POST',
      pattern: '/restores/manager/upload',
      summary: 'restore the manager database from the uploaded body (a job)',
      status: 202,
      upload: true,
      maxUpload: () => freeBytes(uploadDir),
      handler: ({ body }) => backups.startRestoreUpload(body as UploadBody, uploadDir, 'manager'),
    },
    {
      method: 'POST',
      pattern: '/backups/instances/{id}',
      summary: 'back up an instance to {"file"} or {"url", "method"} (a job)',
      status: 202,
      handler: ({ params, body }) => backups.startInstanceBackup(params.id!, destination(objectBody(body))),
    },
    {
      method: 'POST',
      pattern: '/backups/manager',
      summary: 'back up the manager database to {"file"} or {"url", "method"} (a job)',
      status: 202,
      handler: ({ body }) => backups.startManagerBackup(destination(objectBody(body))),
    },
    {
      method: 'POST',
      pattern: '/backups/verify',
      summary: 'check a backup file {"file", "restoreTest"?}: checksum, pg_restore --list, optionally a full restore into a scratch database (a job)',
      status: 202,
      handler: ({ body }) => {
        const b = objectBody(body);
        if (b.restoreTest !== undefined && typeof b.restoreTest !== 'boolean') throw new InvalidField('restoreTest', 'expected true or false');
        return backups.startVerify(absolutePath(b.file, 'file'), b.restoreTest === true);
      },
    },
    {
      method: 'GET',
      pattern: '/backups/schedule',
      summary: 'the command file as it runs: hours, backups (URLs without credentials), last run',
      handler: () => schedule.status(),
    },
    {
      method: 'POST',
      pattern: '/backups/run',
      summary: "run the command file's backups now; answers when they are done",
      handler: () => schedule.runNow(),
    },
    {
      method: 'POST',
      pattern: '/restores/instances',
      summary: 'restore an instance backup {"file", "name"?, "domain"?, "path"?, "dbName"?, "dbUser"?, "replace"?: "<name@domain>", the instance it overwrites} (a job); verified before anything changes',
      status: 202,
      handler: ({ body }) => {
        const b = objectBody(body);
        return backups.startRestore(absolutePath(b.file, 'file'), restoreOptions(b));
      },
    },
    {
      method: 'POST',
      pattern: '/restores/manager',
      summary: 'restore the manager database from {"file"} (a job): settings and instances come back',
      status: 202,
      handler: ({ body }) => backups.startManagerRestore(absolutePath(objectBody(body).file, 'file')),
    },
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

