import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { settingDefault, type Settings } from '../../src/db';
import { readSettings, SETTINGS, writeSetting } from '../../src/db/registry';
import { InvalidField } from '../../src/errors';

function memory(): Settings {
  const m = new Map<string, string>();
  return { get: async (n) => m.get(n) ?? null, set: async (n, v) => void m.set(n, v), setMany: async (values) => void Object.entries(values).forEach(([n, v]) => m.set(n, v)), delete: async (n) => void m.delete(n) };
}

describe('Manager settings', () => {
  it('has the seed\'s sections: General, Let\'s Encrypt, Alarms and events, SMTP, Replication, Registered Access Domains', () => {
    for (const name of ['developerMode', 'appStoreUrl', 'ntpServer1', 'timezone', 'dbOptimizationHour', 'letsEncryptDnsNames', 'eventsUrl', 'diskThreshold', 'smtpServer', 'replicationMode', 'accessDomains']) {
      assert.ok(SETTINGS[name], name);
    }
  });

  const bad: [string, string, RegExp][] = [
    ['developerMode', 'yes', /true or false/],
    ['devicesAppUrl', 'not a url', /not a URL/],
    ['ntpServer1', 'ntp server', /not a host name/],
    ['letsEncryptKeyLength', '1024', /2048, 3072, 4096/],
    ['letsEncryptDnsNames', Array.from({ length: 101 }, (_, i) => `h${i}.example.com`).join(','), /at most 100/],
    ['letsEncryptDnsNames', 'ok.example.com, bad_name', /"bad_name" is not a DNS name/],
    ['replicationMode', 'master', /off, primary, standby/],
    ['replicationPort', '70000', /not a port/],
    ['timezone', 'Nowhere/City', /not a time zone/],
    ['metricsAccess', 'everyone', /local, token, open/],
    ['metricsToken', 'too-short', /16 to 256/],
    ['metricsToken', 'has a space in it, sixteen+', /a bearer token/],
    ['installerMode', 'per-user', /shared, dedicated/],
    // It could not be used (the App Store is fetched without credentials), and its errors, which name the URL, reach installer tokens.
    ['appStoreUrl', 'https://user:s3cret@store.example.com', /without a user name or password/],
    // A megabyte sent is refused by its length, and the answer does not quote it back whole.
    ['appStoreUrl', `https://store.example.com/${'a'.repeat(1 << 20)}`, /: a URL of 1048602 characters: at most 2048$/],
    ['dnsName', 'x '.repeat(1 << 19), /: "(x ){40}…" is not a host name/],
  ];
  for (const [name, value, pattern] of bad) {
    it(`refuses ${name} = ${JSON.stringify(value).slice(0, 40)} and keeps the old value`, async () => {
      const store = memory();
      await assert.rejects(writeSetting(store, name, value), (e: InvalidField) => e.field === name && pattern.test(e.message));
      assert.equal(await store.get(name), null);
    });
  }

  it('normalizes lists and hides secrets when shown', async () => {
    const store = memory();
    assert.equal(await writeSetting(store, 'accessDomains', 'a.example.com, b.example.com\n*.c.example.com'), 'a.example.com\nb.example.com\n*.c.example.com');
    assert.equal(await writeSetting(store, 'replicationPassword', 's3cret value'), '***');
    assert.equal(await store.get('replicationPassword'), 's3cret value'); // taken as given: no trimming of secrets
    const shown = await readSettings(store);
    assert.equal(shown.replicationPassword!.value, '***');
    assert.equal(shown.letsEncryptKeyLength!.value, '2048');
    assert.equal(shown.letsEncryptKeyLength!.isDefault, true);
    // /manager/metrics: the box itself only, until a setting opens it; its token is a secret.
    assert.equal(shown.metricsAccess!.value, 'local');
    assert.equal(await writeSetting(store, 'metricsAccess', 'token'), 'token');
    assert.equal(await writeSetting(store, 'metricsToken', 'a-long-enough-token-0123456789'), '***');
    assert.equal(await store.get('metricsToken'), 'a-long-enough-token-0123456789');
  });

  it("tells a setting's default (the nightly optimisation at 1 o'clock, the disk alarm at 95 %) and refuses an unknown name", () => {
    assert.equal(settingDefault('dbOptimizationHour'), '1');
    assert.equal(settingDefault('diskThreshold'), '95');
    // The App Installer never removes what another domain uses unless the box is made one user's.
    assert.equal(settingDefault('installerMode'), 'shared');
    assert.throws(() => settingDefault('noSuchSetting'), (e: { code: string }) => e.code === 'NOT_FOUND');
  });
});
