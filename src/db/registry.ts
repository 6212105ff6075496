// The Manager settings, each with its default and its validation: what the
// admin API (and `ap ctl setting`) may read and write in the `config` table.
// A bad value is an InvalidField and is not saved. The general settings are
// declared here; a subsystem whose setting needs its own parser (the backup's
// command file) declares its spec itself, and the composition root hands the
// whole list to settingRoutes, so this low layer imports no higher one.
import { route, T, type ApiRoute } from '../api';
import { ApError, InvalidField, InvalidFields } from '../errors';
import { validTimeZone } from '../time';
import type { Settings } from './settings';
import { SettingView } from './views';

export { validTimeZone };

export interface SettingSpec {
  /** The seed's name for people. */
  readonly label: string;
  readonly default: string;
  /** Returns the value to store, or throws InvalidField. */
  readonly check: Check;
  /** How the value is shown (secrets in it hidden); as stored when absent. */
  readonly show?: (value: string) => string;
}

/** A setting's check; `choices` when only a few values are valid (the UI offers them as a list). */
type Check = ((value: string) => string) & { readonly choices?: readonly string[] };

const EMAIL = /^[^\s@<>]{1,64}@[^\s@<>]{1,255}$/;

/** Secrets are shown as set or not, never as they are. */
function secret(value: string): string {
  return value === '' ? '' : '***';
}

/** A refused value as an error message quotes it: its start only, so a megabyte sent is not a megabyte answered (and logged). */
function quoted(value: string): string {
  return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
}

/** The longest URL a setting takes (browsers and proxies go about as far). */
const URL_MAX = 2048;

function printableSetting(name: string, value: string): string {
  if (value.length > 256 || /[\u0000-\u001f\u007f]/.test(value)) throw new InvalidField(name, 'at most 256 characters, no control characters');
  return value;
}


function checkBool(name: string): Check {
  return checkOneOf(name, ['true', 'false'], 'expected true or false');
}

/** An optional URL of the given schemes; with `noCredentials`, user:password@ is refused (they have settings of their own). */
function checkUrl(name: string, schemes: readonly string[] = ['http', 'https', 'ws', 'wss'], noCredentials?: string): (value: string) => string {
  return (value) => {
    if (value === '') return value;
    if (value.length > URL_MAX) throw new InvalidField(name, `a URL of ${value.length} characters: at most ${URL_MAX}`);
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new InvalidField(name, `${quoted(value)} is not a URL`);
    }
    if (!schemes.includes(url.protocol.slice(0, -1))) throw new InvalidField(name, `must be an ${schemes.join(' or ')} URL`);
    if (noCredentials && (url.username || url.password)) throw new InvalidField(name, noCredentials);
    return value;
  };
}

const HOST_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;
function isHost(value: string): boolean {
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(value)) return value.split('.').every((n) => Number(n) <= 255);
  if (value.includes(':')) return /^[0-9a-f:]+$/i.test(value);
  return value.length <= 253 && value.split('.').every((l) => HOST_LABEL.test(l));
}

function checkHost(name: string): (value: string) => string {
  return (value) => {
    if (value !== '' && !isHost(value)) throw new InvalidField(name, `${quoted(value)} is not a host name or address`);
    return value;
  };
}

/** A list, one per line or comma-separated, of host names (at most `max`). */
function checkHostList(name: string, max: number): (value: string) => string {
  return (value) => {
    const items = value.split(/[\s,]+/).filter(Boolean);
    if (items.length > max) throw new InvalidField(name, `at most ${max} names`);
    const bad = items.find((i) => !isHost(i.replace(/^\*\./, '')));
    if (bad) throw new InvalidField(name, `${quoted(bad)} is not a DNS name`);
    return items.join('\n');
  };
}

function checkEmail(name: string): (value: string) => string {
  return (value) => {
    if (value !== '' && !EMAIL.test(value)) throw new InvalidField(name, `${quoted(value)} is not an e-mail address`);
    return value;
  };
}

function checkPort(name: string): (value: string) => string {
  return (value) => {
    if (!/^\d{1,5}$/.test(value) || Number(value) < 1 || Number(value) > 65535) throw new InvalidField(name, `${quoted(value)} is not a port number`);
    return String(Number(value));
  };
}

