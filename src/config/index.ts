// Configuration, parsed once: command-line flags > config file > environment >
// defaults (some defaults come from the board). The result is one typed,
// frozen object handed to every subsystem. Parsing only reads: a bad value is
// a UsageError (exit 2) and nothing has been written.
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { UsageError } from '../errors';
import { InstanceRecord, type Instance } from '../records';
import { checkDomain, checkName, checkPassword, checkPath, checkService } from '../names';
import { asSentence, problem, T, type Static, type TSchema } from '../schema';
import { DEFAULT_TRACE_FLAGS, parseTraceFlags } from '../trace';
import { deepFreeze, getBoard, type Board } from './board';

export { BOARD_NAMES, boardEnv, getBoard, validateBoard, deepFreeze, postgresConf, postgresSettings, PostgresSettings, type Board, type BoardName, type Partition } from './board';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
export const LOG_LEVELS: readonly LogLevel[] = ['error', 'warn', 'info', 'debug'];
export type LogFormat = 'auto' | 'text' | 'journal';
export const LOG_FORMATS: readonly LogFormat[] = ['auto', 'text', 'journal'];

export interface Config {
  /** State root; every path of the state layout hangs below it. */
  readonly root: string;
  readonly board: Board;
  /** The config file that was read, or null. */
  readonly configFile: string | null;
  readonly http: {
    readonly host: string;
    readonly httpPort: number;
    readonly httpsPort: number;
    /** The Manager's own listeners (UI, /manager/api, the event socket): an origin apart from the apps'. */
    readonly managerHttpPort: number;
    readonly managerHttpsPort: number;
    /** Largest request head (request line and headers). */
    readonly maxHeaderBytes: number;
    /** Largest request body, unless an instance sets its own. */
    readonly maxBodyBytes: number;
    /** How long an app service may take to answer a request's head before the client gets 504. */
    readonly requestTimeoutMs: number;
  };
  readonly ws: {
    readonly maxPayloadBytes: number;
    readonly idleTimeoutS: number;
    /** Client data a service has not taken yet, per connection, before the client is closed with 1013. */
    readonly clientBudgetBytes: number;
    /** Client data held per connection while its service restarts, before the client is closed with 1013. */
    readonly holdBytes: number;
    /** Seconds from open to a successful PBX login before the connection is closed with 1008. */
    readonly loginTimeoutS: number;
    /** WebSockets still logging in at once, overall (an eighth of it per client address); more get 503. */
    readonly loginMax: number;
  };
  readonly services: {
    /** Run each service as a Linux user named after it (when we are root): the vendor's App security. */
    readonly ownUser: boolean;
    /** Cap of each service's log file (one rotated copy is kept besides). */
    readonly logMaxBytes: number;
    /** First restart delay; doubled per further death. */
    readonly restartDelayMs: number;
    /** This many deaths within restartWindowMs mark a service failed. */
    readonly restartLimit: number;
    readonly restartWindowMs: number;
  };
  readonly update: {
    /** Trusted image signing keys (*.pub). */
    readonly keysDir: string;
    /** Run to reboot after an image was staged ("none": only say so). */
    readonly rebootCommand: string;
    /** READY this long, a freshly updated image is confirmed. */
    readonly confirmAfterMs: number;
    /** Run by the Manager's Shutdown ("none": only say so). */
    readonly shutdownCommand: string;
  };
  readonly system: {
    /** Reads "user:password" lines and sets them (chpasswd); "none": the board does not. */
    readonly passwdCommand: string;
  };
  /** Between samples of the metrics and checks of the disk. */
  readonly monitorIntervalMs: number;
  readonly backup: {
    /** An upload that moves no data and gets no answer for this long fails. */
    readonly stallTimeoutMs: number;
  };
  /** Instances declared in the config file (created at start when missing). */
  readonly instances: readonly InstanceConfig[];
  readonly log: { readonly level: LogLevel; readonly file: string | null; readonly format: LogFormat };
  readonly db: {
    /** managed: the supervisor runs the cluster; attached: an init script does. */
    readonly mode: 'managed' | 'attached';
    readonly socketDir: string;
    readonly port: number;
    /** Folder holding initdb/postgres/pg_ctl, or null to search PATH and /usr/lib/postgresql/<v>/bin. */
    readonly bin: string | null;
    /** Managed: first restart delay after the postmaster died; doubled per further death. */
    readonly restartDelayMs: number;
    /** Managed: this many deaths within restartWindowMs and the cluster is given up. */
    readonly restartLimit: number;
    readonly restartWindowMs: number;
    /** Attached: time between checks that the server answers. */
    readonly checkIntervalMs: number;
    /** listen_addresses while the box is a replication primary (docs/replication.md). */
    readonly listen: string;
    /** Attached: the argv that restarts PostgreSQL when replication changes its listen address. */
    readonly restartCommand: readonly string[];
    /** Attached: the argvs that stop and start PostgreSQL around a switch to standby (the cluster's folder is swapped while it is down). */
    readonly stopCommand: readonly string[];
    readonly startCommand: readonly string[];
  };
  /** Size of the reserve file mnt/sda2/empty_if_no_space. */
  readonly reserveBytes: number;
  /** How long a clean shutdown may take before remaining children are killed. */
  readonly shutdownTimeoutMs: number;
  /** --memory-budget-mb: the memory admission control counts with, instead of the board's ramMB or MemTotal (docs/budget.md). */
  readonly memoryBudgetMB: number | null;
}

