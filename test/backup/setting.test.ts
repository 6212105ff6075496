import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Api } from '../../src/api';
import { BACKUP_SETTINGS } from '../../src/backup';
import { settingRoutes, type Settings } from '../../src/db';

function memory(): Settings {
  const m = new Map<string, string>();
  return { get: async (n) => m.get(n) ?? null, set: async (n, v) => void m.set(n, v), setMany: async (values) => void Object.entries(values).forEach(([n, v]) => m.set(n, v)), delete: async (n) => void m.delete(n) };
}

// The command file is the backup's setting: declared by backup, served by db's settings routes.
describe('the commandFile setting', () => {
  const setup = () => {
    const store = memory();
    return { store, api: new Api(settingRoutes(store, BACKUP_SETTINGS), { checkResponses: true }) };
  };

  it('is listed with the general settings, empty by default', async () => {
    const { api } = setup();
    const answer = await api.handle({ method: 'GET', path: '/settings', query: {}, body: null });
    const settings = (answer.body as { settings: Record<string, { value: string; isDefault: boolean }> }).settings;
    assert.deepEqual(settings.commandFile, { label: 'Command file', value: '', isDefault: true });
    assert.equal(settings.timezone?.value, 'UTC');
  });

  it('refuses a command file its parser refuses, naming the line, and keeps the old value', async () => {
    const { api, store } = setup();
    const answer = await api.handle({ method: 'PUT', path: '/settings/commandFile', query: {}, body: { value: 'times 99' } });
    assert.equal(answer.status, 400);
    const error = (answer.body as { error: { code: string; field?: string; message: string } }).error;
    assert.equal(error.field, 'commandFile');
    assert.match(error.message, /line 1/);
    assert.equal(await store.get('commandFile'), null);
  });

  it('saves a valid one as given and shows its URLs without credentials', async () => {
    const { api, store } = setup();
    const text = 'times 2\nbackup-manager http://user:pw@nas/m.dump\n';
    const answer = await api.handle({ method: 'PUT', path: '/settings/commandFile', query: {}, body: { value: text } });
    assert.equal(answer.status, 200);
    assert.equal((answer.body as { value: string }).value, 'times 2\nbackup-manager http://***@nas/m.dump\n');
    assert.equal(await store.get('commandFile'), text);
  });
});
