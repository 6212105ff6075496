// The Manager settings that exist so far, each with its default and its
// validation: what the admin API (and `ap ctl setting`) may read and write in
// the `config` table. A bad value is an InvalidField and is not saved.
import { ApError, InvalidField } from '../errors';
import { parseCommandFile } from '../backup/commands';
import { validTimeZone } from '../time';
import type { Settings } from './settings';

export { validTimeZone };

export interface SettingSpec {
  /** The seed's name for people. */
  readonly label: string;
  readonly default: string;
  /** Returns the value to store, or throws InvalidField. */
  readonly check: (value: string) => string;
  /** How the value is shown (secrets in it hidden); as stored when absent. */
  readonly show?: (value: string) => string;
}

export const SETTINGS: Readonly<Record<string, SettingSpec>> = {
  timezone: {
    label: 'Timezone string',
    default: 'UTC',
    check: (value) => {
      if (!validTimeZone(value)) throw new InvalidField('timezone', `"${value}" is not a time zone name such as Europe/Berlin or UTC`);
      return value;
    },
  },
  commandFile: {
    label: 'Command file',
    default: '',
    check: (value) => {
      try {
        parseCommandFile(value);
      } catch (err) {
        throw new InvalidField('commandFile', (err as Error).message);
      }
      return value;
    },
    // URLs may carry user:password@: never shown.
    show: (value) => value.replace(/(https?:\/\/)[^/@\s]*@/gi, '$1***@'),
  },
  dbOptimizationHour: {
    label: 'Database optimization time',
    default: '1',
    check: (value) => {
      if (!/^\d{1,2}$/.test(value) || Number(value) > 23) throw new InvalidField('dbOptimizationHour', `"${value}" is not an hour from 0 to 23`);
      return String(Number(value));
    },
  },
};

function spec(name: string): SettingSpec {
  const found = Object.hasOwn(SETTINGS, name) ? SETTINGS[name] : undefined;
  if (!found) throw new ApError('NOT_FOUND', `no setting ${name} (known: ${Object.keys(SETTINGS).join(', ')})`);
  return found;
}

/** Every known setting with its value (or default). */
export async function readSettings(store: Settings): Promise<Record<string, { label: string; value: string; isDefault: boolean }>> {
  const out: Record<string, { label: string; value: string; isDefault: boolean }> = {};
  for (const [name, s] of Object.entries(SETTINGS)) {
    const value = await store.get(name);
    const shown = value ?? s.default;
    out[name] = { label: s.label, value: s.show ? s.show(shown) : shown, isDefault: value === null };
  }
  return out;
}

/** Validates and saves one setting; returns the stored value. */
export async function writeSetting(store: Settings, name: string, value: unknown): Promise<string> {
  const s = spec(name);
  if (typeof value !== 'string') throw new InvalidField(name, 'expected a string');
  const checked = s.check(name === 'commandFile' ? value : value.trim());
  await store.set(name, checked);
  return s.show ? s.show(checked) : checked;
}

/** The settings' resources in the admin API. */
export function settingRoutes(store: Settings): import('../api').ApiRoute[] {
  return [
    { method: 'GET', pattern: '/settings', summary: 'the Manager settings with their values', handler: async () => ({ settings: await readSettings(store) }) },
    {
      method: 'PUT',
      pattern: '/settings/{name}',
      summary: 'set one setting ({"value": "…"}); validated before it is saved',
      handler: async ({ params, body }) => {
        const value = (body as { value?: unknown } | null)?.value;
        return { name: params.name, value: await writeSetting(store, params.name!, value) };
      },
    },
  ];
}