/** An instance the config file declares: the instance record's fields it may set, defaults filled in. */
export type InstanceConfig = Pick<Instance, 'service' | 'name' | 'domain' | 'path' | 'password' | 'maxBodyBytes' | 'traceFlags'>;

/** What the parser reads from: flags already split into name → value. */
export interface ConfigSources {
  readonly flags: Readonly<Record<string, string>>;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  /** Our uid (process.getuid()); as root, services may not run as root without the unsafe flag. */
  readonly uid?: number;
}

type Kind = 'string' | 'port' | 'path' | 'bytes' | 'seconds' | 'count' | 'boolean' | { readonly oneOf: readonly string[] };

interface Option {
  readonly flag: string;
  readonly env: string;
  /** Dotted key in the config file, or null when the file may not set it. */
  readonly file: string | null;
  readonly kind: Kind;
  readonly help: string;
}

/** Every option `ap serve` takes, in the order `--help` shows them. */
export const OPTIONS: readonly Option[] = [
  { flag: 'root', env: 'AP_ROOT', file: null, kind: 'path', help: 'state root (default: / on a box, ./var on the dev board)' },
  { flag: 'board', env: 'AP_BOARD', file: null, kind: { oneOf: ['ipx10', 'ipx11', 'ipx13', 'x86_64', 'dev'] }, help: 'hardware target (default: dev)' },
  { flag: 'config', env: 'AP_CONFIG', file: null, kind: 'path', help: 'config file (default: <root>/etc/ap.json when present)' },
  { flag: 'host', env: 'AP_HOST', file: 'http.host', kind: 'string', help: 'address to listen on (default: 127.0.0.1 on dev, :: on a box)' },
  { flag: 'http-port', env: 'AP_HTTP_PORT', file: 'http.httpPort', kind: 'port', help: 'HTTP port (default: 80)' },
  { flag: 'https-port', env: 'AP_HTTPS_PORT', file: 'http.httpsPort', kind: 'port', help: 'HTTPS port (default: 443)' },
  { flag: 'manager-http-port', env: 'AP_MANAGER_HTTP_PORT', file: 'http.managerHttpPort', kind: 'port', help: "the Manager's HTTP port, an origin apart from the apps' (default: 8080; 0 when --http-port is 0)" },
  { flag: 'manager-https-port', env: 'AP_MANAGER_HTTPS_PORT', file: 'http.managerHttpsPort', kind: 'port', help: "the Manager's HTTPS port (default: 8443; 0 when --https-port is 0)" },
  { flag: 'log-level', env: 'AP_LOG_LEVEL', file: 'log.level', kind: { oneOf: LOG_LEVELS }, help: 'error, warn, info or debug (default: info)' },
  { flag: 'log-file', env: 'AP_LOG_FILE', file: 'log.file', kind: 'path', help: 'write the log to this file, size-capped (default: stderr)' },
  {
    flag: 'log-format',
    env: 'AP_LOG_FORMAT',
    file: 'log.format',
    kind: { oneOf: LOG_FORMATS },
    help: 'on stderr: text (time, level, part) or journal (a syslog priority <N> before each line, no time: journald and syslog add theirs); auto: journal when stderr is systemd\'s journal (default: auto)',
  },
  { flag: 'db', env: 'AP_DB', file: 'db.mode', kind: { oneOf: ['managed', 'attached'] }, help: 'managed: run PostgreSQL ourselves; attached: connect to the one S50postgresql runs (default: from the board)' },
  { flag: 'db-socket-dir', env: 'AP_DB_SOCKET_DIR', file: 'db.socketDir', kind: 'path', help: 'PostgreSQL Unix socket folder (default: <root>/var/run/postgresql)' },
  { flag: 'db-port', env: 'AP_DB_PORT', file: 'db.port', kind: 'port', help: 'PostgreSQL port, which names its socket (default: 5432)' },
  { flag: 'db-restart-delay', env: 'AP_DB_RESTART_DELAY', file: 'db.restartDelayMs', kind: 'count', help: 'managed: milliseconds before a dead PostgreSQL is restarted, doubled per further death (default: 500)' },
  { flag: 'db-restart-limit', env: 'AP_DB_RESTART_LIMIT', file: 'db.restartLimit', kind: 'count', help: 'managed: deaths of PostgreSQL within the restart window after which it is given up (default: 5)' },
  { flag: 'db-restart-window', env: 'AP_DB_RESTART_WINDOW', file: 'db.restartWindow', kind: 'seconds', help: 'managed: seconds over which deaths of PostgreSQL are counted (default: 300)' },
  { flag: 'db-check-interval', env: 'AP_DB_CHECK_INTERVAL', file: 'db.checkInterval', kind: 'seconds', help: 'attached: seconds between checks that PostgreSQL answers (default: 5)' },
  { flag: 'pg-bin', env: 'AP_PG_BIN', file: 'db.bin', kind: 'path', help: 'folder with the PostgreSQL server binaries (default: search)' },
  { flag: 'pg-listen', env: 'AP_PG_LISTEN', file: 'db.listen', kind: 'string', help: 'addresses PostgreSQL listens on (TCP, --db-port) while the box is a replication primary, comma-separated, or * (default: *; 127.0.0.1 on dev)' },
  { flag: 'pg-restart-command', env: 'AP_PG_RESTART_COMMAND', file: 'db.restartCommand', kind: 'string', help: 'attached: how the supervisor restarts PostgreSQL to apply a change of replication (default: /etc/init.d/S50postgresql restart)' },
  { flag: 'pg-stop-command', env: 'AP_PG_STOP_COMMAND', file: 'db.stopCommand', kind: 'string', help: 'attached: how the supervisor stops PostgreSQL to switch the box to standby (default: /etc/init.d/S50postgresql stop)' },
  { flag: 'pg-start-command', env: 'AP_PG_START_COMMAND', file: 'db.startCommand', kind: 'string', help: 'attached: how the supervisor starts PostgreSQL again after that switch (default: /etc/init.d/S50postgresql start)' },
  { flag: 'reserve-size', env: 'AP_RESERVE_SIZE', file: 'reserveSize', kind: 'bytes', help: 'size of mnt/sda2/empty_if_no_space, e.g. 500M (default: 500M; 0 disables)' },
  { flag: 'shutdown-timeout', env: 'AP_SHUTDOWN_TIMEOUT', file: 'shutdownTimeout', kind: 'seconds', help: 'seconds the slow parts of a clean shutdown (app services, jobs, the database) may take together (default: 30)' },
  { flag: 'max-header-size', env: 'AP_MAX_HEADER_SIZE', file: 'http.maxHeaderSize', kind: 'bytes', help: 'largest HTTP request head (default: 16K)' },
  { flag: 'max-body-size', env: 'AP_MAX_BODY_SIZE', file: 'http.maxBodySize', kind: 'bytes', help: 'largest HTTP request body an instance gets (default: 128M)' },
  { flag: 'request-timeout', env: 'AP_REQUEST_TIMEOUT', file: 'http.requestTimeout', kind: 'seconds', help: 'seconds a service may take to answer before the client gets 504 (default: 30)' },
  { flag: 'ws-max-payload', env: 'AP_WS_MAX_PAYLOAD', file: 'ws.maxPayload', kind: 'bytes', help: 'largest WebSocket message (default: 1M)' },
  { flag: 'ws-idle-timeout', env: 'AP_WS_IDLE_TIMEOUT', file: 'ws.idleTimeout', kind: 'seconds', help: 'seconds of silence before a WebSocket is pinged and then closed (default: 120)' },
  { flag: 'ws-client-budget', env: 'AP_WS_CLIENT_BUDGET', file: 'ws.clientBudget', kind: 'bytes', help: "client data held for a slow service per WebSocket before it is closed with 1013 (default: 1M)" },
  { flag: 'ws-login-timeout', env: 'AP_WS_LOGIN_TIMEOUT', file: 'ws.loginTimeout', kind: 'seconds', help: 'seconds a WebSocket may take to complete the PBX login before it is closed with 1008 (default: 15)' },
  { flag: 'ws-login-max', env: 'AP_WS_LOGIN_MAX', file: 'ws.loginMax', kind: 'count', help: 'WebSockets logging in at once, overall; an eighth of it per client address; more are refused with 503 (default: 64)' },
  { flag: 'ws-hold-size', env: 'AP_WS_HOLD_SIZE', file: 'ws.holdSize', kind: 'bytes', help: 'client data held per WebSocket while its service restarts, before it is closed with 1013 (default: 64K)' },
  { flag: 'app-user', env: 'AP_APP_USER', file: 'services.ownUser', kind: 'boolean', help: 'run each service as a Linux account made for it when root: true or false (default: true; false needs --unsafe-services-as-root)' },
  { flag: 'unsafe-services-as-root', env: 'AP_UNSAFE_SERVICES_AS_ROOT', file: null, kind: 'boolean', help: 'debugging only: allow --app-user false when root, so every service runs as root (default: false)' },
  { flag: 'service-log-size', env: 'AP_SERVICE_LOG_SIZE', file: 'services.logSize', kind: 'bytes', help: 'cap of each service log file (default: 1M)' },
  { flag: 'restart-delay', env: 'AP_RESTART_DELAY', file: 'services.restartDelayMs', kind: 'count', help: 'milliseconds before a dead service is restarted, doubled per further death (default: 1000)' },
  { flag: 'restart-limit', env: 'AP_RESTART_LIMIT', file: 'services.restartLimit', kind: 'count', help: 'deaths within the restart window that mark a service failed (default: 5)' },
  { flag: 'restart-window', env: 'AP_RESTART_WINDOW', file: 'services.restartWindow', kind: 'seconds', help: 'seconds over which deaths are counted (default: 120)' },
  { flag: 'memory-budget-mb', env: 'AP_MEMORY_BUDGET_MB', file: 'memoryBudgetMB', kind: 'count', help: "memory in MB that installs and instances are admitted against, e.g. to keep room for other programs (default: the board's ramMB, else MemTotal; docs/budget.md)" },
  { flag: 'monitor-interval', env: 'AP_MONITOR_INTERVAL', file: 'monitor.interval', kind: 'seconds', help: 'seconds between samples of the metrics and checks of the disk (default: 10)' },
  { flag: 'image-keys', env: 'AP_IMAGE_KEYS', file: 'update.keys', kind: 'path', help: 'folder of the public keys (*.pub) trusted to sign OS images and App Store packages (default: <root>/etc/ap/keys)' },
  { flag: 'reboot-command', env: 'AP_REBOOT_COMMAND', file: 'update.rebootCommand', kind: 'string', help: 'how the box reboots after staging an image (default: reboot; none on the dev board)' },
  { flag: 'passwd-command', env: 'AP_PASSWD_COMMAND', file: 'system.passwdCommand', kind: 'string', help: "sets the Linux root and admin passwords from the Manager, reading user:password lines (default: chpasswd; none on the dev board)" },
  { flag: 'shutdown-command', env: 'AP_SHUTDOWN_COMMAND', file: 'update.shutdownCommand', kind: 'string', help: "how the Manager's Shutdown turns the box off (default: poweroff; none on the dev board)" },
  { flag: 'confirm-after', env: 'AP_CONFIRM_AFTER', file: 'update.confirmAfter', kind: 'seconds', help: 'seconds READY after which a freshly updated image counts as good (default: 60)' },
  { flag: 'backup-stall-timeout', env: 'AP_BACKUP_STALL_TIMEOUT', file: 'backup.stallTimeout', kind: 'seconds', help: 'seconds a backup target may take no data and give no answer before the backup fails (default: 60)' },
];

