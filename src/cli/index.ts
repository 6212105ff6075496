// The command line: `ap serve | ctl <command> | version | node-flags | pg-settings`. Parsing
// is pure; an unknown command or flag is a UsageError (exit 2).
import { OPTIONS } from '../config';
import { UsageError } from '../errors';
import {
  BACKUP_SWITCHES,
  BACKUP_VALUE_FLAGS,
  INSTANCE_SWITCHES,
  INSTANCE_VALUE_FLAGS,
  SERVICE_SWITCHES,
  SERVICE_VALUE_FLAGS,
  TOKEN_VALUE_FLAGS,
  UPDATE_SWITCHES,
  UPDATE_VALUE_FLAGS,
} from './flags';

export { BACKUP_SWITCHES, BACKUP_VALUE_FLAGS, INSTANCE_SWITCHES, INSTANCE_VALUE_FLAGS } from './flags';

export type Command = 'serve' | 'ctl' | 'version' | 'help' | 'node-flags' | 'pg-settings';

export interface Invocation {
  readonly command: Command;
  /** --name value / --name=value flags. */
  readonly flags: Readonly<Record<string, string>>;
  /** --name flags without a value. */
  readonly switches: ReadonlySet<string>;
  readonly positionals: readonly string[];
}

interface Spec {
  readonly values: readonly string[];
  readonly switches: readonly string[];
  readonly positionals: number;
}

const SERVE_FLAGS = OPTIONS.map((o) => o.flag);
const SPECS: Record<Command, Spec> = {
  serve: { values: SERVE_FLAGS, switches: ['help'], positionals: 0 },
  ctl: { values: ['root', 'board', 'timeout', ...INSTANCE_VALUE_FLAGS, ...BACKUP_VALUE_FLAGS, ...UPDATE_VALUE_FLAGS, ...SERVICE_VALUE_FLAGS, ...TOKEN_VALUE_FLAGS], switches: ['json', 'help', ...INSTANCE_SWITCHES, ...BACKUP_SWITCHES, ...UPDATE_SWITCHES, ...SERVICE_SWITCHES], positionals: 4 },
  version: { values: [], switches: ['json', 'help'], positionals: 0 },
  help: { values: [], switches: [], positionals: 1 },
  'node-flags': { values: ['board'], switches: ['help'], positionals: 0 },
  'pg-settings': { values: ['board'], switches: ['help'], positionals: 0 },
};

/** Splits `argv` (without node and script) into command, flags and positionals. */
export function parseArgs(argv: readonly string[]): Invocation {
  const [first, ...rest] = argv;
  if (first === undefined || first === 'help' || first === '--help' || first === '-h') {
    return { command: 'help', flags: {}, switches: new Set(), positionals: rest.slice(0, 1) };
  }
  if (first === '--version' || first === '-v') return { command: 'version', flags: {}, switches: new Set(), positionals: [] };
  if (!Object.hasOwn(SPECS, first)) throw new UsageError(`unknown command "${first}"\n\n${USAGE}`);
  const command = first as Command;
  const spec = SPECS[command];
  const flags: Record<string, string> = {};
  const switches = new Set<string>();
  const positionals: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    if (arg === '--') {
      positionals.push(...rest.slice(i + 1));
      break;
    }
    if (arg === '-h') {
      switches.add('help');
      continue;
    }
    if (!arg.startsWith('--')) {
      if (arg.startsWith('-') && arg !== '-') throw new UsageError(`unknown option ${arg} for "ap ${command}"`);
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    if (spec.switches.includes(name)) {
      if (eq >= 0) throw new UsageError(`option --${name} takes no value`);
      switches.add(name);
    } else if (spec.values.includes(name)) {
      const value = eq >= 0 ? arg.slice(eq + 1) : rest[++i];
      if (value === undefined) throw new UsageError(`option --${name} needs a value`);
      if (Object.hasOwn(flags, name)) throw new UsageError(`option --${name} given twice`);
      flags[name] = value;
    } else {
      throw new UsageError(`unknown option --${name} for "ap ${command}" (see ap ${command} --help)`);
    }
  }
  if (positionals.length > spec.positionals) {
    throw new UsageError(`unexpected argument "${positionals[spec.positionals]}" for "ap ${command}"`);
  }
  return { command, flags, switches, positionals };
}

export const USAGE = `usage: ap <command> [options]

commands:
  serve        run the supervisor (see ap serve --help)
  ctl <command>
               talk to the running supervisor: status, services, instances, backups, …
               (see ap ctl --help, and ap ctl <group> --help for one group)
  version      print the version and build label (--json for JSON)
  node-flags   print the Node.js flags for a board's memory (--board NAME)
  pg-settings  print the board's PostgreSQL settings as postgresql.conf lines (--board NAME)

--help after any command prints its help; with --json, ctl and version print
errors as JSON on stdout too ({"error": {"code", "message"}}), exit status unchanged.`;