function checkOneOf(name: string, values: readonly string[], expected = `expected ${values.join(', ')}`): Check {
  const check = (value: string) => {
    if (!values.includes(value)) throw new InvalidField(name, expected);
    return value;
  };
  return Object.assign(check, { choices: values });
}

/** Settings by name. */
export type SettingSpecs = Readonly<Record<string, SettingSpec>>;

/** The general settings (a subsystem's own come with it: see settingRoutes). */
export const SETTINGS: SettingSpecs = {
  timezone: {
    label: 'Timezone string',
    default: 'UTC',
    check: (value) => {
      if (!validTimeZone(value)) throw new InvalidField('timezone', `${quoted(value)} is not a time zone name such as Europe/Berlin or UTC`);
      return value;
    },
  },
  // General (the seed's list; shown, saved and validated; acted upon as their issues land).
  developerMode: { label: 'Enable Developer mode (apps uploaded without an App Store)', default: 'false', check: checkBool('developerMode') },
  disableAppSecurity: { label: 'Disable App security (each app\'s own Linux account gets a login shell, from its next start)', default: 'false', check: checkBool('disableAppSecurity') },
  devicesAppUrl: { label: 'Devices app URL', default: '', check: checkUrl('devicesAppUrl') },
  devicesAppUrl2: { label: "Devices app URL 2 (don't use)", default: '', check: checkUrl('devicesAppUrl2') },
  dnsName: { label: 'App Platform DNS name', default: '', check: checkHost('dnsName') },
  ntpServer1: { label: 'NTP server 1', default: '', check: checkHost('ntpServer1') },
  ntpServer2: { label: 'NTP server 2', default: '', check: checkHost('ntpServer2') },
  dnsServer1: { label: 'DNS server 1', default: '', check: checkHost('dnsServer1') },
  dnsServer2: { label: 'DNS server 2', default: '', check: checkHost('dnsServer2') },
  // Let's Encrypt.
  letsEncryptEnabled: { label: "Let's Encrypt: enable", default: 'false', check: checkBool('letsEncryptEnabled') },
  letsEncryptUrl: { label: "Let's Encrypt App URL", default: '', check: checkUrl('letsEncryptUrl') },
  letsEncryptPassword: { label: "Let's Encrypt App password", default: '', check: (value) => printableSetting('letsEncryptPassword', value), show: secret },
  letsEncryptKeyLength: { label: "Let's Encrypt: key length", default: '2048', check: checkOneOf('letsEncryptKeyLength', ['2048', '3072', '4096']) },
  letsEncryptDnsNames: { label: "Let's Encrypt: DNS names (up to 100)", default: '', check: checkHostList('letsEncryptDnsNames', 100) },
  // Replication.
  replicationMode: { label: 'Replication: off, primary or standby', default: 'off', check: checkOneOf('replicationMode', ['off', 'primary', 'standby']) },
  replicationPrimary: { label: 'Replication: primary (for a standby)', default: '', check: checkHost('replicationPrimary') },
  replicationPort: { label: 'Replication: PostgreSQL port', default: '5432', check: checkPort('replicationPort') },
  replicationPassword: { label: 'Replication: password', default: '', check: (value) => printableSetting('replicationPassword', value), show: secret },
  // Registered Access Domains.
  accessDomains: { label: 'Registered Access Domains', default: '', check: checkHostList('accessDomains', 1000) },
  // The App Installer of the PBX Manager (src/installer, docs/installer.md).
  installerMode: {
    label: 'App Installer (PBX Manager): shared (an App Platform shared between domains: an app goes with its last instance, only the administrator updates) or dedicated (one App Platform per user); an app the administrator installed stays in both',
    default: 'shared',
    check: checkOneOf('installerMode', ['shared', 'dedicated']),
  },
  appStoreUrl: { label: 'App Store URL (apps and images of the App Platform itself)', default: '', check: checkUrl('appStoreUrl', ['http', 'https'], 'the App Store is read without a user name or password: give its URL without them') },
  eventsUrl: {
    label: 'Alarms and events: URL of the Events app',
    default: '',
    check: checkUrl('eventsUrl', ['http', 'https'], 'put the credentials into eventsUser and eventsPassword, not into the URL'),
  },
  eventsUser: { label: 'Alarms and events: username', default: '', check: (value) => printableSetting('eventsUser', value) },
  eventsPassword: { label: 'Alarms and events: password', default: '', check: (value) => printableSetting('eventsPassword', value), show: secret },
  alarmEmail: { label: 'Alarms and events: e-mail address for disk and alarm mails', default: '', check: checkEmail('alarmEmail') },
  diskThreshold: {
    label: 'Alarms and events: threshold (% of the data partition)',
    default: '95',
    check: (value) => {
      if (!/^\d{2}$/.test(value) || Number(value) < 50) throw new InvalidField('diskThreshold', `${quoted(value)} is not a percentage from 50 to 99`);
      return value;
    },
  },
  smtpServer: { label: 'SMTP: server', default: '', check: checkHost('smtpServer') },
  smtpPort: { label: 'SMTP: port', default: '587', check: checkPort('smtpPort') },
  smtpSecurity: { label: 'SMTP: none, starttls or tls', default: 'starttls', check: checkOneOf('smtpSecurity', ['none', 'starttls', 'tls']) },
  smtpUser: { label: 'SMTP: user', default: '', check: (value) => printableSetting('smtpUser', value) },
  smtpPassword: { label: 'SMTP: password', default: '', check: (value) => printableSetting('smtpPassword', value), show: secret },
  smtpSender: { label: 'SMTP: sender address', default: '', check: checkEmail('smtpSender') },
  smtpInsecureTls: { label: 'SMTP: accept a certificate that cannot be verified (true/false)', default: 'false', check: checkBool('smtpInsecureTls') },
  // Who may read /manager/metrics besides the box itself (docs/monitoring.md).
  accessLog: { label: 'Access log (mnt/sda2/log/access.log): a line per HTTP answer and WebSocket upgrade, on or off', default: 'off', check: checkOneOf('accessLog', ['off', 'on']) },
  metricsAccess: { label: 'Prometheus metrics (/manager/metrics) for others than the box itself: local (none), token or open', default: 'local', check: checkOneOf('metricsAccess', ['local', 'token', 'open']) },
  metricsToken: {
    label: 'Prometheus metrics: bearer token (with metricsAccess token)',
    default: '',
    check: (value) => {
      if (value !== '' && !/^[A-Za-z0-9._~+/=-]{16,256}$/.test(value)) throw new InvalidField('metricsToken', '16 to 256 letters, digits or ._~+/=- (a bearer token), or empty');
      return value;
    },
    show: secret,
  },
  dbOptimizationHour: {
    label: 'Database optimization time',
    default: '1',
    check: (value) => {
      if (!/^\d{1,2}$/.test(value) || Number(value) > 23) throw new InvalidField('dbOptimizationHour', `${quoted(value)} is not an hour from 0 to 23`);
      return String(Number(value));
    },
  },
};