const FILE_KEYS = new Set(OPTIONS.flatMap((o) => (o.file ? [o.file] : [])));

const { service, name, domain, path, password } = InstanceRecord.properties;

/** An instance the config file declares: the instance record's identity, with a size and trace flags as people write them. */
const DeclaredInstance = T.Object(
  {
    service,
    name,
    domain,
    path: T.Optional(path),
    password,
    maxBodySize: T.Optional(T.Union([T.String(), T.Number()], { errorMessage: 'must be a size such as 10M' })),
    traceFlags: T.Optional(T.Union([T.Number(), T.Array(T.String())], { errorMessage: 'must be a number or a list of flag names' })),
  },
  { additionalProperties: false },
);
type DeclaredInstance = Static<typeof DeclaredInstance>;

const Setting = T.Union([T.String(), T.Number(), T.Boolean()], { errorMessage: 'must be a string, a number or a boolean' });

/** The settings a file may hold, as nested objects: built from OPTIONS, where each is declared once with its flag and variable. */
function settingsSchema(keys: readonly string[], prefix = ''): Record<string, TSchema> {
  const sections = new Map<string, string[]>();
  const out: Record<string, TSchema> = {};
  for (const key of keys) {
    const [head, ...rest] = key.split('.');
    if (rest.length === 0) out[head!] = T.Optional(Setting);
    else sections.set(head!, [...(sections.get(head!) ?? []), rest.join('.')]);
  }
  for (const [head, inner] of sections) {
    out[head] = T.Optional(T.Object(settingsSchema(inner, `${prefix}${head}.`), { additionalProperties: false, errorMessage: `must be an object of settings (${inner.map((k) => `${prefix}${head}.${k}`).join(', ')})` }));
  }
  return out;
}