/** Help for `ap serve`: one line per option. */
export function serveHelp(): string {
  const lines = OPTIONS.map((o) => `  --${o.flag.padEnd(18)} ${o.help} [${o.env}]`);
  return `usage: ap serve [options]\n\noptions (flags > config file > environment > defaults):\n${lines.join('\n')}`;
}

export const CTL_USAGE = `usage: ap ctl <command> [--root DIR] [--board NAME] [--json] [--timeout SECONDS]

commands:
  status                   the supervisor's state: version, board, ports, database, services
  service list             installed services and their states
  service show <name>      one service: version, state, restarts, failure, its last crash record
  service install <dir|file.tar.gz> [--no-wait] [--force]
                           copy an app-service folder (with its app.json), or unpack its .tar.gz,
                           in and start it; waits until it reports ready (at most the start timeout,
                           30 s): one that exits or stays silent is stopped and the install fails
                           with the end of its log (--no-wait: return once it is started); one that
                           does not fit in the memory budget is refused (--force: installed anyway)
  service start|stop|restart <name> [--force]
                           start (also one that failed), stop (it stays stopped across restarts
                           of the supervisor until started), or stop and start a service; a start
                           that does not fit in the memory budget is refused (--force: started anyway)
  service uninstall <name> [--instances] [--drop-databases] [--keep-logs] [--no-wait]
                           stop and remove a service: its package (also from the manager database),
                           account, cgroup, data and logs (--keep-logs: its logs stay); refused while
                           it has instances unless --instances deletes them too (their databases are
                           kept unless --drop-databases); waits for the job (--no-wait: does not)
  service log <name> [--bytes N]
                           the end of its log (default the last 64 KB, whole lines)
  service limits <name> [--memory MB] [--instance-memory MB] [--cpu-weight N] [--pids N] [--default]
                           set its limits (kept, applied at once); --default first forgets the ones
                           set before, so app.json's or the board's values apply again
  store list               the App Store's apps (apps.json at the appStoreUrl setting) and what is installed
  store install <id> [--build N] [--force] [--no-wait]
                           install or update an app from the App Store (its newest build by default);
                           only packages signed with a trusted key (--image-keys)
  replication [show]       replication: the mode, where PostgreSQL listens, the standbys with their
                           passwords, roles, slots and the WAL each slot keeps (docs/replication.md)
  replication mode off|primary [--yes]
                           make this box a primary (PostgreSQL on TCP --db-port, TLS only) or turn
                           replication off (with standbys: --yes, their roles and slots are dropped)
  replication standby <host[:port]> <name> --password <pw> [--yes]
                           make this box a standby of that primary (the name and password the primary
                           gave): removes the local apps, copies the primary's database (--yes confirms);
                           on a standby: follow another primary (a new copy). On a standby, mode off or
                           primary --yes promotes it
  replication add <name>   add a standby (a domain name; at most 8); prints the password to give it
  replication remove <name>
                           remove a standby with its role and slot
  token list               the API tokens: id, name, scopes, created, expires, last used (docs/api.md)
  token create <name> --scope admin[,read,installer,metrics] [--expires-days N]
                           make an API token for scripts, Prometheus or the App Installer; prints it
                           once (only its hash is kept): send it as Authorization: Bearer <token>
  token revoke <id-or-name>
                           revoke a token: its next request is refused
  cert show                the webserver certificate being served
  cert install <pem-file>  use this PEM chain (certificate, intermediates, unencrypted key) for HTTPS
  password [PW|-]          set the Manager password (none: asked twice on a terminal, not echoed; "-" or a pipe:
                           the first line of stdin; at least 8 characters, not a common or breached one, no
                           repeated character, sequence or product word); ends every Manager session. For a forgotten password
  instance list            instances with state, path and database size
  instance show <id>       one instance (id: name@domain)
  instance create <id> --service NAME [--path P] [--password PW] [--db-name N] [--db-user U]
                  [--db-password PW] [--external-host H[:PORT] --external-db N --external-user U
                  --external-password PW] [--trace-flags App,Database|0x8001] [--exclude-from-backup true]
                  [--max-body-size 10M] [--stopped] [--adopt-database] [--force]
                           create an instance and its database (defaults: path /<domain>/<name>,
                           database and user <domain>_<name>, random passwords); one that does not
                           fit in the memory budget is refused (--force: created anyway)
  instance edit <id> [--path P] [--password PW|--new-password] [--db-password PW|--new-db-password]
                  [--external-… | --external-host none] [--trace-flags …] [--exclude-from-backup …]
                  [--max-body-size SIZE|default]
                           change an instance; applies at once
  instance start|stop <id> [--force]
                           serve or stop serving an instance (a start is admitted like a create)
  instance delete <id> [--drop-database]
                           delete an instance; its database and user only with --drop-database
                           (a password given as "-" is read from stdin)
  instance cleanup <id> [--no-wait]
                           vacuumdb -f on its database: frees the space of deleted rows; locks the
                           database while it runs and needs free disk space
  backup instance <id> (--file F | --url U [--method PUT|POST])
  backup manager (--file F | --url U [--method PUT|POST])
                           back up an instance (metadata and pg_dump -Fc, checksummed) or the
                           manager database, streamed to a file or an HTTP(S) target
  backup verify <file> [--restore-test]
                           check a backup: checksum, pg_restore --list, optionally a full
                           restore into a scratch database
  backup run | schedule    run the command file's backups now; show its schedule
  backup key [show] | generate | import [--key-file F] | export | remove --yes
                           the backup key (docs/backup.md): whether one is set and its fingerprint;
                           make one (every backup is written encrypted from then on); set it from its
                           exported text (--key-file, else stdin; never on the command line); print it
                           to keep safe; remove it (backups written with it then need the exported text)
  backup decrypt <in> <out> [--key-file F | --key-stdin] [--force]
                           write the plain backup file (pg_restore reads it) of an encrypted one, without
                           the supervisor; the key from its exported text (a file, or stdin), else the
                           box's key file (as root); refuses to overwrite <out> unless --force
  restore instance <file> [--name N] [--domain D] [--path P] [--db-name N] [--db-user U] [--replace <name@domain>]
                           restore an instance (verified first; under another name: a copy;
                           over an existing one only when named by --replace, and only with
                           a backup of that instance or as a copy with its name)
  restore manager <file>   restore the manager database: settings and instances come back
  update [check]           the running image, the newest the store offers, the update journal
  update run [--label L] [--force] [--no-wait]
                           update the App Platform: download, verify, stage, reboot into the rescue
  update reset-label [L]   write L (default 110000) to p1/label, as the seed says, so any image is newer
  manager [check]          the supervisor's version and build, the newest build the App Store offers, a failed update
  manager update [--build N] [--force] [--no-wait]
                           update the supervisor from the App Store: verify and stage its signed package,
                           restart into it (app WebSockets drop once); a build not ready in time is
                           replaced by the previous one (alarm MANAGER_UPDATE_FAILED)
  boot show|normal|rescue  the boot control (grub entry, or the gateway's three boot settings)
  fsck                     check p2 and p3 (e2fsck -p -f) from the rescue system at the next reboot
  alarms                   active alarms, most severe first
  alarms ack <id>          say you have seen alarm <id> (it stays active until its cause is gone)
  db [start]               the database: up, down since, restarting or given up; start: try a given-up cluster again
  metrics                  the latest value of every metric (the same at /manager/metrics for Prometheus)
  mail test [address]      send a test mail with the SMTP settings (to the alarm address by default)
  jobs [id]                recent jobs (backups, restores, clean-ups) or one, with its outcome
  setting list             the Manager settings (every section of Settings) and their values
  setting set <name> <value>
                           change one, validated first ("-" reads the value from stdin, e.g. the
                           command file: ap ctl setting set commandFile - < commands.txt)
  analyse [run] [--no-wait]
                           the nightly analyse (vacuumdb -a -z): its schedule and last result, or run it now
  linux-password root|admin [PW|-]
                           set a Linux user's password (none: asked twice on a terminal; "-": stdin) with the board's
                           --passwd-command (chpasswd); the Manager never stores it
  diagnostics              versions, memory, sessions, recent jobs and alarms (JSON), for a support case
  system budget            the memory budget: total, kernel, supervisor, PostgreSQL and its connections,
                           each service's reservation, free (docs/budget.md)
  system restart|shutdown --yes
                           reboot or power off the box (the board's commands)
  debug gc                 run a full garbage collection (needs node --expose-gc) and print memory`;