function spec(name: string, specs: SettingSpecs = SETTINGS): SettingSpec {
  const found = Object.hasOwn(specs, name) ? specs[name] : undefined;
  if (!found) throw new ApError('NOT_FOUND', `no setting ${name} (known: ${Object.keys(specs).join(', ')})`);
  return found;
}

/** A general setting's default (what it is until someone sets it). */
export function settingDefault(name: string): string {
  return spec(name).default;
}

/** The value of a general setting, or its default. */
export async function settingValue(store: Settings, name: string): Promise<string> {
  return (await store.get(name)) ?? spec(name).default;
}

/** Every setting of `specs` with its value (or default). */
export async function readSettings(store: Settings, specs: SettingSpecs = SETTINGS): Promise<Record<string, SettingView>> {
  const out: Record<string, SettingView> = {};
  for (const [name, s] of Object.entries(specs)) {
    const value = await store.get(name);
    const shown = value ?? s.default;
    out[name] = { label: s.label, value: s.show ? s.show(shown) : shown, isDefault: value === null, ...(s.check.choices ? { choices: [...s.check.choices] } : {}) };
  }
  return out;
}

/**
 * The value to store for `name`, checked (throws InvalidField), or null when
 * it is to stay as it is: a value shown hidden (a secret, the command file's
 * credentials) sent back exactly as shown.
 */