/** The config file (`--config`, default etc/ap.json): settings, and the instances it declares. */
export const ConfigFile = T.Object(
  { ...settingsSchema([...FILE_KEYS]), instances: T.Optional(T.Array(DeclaredInstance, { errorMessage: 'must be an array' })) },
  { additionalProperties: false, errorMessage: 'must hold a JSON object' },
);

/** Parses and validates the configuration; throws UsageError on any bad input. */
export function loadConfig(sources: ConfigSources): Config {
  for (const name of Object.keys(sources.flags)) {
    if (!OPTIONS.some((o) => o.flag === name)) throw new UsageError(`unknown option --${name} (see ap serve --help)`);
  }
  const early = (flag: string): string | undefined => {
    const option = OPTIONS.find((o) => o.flag === flag)!;
    const fromFlag = sources.flags[flag];
    if (fromFlag !== undefined) return check(option, fromFlag, `--${flag}`);
    const fromEnv = nonEmpty(sources.env[option.env]);
    return fromEnv === undefined ? undefined : check(option, fromEnv, `environment variable ${option.env}`);
  };
  const board = getBoard(early('board') ?? 'dev');
  const root = resolvePath(early('root') ?? (board.name === 'dev' ? 'var' : '/'), sources.cwd);

  const explicitFile = early('config');
  const configFile = explicitFile !== undefined ? resolvePath(explicitFile, sources.cwd) : resolve(root, 'etc/ap.json');
  const file = readConfigFile(configFile, explicitFile !== undefined);

  const pick = (flag: string): string | undefined => {
    const option = OPTIONS.find((o) => o.flag === flag)!;
    const fromFlag = sources.flags[flag];
    if (fromFlag !== undefined) return check(option, fromFlag, `--${flag}`);
    const fromFile = option.file && file ? file.values.get(option.file) : undefined;
    if (fromFile !== undefined) return check(option, fromFile, `"${option.file}" in ${configFile}`);
    const fromEnv = nonEmpty(sources.env[option.env]);
    if (fromEnv !== undefined) return check(option, fromEnv, `environment variable ${option.env}`);
    return undefined;
  };

  const mode = (pick('db') ?? board.database) as 'managed' | 'attached';
  const bin = pick('pg-bin');
  const logFile = pick('log-file');
  const config: Config = {
    root,
    board,
    configFile: file ? configFile : null,
    http: {
      host: pick('host') ?? (board.name === 'dev' ? '127.0.0.1' : '::'),
      httpPort: Number(pick('http-port') ?? 80),
      httpsPort: Number(pick('https-port') ?? 443),
      // "Any free port" for the apps (tests) means any free port for the Manager too, so runs never collide on 8080.
      managerHttpPort: Number(pick('manager-http-port') ?? (pick('http-port') === '0' ? 0 : 8080)),
      managerHttpsPort: Number(pick('manager-https-port') ?? (pick('https-port') === '0' ? 0 : 8443)),
      maxHeaderBytes: parseBytes(pick('max-header-size') ?? '16K'),
      maxBodyBytes: parseBytes(pick('max-body-size') ?? '128M'),
      requestTimeoutMs: Number(pick('request-timeout') ?? 30) * 1000,
    },
    log: {
      level: (pick('log-level') ?? 'info') as LogLevel,
      file: logFile === undefined ? null : resolvePath(logFile, sources.cwd),
      format: (pick('log-format') ?? 'auto') as LogFormat,
    },
    db: {
      mode,
      socketDir: resolvePath(pick('db-socket-dir') ?? resolve(root, 'var/run/postgresql'), sources.cwd),
      port: Number(pick('db-port') ?? 5432),
      bin: bin === undefined ? null : resolvePath(bin, sources.cwd),
      restartDelayMs: Number(pick('db-restart-delay') ?? 500),
      restartLimit: Number(pick('db-restart-limit') ?? 5),
      restartWindowMs: Number(pick('db-restart-window') ?? 300) * 1000,
      checkIntervalMs: Number(pick('db-check-interval') ?? 5) * 1000,
      listen: listenAddresses(pick('pg-listen') ?? (board.name === 'dev' ? '127.0.0.1' : '*')),
      restartCommand: (pick('pg-restart-command') ?? '/etc/init.d/S50postgresql restart').trim().split(/\s+/),
      stopCommand: (pick('pg-stop-command') ?? '/etc/init.d/S50postgresql stop').trim().split(/\s+/),
      startCommand: (pick('pg-start-command') ?? '/etc/init.d/S50postgresql start').trim().split(/\s+/),
    },
    reserveBytes: parseBytes(pick('reserve-size') ?? '500M'),
    shutdownTimeoutMs: Number(pick('shutdown-timeout') ?? 30) * 1000,
    memoryBudgetMB: pick('memory-budget-mb') === undefined ? null : Number(pick('memory-budget-mb')),
    ws: {
      // 1M, not more: uWS buffers a frame in flight up to this size before we
      // see it, also before the PBX login, so login-max × max-payload is what
      // unauthenticated clients can make us hold (64 MiB by default).
      maxPayloadBytes: parseBytes(pick('ws-max-payload') ?? '1M'),
      idleTimeoutS: Number(pick('ws-idle-timeout') ?? 120),
      clientBudgetBytes: parseBytes(pick('ws-client-budget') ?? '1M'),
      holdBytes: parseBytes(pick('ws-hold-size') ?? '64K'),
      loginTimeoutS: Number(pick('ws-login-timeout') ?? 15),
      loginMax: Number(pick('ws-login-max') ?? 64),
    },
    services: {
      ownUser: (pick('app-user') ?? 'true') === 'true',
      logMaxBytes: parseBytes(pick('service-log-size') ?? '1M'),
      restartDelayMs: Number(pick('restart-delay') ?? 1000),
      restartLimit: Number(pick('restart-limit') ?? 5),
      restartWindowMs: Number(pick('restart-window') ?? 120) * 1000,
    },
    instances: file ? parseInstances(file.instances, configFile) : [],
    backup: { stallTimeoutMs: Number(pick('backup-stall-timeout') ?? 60) * 1000 },
    monitorIntervalMs: Number(pick('monitor-interval') ?? 10) * 1000,
    update: {
      keysDir: resolvePath(pick('image-keys') ?? resolve(root, 'etc/ap/keys'), sources.cwd),
      rebootCommand: pick('reboot-command') ?? (board.name === 'dev' ? 'none' : 'reboot'),
      confirmAfterMs: Number(pick('confirm-after') ?? 60) * 1000,
      shutdownCommand: pick('shutdown-command') ?? (board.name === 'dev' ? 'none' : 'poweroff'),
    },
    system: { passwdCommand: pick('passwd-command') ?? (board.name === 'dev' ? 'none' : 'chpasswd') },
  };
  if (sources.uid === 0 && !config.services.ownUser && pick('unsafe-services-as-root') !== 'true') {
    throw new UsageError('--app-user false as root would run every app service as root: leave it on, or add --unsafe-services-as-root true to debug (never on a box)');
  }
  checkPortsDiffer(config.http);
  return deepFreeze(config);
}

