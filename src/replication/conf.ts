// What PostgreSQL is told, as text: replication.conf (included by
// postgresql.conf) and the supervisor's block in pg_hba.conf. Pure functions
// of the wanted state, so they are tested as data; files.ts writes them.

export type Mode = 'off' | 'primary';

/** The file in the cluster's folder that postgresql.conf includes. */
export const CONF_FILE = 'replication.conf';
export const INCLUDE_LINE = `include_if_exists = '${CONF_FILE}'`;

export interface ConfWanted {
  readonly mode: Mode;
  /** listen_addresses while primary ("*", "127.0.0.1", "10.0.0.2,::1"). */
  readonly listen: string;
  /** The certificate and key files (in the cluster's folder) while primary. */
  readonly certFile: string;
  readonly keyFile: string;
}

/** Settings a primary needs (PostgreSQL 15's defaults already, said here so a changed default cannot break replication). */
export const PRIMARY_SETTINGS: Readonly<Record<string, string>> = {
  wal_level: 'replica',
  max_wal_senders: '10',
  max_replication_slots: '10',
  hot_standby: 'on',
};

/** replication.conf for `wanted`. Off: the Unix socket only, as without the file. */
export function renderConf(wanted: ConfWanted): string {
  const head = `# Written by the App Platform supervisor (replication ${wanted.mode}); rewritten on every change: edit the Manager's replication settings instead.`;
  if (wanted.mode === 'off') return `${head}\nlisten_addresses = ''\nssl = off\n`;
  return [
    head,
    `listen_addresses = ${literal(wanted.listen)}`,
    'ssl = on',
    `ssl_cert_file = ${literal(wanted.certFile)}`,
    `ssl_key_file = ${literal(wanted.keyFile)}`,
    ...Object.entries(PRIMARY_SETTINGS).map(([name, value]) => `${name} = ${value}`),
    '',
  ].join('\n');
}

/** postgresql.conf with the include line appended, or null when it has it (as its own line, not commented out). */
export function withInclude(text: string): string | null {
  if (text.split('\n').some((line) => line.trim() === INCLUDE_LINE)) return null;
  return `${text}${text.endsWith('\n') || text === '' ? '' : '\n'}# App Platform replication (a later line wins, so this stays last)\n${INCLUDE_LINE}\n`;
}

const BEGIN = '# BEGIN App Platform replication: written by the supervisor, rewritten on every change';
const END = '# END App Platform replication';

/**
 * pg_hba.conf with the supervisor's block for `roles` (none: no block): per
 * standby role, a replication connection over TLS with its password from
 * anywhere, and a refusal on the Unix socket (where "local all all
 * scram-sha-256" would let it log in to a database). The block goes first,
 * since the first matching line decides; every other line is kept as it is.
 */
export function withHbaRules(text: string, roles: readonly string[]): string {
  const lines = text.split('\n');
  const begin = lines.indexOf(BEGIN);
  const end = lines.indexOf(END);
  const rest = begin >= 0 && end > begin ? [...lines.slice(0, begin), ...lines.slice(end + 1)] : lines;
  if (roles.length === 0) return rest.join('\n');
  const block = [
    BEGIN,
    ...roles.flatMap((role) => [`local    all          ${role}                  reject`, `hostssl  replication  ${role}  all             scram-sha-256`]),
    END,
  ];
  // After the file's leading comments (its header), before its first rule.
  const first = rest.findIndex((line) => line.trim() !== '' && !line.trim().startsWith('#'));
  const at = first < 0 ? rest.length : first;
  return [...rest.slice(0, at), ...block, ...rest.slice(at)].join('\n');
}

/** A postgresql.conf string literal. */
export function literal(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

/** A libpq connection-string value: quoted, with \ and ' escaped. */
export function conninfoValue(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** What reconciling the cluster's roles and slots with the entries does, step by step. */
export type Step =
  | { readonly kind: 'drop-slot'; readonly slot: string }
  | { readonly kind: 'drop-role'; readonly role: string }
  | { readonly kind: 'role'; readonly role: string; readonly password: string; readonly exists: boolean }
  | { readonly kind: 'create-slot'; readonly slot: string };

export interface Current {
  /** Our roles in the cluster (isStandbyRole, with REPLICATION). */
  readonly roles: readonly string[];
  /** Our slots in the cluster. */
  readonly slots: readonly string[];
}

/**
 * Primary: every entry has its role (its password set again: a restored
 * manager database may hold other passwords than the roles) and its slot;
 * roles and slots without an entry go. Off: none of ours stay.
 */
export function plan(current: Current, mode: Mode, entries: readonly { readonly role: string; readonly password: string }[]): Step[] {
  const wanted = mode === 'primary' ? entries : [];
  const names = new Set(wanted.map((e) => e.role));
  const steps: Step[] = [];
  for (const slot of current.slots) if (!names.has(slot)) steps.push({ kind: 'drop-slot', slot });
  for (const role of current.roles) if (!names.has(role)) steps.push({ kind: 'drop-role', role });
  for (const e of wanted) steps.push({ kind: 'role', role: e.role, password: e.password, exists: current.roles.includes(e.role) });
  for (const e of wanted) if (!current.slots.includes(e.role)) steps.push({ kind: 'create-slot', slot: e.role });
  return steps;
}