async function checkedValue(store: Settings, name: string, value: unknown, specs: SettingSpecs): Promise<string | null> {
  const s = Object.hasOwn(specs, name) ? specs[name] : undefined;
  if (!s) throw new InvalidField(name, 'no such setting');
  if (typeof value !== 'string') throw new InvalidField(name, 'expected a string');
  if (s.show) {
    const stored = (await store.get(name)) ?? s.default;
    if (value !== stored && value === s.show(stored)) return null;
  }
  // Values shown hidden are taken as given; other values lose stray spaces.
  return s.check(s.show ? value : value.trim());
}

/** How a stored value of `name` is shown (secrets in it hidden). */
async function shownValue(store: Settings, name: string, specs: SettingSpecs): Promise<string> {
  const s = specs[name]!;
  const value = (await store.get(name)) ?? s.default;
  return s.show ? s.show(value) : value;
}

/** Validates and saves one setting of `specs`; returns the value as shown. */
export async function writeSetting(store: Settings, name: string, value: unknown, specs: SettingSpecs = SETTINGS): Promise<string> {
  spec(name, specs);
  const checked = await checkedValue(store, name, value, specs);
  if (checked !== null) await store.set(name, checked);
  return shownValue(store, name, specs);
}

/**
 * Validates every one of `values` first and saves them all in one write, or
 * none: every refused one is named in one InvalidFields. Returns the values
 * as shown.
 */
export async function writeSettings(store: Settings, values: Readonly<Record<string, unknown>>, specs: SettingSpecs = SETTINGS): Promise<Record<string, string>> {
  const wanted: Record<string, string> = {};
  const refused: InvalidField[] = [];
  const count = Object.keys(values).length;
  // More than there are settings cannot all be right: refused whole, before a
  // check per name (and an answer naming each of tens of thousands).
  const known = Object.keys(specs).length;
  if (count > known) throw new InvalidField('values', `${count} settings at once, but there are only ${known}`);
  for (const [name, value] of Object.entries(values)) {
    try {
      const checked = await checkedValue(store, name, value, specs);
      if (checked !== null) wanted[name] = checked;
    } catch (err) {
      if (!(err instanceof InvalidField)) throw err;
      refused.push(err);
    }
  }
  if (refused.length > 0) throw new InvalidFields(refused);
  await store.setMany(wanted);
  const shown: Record<string, string> = {};
  for (const name of Object.keys(values)) shown[name] = await shownValue(store, name, specs);
  return shown;
}

/** The settings' resources in the admin API: the general ones and those the subsystems declare (`owned`). */
export function settingRoutes(store: Settings, owned: SettingSpecs = {}): ApiRoute[] {
  const specs: SettingSpecs = { ...SETTINGS, ...owned };
  return [
    { method: 'GET', pattern: '/settings', summary: 'the Manager settings with their values', response: T.Object({ settings: T.Record(T.String(), SettingView) }), handler: async () => ({ settings: await readSettings(store, specs) }) },
    route({
      method: 'PUT',
      pattern: '/settings',
      summary: 'set several settings at once, all or none ({"values": {"name": "value", …}}: a section of the Manager\'s Settings): each is checked first; when any is refused nothing is saved and the 400 INVALID_FIELD names every refused one in "fields"; a hidden value (a secret shown as ***) sent back as shown stays as it is',
      body: T.Object({ values: T.Record(T.String(), T.String()) }),
      response: T.Object({ values: T.Record(T.String(), T.String(), { description: 'each setting sent, as it is now shown (secrets masked)' }) }),
      changeNote: (body) => Object.keys(body.values).join(', '),
      handler: async ({ body }) => ({ values: await writeSettings(store, body.values, specs) }),
    }),
    route({
      method: 'PUT',
      pattern: '/settings/{name}',
      summary: 'set one setting ({"value": "…"}); validated before it is saved; a hidden value sent back as shown stays as it is',
      body: T.Object({ value: T.String() }),
      response: T.Object({ name: T.String(), value: T.String() }),
      handler: async ({ params, body }) => ({ name: params.name, value: await writeSetting(store, params.name!, body.value, specs) }),
    }),
  ];
}