/** The four listeners need four ports (0, any free port, may repeat). */
function checkPortsDiffer(http: Config['http']): void {
  const ports: [string, number][] = [
    ['HTTP', http.httpPort],
    ['HTTPS', http.httpsPort],
    ["Manager's HTTP", http.managerHttpPort],
    ["Manager's HTTPS", http.managerHttpsPort],
  ];
  for (let i = 0; i < ports.length; i++) {
    for (let j = i + 1; j < ports.length; j++) {
      const [a, p] = ports[i]!;
      const [b, q] = ports[j]!;
      if (p === q && p !== 0) throw new UsageError(`the ${a} and ${b} ports must differ (both are ${p})`);
    }
  }
}

interface ConfigFile {
  readonly values: Map<string, string>;
  /** The declared instances, of the right types; parseInstances applies the model's rules. */
  readonly instances: readonly DeclaredInstance[];
}

function readConfigFile(path: string, required: boolean): ConfigFile | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (!required && (err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new UsageError(`cannot read config file ${path}: ${(err as Error).message}`, 'BAD_CONFIG_FILE');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`config file ${path} is not valid JSON: ${(err as Error).message}`, 'BAD_CONFIG_FILE');
  }
  const found = problem(ConfigFile, parsed);
  if (found) throw new UsageError(`config file ${path}${fileProblem(found.field, found.reason)}`, 'BAD_CONFIG_FILE');
  const file = parsed as { readonly instances?: readonly DeclaredInstance[] } & Record<string, unknown>;
  const values = new Map<string, string>();
  const walk = (object: Record<string, unknown>, prefix: string): void => {
    for (const [key, value] of Object.entries(object)) {
      const name = prefix + key;
      if (name === 'instances') continue;
      if (typeof value === 'object' && value !== null) walk(value as Record<string, unknown>, `${name}.`);
      else values.set(name, String(value));
    }
  };
  walk(file, '');
  return { values, instances: file.instances ?? [] };
}

