// App services in the admin API.
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { Flag, queryFlag, route, StreamBody, T, type ApiRoute } from '../api';
import { ApError, InvalidField } from '../errors';
import { JobView, type Jobs } from '../jobs';
import type { Services } from './index';
import { openLog, readTail } from './tail';
import { installUpload, MAX_PACKAGE } from './upload';
import { LIMIT_RANGES, type LimitField } from '../cgroup';
import { CrashList, LimitsView, LogTail, ServiceList, ServiceView, type CrashRecord } from './views';

export interface ServiceUploadDeps {
  readonly jobs: Jobs;
  /** Where an uploaded package waits while it is unpacked (p2). */
  readonly workDir: string;
  /** Whether the Developer mode setting is on. */
  readonly developerMode: () => Promise<boolean>;
}

/** Admission control for a start by hand (the memory budget): throws MEMORY_BUDGET unless forced; the warning of a forced one. */
export type AdmitStart = (name: string, force: boolean) => Promise<string | null>;

/** The body of the routes admission control guards. */
const ForceBody = T.Object({ force: T.Optional(T.Boolean({ description: 'admit it even though the memory budget says it does not fit (with a warning)' })) });
/** What a forced admission adds to an answer. */
const Warning = T.Object({ warning: T.Optional(T.String({ description: 'present when it was admitted with force although memory is short' })) });
const ServiceAnswer = T.Object({ ...ServiceView.properties, ...Warning.properties });
const withWarning = <V extends object>(value: V, warning: string | null) => (warning === null ? value : { ...value, warning });

/** What an install answers: the installed package's app.json. */
const InstalledManifest = T.Object({
  name: T.String(),
  version: T.String(),
  label: T.String(),
  entry: T.Array(T.String()),
  web: T.Union([T.String(), T.Null()]),
  pbxLogin: T.Boolean(),
  resources: T.Optional(T.Object({}, { additionalProperties: T.Integer(), description: 'the limits app.json declares' })),
  warning: T.Optional(T.String({ description: 'present when it was installed with force although memory is short' })),
});

const UninstallQuery = T.Object({
  instances: T.Optional({ ...Flag, description: 'delete its instances too (else an uninstall of a service with instances is refused)' }),
  dropDatabases: T.Optional({ ...Flag, description: "with instances: also drop the instances' databases and users" }),
  keepLogs: T.Optional({ ...Flag, description: 'keep its log and crash records' }),
});

/** A limit in the setting's body: a number sets it, null goes back to the package's or the board's value. */
const limitField = (field: LimitField, what: string) => {
  const [minimum, maximum] = LIMIT_RANGES[field];
  return T.Optional(T.Union([T.Integer({ minimum, maximum }), T.Null()], { description: `${what}, ${minimum}..${maximum}; null for the default` }));
};

/** The most of a log's end the log view reads at once. */
const MAX_TAIL = 1 << 20;