/**
 * Help for one command group of `ap ctl` (`instance`, `service`, …): its
 * entries of CTL_USAGE, or null when no command starts with `group`.
 */
export function ctlGroupHelp(group: string): string | null {
  const entries: string[][] = [];
  for (const line of CTL_USAGE.split('\n').slice(3)) {
    if (/^ {2}\S/.test(line)) entries.push([line]);
    else entries.at(-1)?.push(line);
  }
  const mine = entries.filter(([first]) => first!.trim().split(/\s/)[0] === group);
  if (mine.length === 0) return null;
  return `usage: ap ctl ${group} … [--root DIR] [--board NAME] [--json] [--timeout SECONDS]\n\ncommands:\n${mine.map((e) => e.join('\n')).join('\n')}`;
}

/** Help for `ap version`, `ap node-flags` and `ap pg-settings`. */
export const SMALL_HELP: Readonly<Record<'version' | 'node-flags' | 'pg-settings', string>> = {
  version: 'usage: ap version [--json]\n\nprints the version and build label (also: ap --version)',
  'node-flags': "usage: ap node-flags [--board NAME]\n\nprints the Node.js flags for the board's memory (default: the dev board, or AP_BOARD)",
  'pg-settings': "usage: ap pg-settings [--board NAME]\n\nprints the board's PostgreSQL memory settings as postgresql.conf lines (default: the dev board, or AP_BOARD);\nS50postgresql writes them to board.conf in the cluster's folder",
};