/** A problem of the file in the words of the old hand checks: settings by their dotted names, instances as instances[i].field. */
function fileProblem(field: string, reason: string): string {
  if (field === '') return ` ${reason}`;
  const parts = field.split('.');
  if (parts[0] === 'instances' && parts.length > 1) {
    const at = `instances[${parts[1]}]`;
    if (parts.length === 2) return `: ${at} ${asSentence(reason)}`;
    const key = parts.slice(2).join('.');
    return reason === 'unknown field' ? `: ${at}: unknown field "${key}"` : `: ${at}.${key} ${asSentence(reason)}`;
  }
  if (reason === 'unknown field') return `: unknown setting "${field}" (known: ${[...FILE_KEYS].join(', ')})`;
  return `: "${field}" ${asSentence(reason)}`;
}

/** The config file's instances (their types already checked): each by the instance model's rules, no name or path twice. */
function parseInstances(declared: readonly DeclaredInstance[], file: string): InstanceConfig[] {
  const fail = (message: string): never => {
    throw new UsageError(`config file ${file}: ${message}`, 'BAD_CONFIG_FILE');
  };
  const seen = new Set<string>();
  const paths = new Set<string>();
  return declared.map((e, i) => {
    const at = `instances[${i}]`;
    // The instance model's own rules, so a declared instance is valid exactly when one made through the API would be.
    let path: string;
    try {
      checkService(e.service, `${at}.service`);
      checkName(e.name, `${at}.name`);
      checkDomain(e.domain, `${at}.domain`);
      checkPassword(e.password, `${at}.password`);
      path = checkPath(e.path ?? `/${e.domain}/${e.name}`, `${at}.path`);
    } catch (err) {
      return fail((err as Error).message);
    }
    const id = `${e.name}@${e.domain}`;
    if (seen.has(id)) fail(`${at}: instance ${id} is declared twice`);
    if (paths.has(path)) fail(`${at}: path ${path} is used twice`);
    seen.add(id);
    paths.add(path);
    let maxBodyBytes: number | null = null;
    if (e.maxBodySize !== undefined) {
      if (!BYTES.test(String(e.maxBodySize))) fail(`${at}.maxBodySize must be a size such as 10M`);
      maxBodyBytes = parseBytes(String(e.maxBodySize));
    }
    let traceFlags = DEFAULT_TRACE_FLAGS;
    if (e.traceFlags !== undefined) {
      try {
        traceFlags = parseTraceFlags(e.traceFlags);
      } catch (err) {
        fail(`${at}.traceFlags: ${(err as Error).message}`);
      }
    }
    return { service: e.service, name: e.name, domain: e.domain, path, password: e.password, maxBodyBytes, traceFlags };
  });
}