export function serviceRoutes(services: Services, paths: { logs: string; coreDumps: string }, upload?: ServiceUploadDeps, admitStart: AdmitStart = async () => null): ApiRoute[] {
  const logDir = paths.logs;
  const named = (name: string) => {
    const service = services.get(name);
    if (!service) throw new ApError('NOT_FOUND', `no service "${name}" is installed`);
    return service;
  };
  return [
    ...(upload
      ? [
          {
            method: 'POST' as const,
            pattern: '/services/upload',
            summary: 'install an app service from an uploaded .tar.gz of its folder (Developer mode only; a job); ?force=true installs it even though memory is short',
            query: T.Object({ force: T.Optional({ ...Flag, description: 'install even though the memory budget says it does not fit (with a warning)' }) }),
            response: JobView,
            errors: ['DEVELOPER_MODE_OFF', 'PACKAGE_TOO_LARGE', 'UPLOAD_ABORTED'] as const,
            status: 202,
            upload: true,
            maxUpload: () => MAX_PACKAGE,
            handler: async ({ body, query }: { body: unknown; query: Readonly<Record<string, string>> }) => {
              if (!(await upload.developerMode())) {
                // The transport stops the upload and closes the connection after this answer.
                throw new ApError('DEVELOPER_MODE_OFF', 'uploading apps needs the Developer mode (Settings → General); otherwise apps come from the App Store');
              }
              const force = queryFlag(query, 'force');
              return upload.jobs.start('install', 'upload', 'installing an uploaded app service', async (job) => {
                let warning = '';
                const manifest = await installUpload(body as AsyncIterable<Buffer>, upload.workDir, (dir) => services.install(dir, { force, onWarning: (text) => (warning = `; ${text}`) }), job);
                return `installed ${manifest.name} ${manifest.version}${warning}`;
              });
            },
          },
          route({
            method: 'POST',
            pattern: '/services/install',
            // A path on the box's own disk means nothing to a browser, and root needs no Developer mode.
            local: true,
            summary: 'install an app service from a folder or a .tar.gz on this box ({"dir", "wait"}); waits until it is ready unless "wait" is false (ap ctl service install)',
            body: T.Object({
              dir: T.String({ minLength: 1, description: 'absolute path of the service\'s folder, or of its package (.tar.gz)' }),
              wait: T.Optional(T.Boolean({ description: 'wait until the service reports ready (default true); false returns once it is copied and started' })),
              force: T.Optional(T.Boolean({ description: 'install even though the memory budget says it does not fit (with a warning)' })),
            }),
            response: InstalledManifest,
            errors: ['MANIFEST_INVALID', 'ENTRY_MISSING', 'SERVICE_NOT_READY', 'SERVICE_NAME_RESERVED', 'MEMORY_BUDGET'],
            handler: async ({ body }) => {
              if (!isAbsolute(body.dir)) throw new InvalidField('dir', `"${body.dir}" is not an absolute path (the supervisor's working folder is not yours)`);
              let warning: string | null = null;
              const how = { waitReady: body.wait !== false, force: body.force === true, onWarning: (text: string) => (warning = text) };
              const file = (await stat(body.dir).catch(() => null))?.isFile() ?? false;
              if (!file) return withWarning(await services.install(body.dir, how), warning);
              const quiet = { signal: new AbortController().signal, progress: () => {}, line: () => {} };
              return withWarning(await installUpload(createReadStream(body.dir) as AsyncIterable<Buffer>, upload.workDir, (dir) => services.install(dir, how), quiet), warning);
            },
          }),
        ]
      : []),
    ...(upload
      ? [
          route({
            method: 'DELETE',
            pattern: '/services/{name}',
            summary:
              'uninstall a service (a job): stops it, removes its package (files and the copy in the manager database), cgroup, account, data and logs. ' +
              'Refused with HAS_INSTANCES while it has instances unless ?instances=true (their databases are kept unless ?dropDatabases=true); ?keepLogs=true keeps its logs',
            query: UninstallQuery,
            response: JobView,
            errors: ['HAS_INSTANCES', 'SERVICE_NAME_RESERVED', 'NOT_ON_STANDBY', 'CONFLICT'],
            status: 202,
            handler: ({ params, query }) => {
              const how = { instances: queryFlag(query, 'instances'), dropDatabases: queryFlag(query, 'dropDatabases'), keepLogs: queryFlag(query, 'keepLogs') };
              if (how.dropDatabases && !how.instances) throw new InvalidField('dropDatabases', 'drops the databases of the instances it deletes: it needs instances=true');
              const name = params.name!;
              services.checkUninstall(name, how);
              return upload.jobs.start('uninstall', name, `uninstalling ${name}`, (job) => services.uninstall(name, how, (note) => job.progress(0, null, note)));
            },
          }),
        ]
      : []),
    { method: 'GET', pattern: '/services', summary: 'installed app services with their state, restarts and last failure', response: ServiceList, handler: () => ({ services: services.list() }) },
    { method: 'GET', pattern: '/services/{name}', summary: 'one app service', response: ServiceView, handler: ({ params }) => named(params.name!).status() },
    route({
      method: 'POST',
      pattern: '/services/{name}/start',
      summary: 'start a service (also one that failed); forgets an earlier stop. Admitted against the memory budget ({"force": true} admits it anyway)',
      body: ForceBody,
      response: ServiceAnswer,
      errors: ['MEMORY_BUDGET'],
      handler: async ({ params, body }) => {
        named(params.name!);
        const warning = await admitStart(params.name!, body.force === true);
        services.startService(params.name!);
        return withWarning(named(params.name!).status(), warning);
      },
    }),
    {
      method: 'POST',
      pattern: '/services/{name}/stop',
      summary: 'stop a service; it stays stopped, also across restarts of the supervisor, until started',
      response: ServiceView,
      handler: async ({ params }) => {
        named(params.name!);
        await services.stopService(params.name!);
        return named(params.name!).status();
      },
    },
    route({
      method: 'POST',
      pattern: '/services/{name}/restart',
      summary: 'stop a service and start it again; its WebSocket clients stay connected and get the new process (also one that failed: that start is admitted against the memory budget, {"force": true} admits it anyway)',
      body: ForceBody,
      response: ServiceAnswer,
      errors: ['MEMORY_BUDGET'],
      handler: async ({ params, body }) => {
        named(params.name!);
        // Asked before the stop: a running service reserves already and is admitted; one that failed must fit.
        const warning = await admitStart(params.name!, body.force === true);
        // Its clients stay connected and wait for the new process (as across a crash).
        await services.restartService(params.name!);
        return withWarning(named(params.name!).status(), warning);
      },
    }),
    route({
      method: 'PUT',
      pattern: '/services/{name}/limits',
      summary: "set a service's limits (kept across restarts, applied at once; a field left out stays as it is, null goes back to app.json's or the board's value)",
      body: T.Object(
        {
          memoryMB: limitField('memoryMB', 'MB it may use with no instance'),
          instanceMB: limitField('instanceMB', 'MB more per instance'),
          cpuWeight: limitField('cpuWeight', 'its CPU share (100 by default)'),
          pids: limitField('pids', 'the most processes and threads'),
        },
        { additionalProperties: false },
      ),
      response: LimitsView,
      handler: async ({ params, body }) => {
        named(params.name!);
        return services.setLimits(params.name!, body);
      },
    }),
    {
      method: 'GET',
      pattern: '/services/{name}/log/tail',
      summary: "the end of the service's log as JSON {text, size, truncated} (?bytes=N, default 65536, at most 1 MiB); text starts at a whole line",
      query: T.Object({ bytes: T.Optional(T.String({ description: 'how many bytes from the end (default 65536, at most 1 MiB)' })) }),
      response: LogTail,
      handler: async ({ params, query }) => {
        named(params.name!);
        const bytes = query.bytes === undefined ? 65536 : Number(query.bytes);
        if (!/^\d{1,7}$/.test(query.bytes ?? '0') || bytes < 1 || bytes > MAX_TAIL) throw new InvalidField('bytes', `"${query.bytes}" is not a number of bytes from 1 to ${MAX_TAIL}`);
        return readTail(join(logDir, params.name!, `${params.name}.log`), bytes);
      },
    },
    {
      method: 'GET',
      pattern: '/services/{name}/crashes',
      summary: "the service's crash records (exit code or signal, uptime, its last lines of output), newest first",
      response: CrashList,
      handler: async ({ params }) => {
        named(params.name!);
        return { crashes: await readCrashes(join(paths.coreDumps, params.name!)) };
      },
    },
    {
      method: 'GET',
      pattern: '/services/{name}/log',
      summary: "the service's log file (text/plain, a download)",
      download: { type: 'text/plain', text: true },
      handler: async ({ params }) => {
        named(params.name!);
        const file = join(logDir, params.name!, `${params.name}.log`);
        const fd = openLog(file);
        if (fd === null) throw new ApError('NOT_FOUND', `service ${params.name} has written no log yet`);
        return new StreamBody(createReadStream(file, { fd }) as AsyncIterable<Buffer>, 'text/plain; charset=utf-8', `${params.name}.log`);
      },
    },
  ];
}

/** The crash records process.ts writes (crash-<time>.json), newest first; unreadable ones are skipped. */
async function readCrashes(dir: string): Promise<CrashRecord[]> {
  const names = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.startsWith('crash-') && f.endsWith('.json')).sort().reverse();
  const out: CrashRecord[] = [];
  for (const name of names) {
    try {
      out.push(JSON.parse(await readFile(join(dir, name), 'utf8')) as CrashRecord);
    } catch {
      // records are written whole (rename); a foreign file in the folder is skipped
    }
  }
  return out;
}