function check(option: Option, value: string, where: string): string {
  const fail = (want: string): never => {
    throw new UsageError(`invalid value "${value}" for ${where}: expected ${want}`, 'BAD_CONFIG_VALUE');
  };
  const kind = option.kind;
  if (typeof kind === 'object') {
    if (!kind.oneOf.includes(value)) fail(`one of ${kind.oneOf.join(', ')}`);
  } else if (kind === 'port') {
    if (!/^\d{1,5}$/.test(value) || Number(value) > 65535) fail('a port number from 0 to 65535');
  } else if (kind === 'count') {
    if (!/^\d{1,7}$/.test(value) || Number(value) < 1) fail('a whole number, at least 1');
  } else if (kind === 'seconds') {
    if (!/^\d{1,5}$/.test(value) || Number(value) < 1) fail('a whole number of seconds, at least 1');
  } else if (kind === 'boolean') {
    if (value !== 'true' && value !== 'false') fail('true or false');
  } else if (kind === 'bytes') {
    if (!BYTES.test(value)) fail('a size such as 500M, 64K, 1G or a number of bytes');
  } else if (value === '' || value.includes('\0')) {
    fail(kind === 'path' ? 'a path' : 'a non-empty string');
  }
  return value;
}

/** --pg-listen: "*", or addresses and host names separated by commas (what listen_addresses takes; nothing that could end its quoted value). */
function listenAddresses(value: string): string {
  const list = value.split(',').map((a) => a.trim());
  if (value.trim() === '*' || (list.every((a) => /^[A-Za-z0-9.:%-]{1,253}$/.test(a)) && list.length <= 16)) return list.join(',');
  throw new UsageError(`invalid value "${value}" for --pg-listen: expected * or addresses separated by commas, such as 0.0.0.0,:: or 127.0.0.1`, 'BAD_CONFIG_VALUE');
}

const BYTES = /^(\d{1,15})([KMG]?)$/i;
const UNIT: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 };

/** "500M" → bytes; input already checked against BYTES. */
export function parseBytes(value: string): number {
  const match = BYTES.exec(value);
  if (!match) throw new UsageError(`invalid size "${value}"`, 'BAD_CONFIG_VALUE');
  return Number(match[1]) * UNIT[match[2]!.toUpperCase()]!;
}

function resolvePath(path: string, cwd: string): string {
  return isAbsolute(path) ? resolve(path) : resolve(cwd, path);
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
