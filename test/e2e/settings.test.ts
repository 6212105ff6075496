// A section of settings saved at once (PUT /settings) through the bundled
// supervisor over HTTP, as the Manager's Settings page saves it: all or none,
// every refused field named with its reason, hidden values sent back as shown
// left as they are, the change logged with the names (never the values).
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { fetchRaw } from '../harness/http';
import { asSuperuser, ensureStopped, readyPorts, runAp, runApSync, type Run } from '../harness/supervisor';
import { rootWithConfig, workspace } from '../harness/workspace';

let dir: string;
let root: string;
let run: Run;
let base: string;
let token: string;

const ctl = (...args: string[]) => JSON.parse(runApSync(['ctl', ...args, '--json', '--root', root]).stdout) as Record<string, any>;

async function api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const answer = await fetchRaw(`${base}/manager/api${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: answer.status, body: JSON.parse(answer.body.toString()) };
}

/** What the config table holds (the API shows secrets hidden). */
const stored = (name: string) => asSuperuser(root, 'manager', async (sql) => (await sql<{ value: string }[]>`SELECT value FROM config WHERE name = ${name}`)[0]?.value ?? null);

const values = async (...names: string[]) => {
  const { settings } = (await api('GET', '/settings')).body as { settings: Record<string, { value: string }> };
  return Object.fromEntries(names.map((n) => [n, settings[n]!.value]));
};

before(async () => {
  dir = await workspace('ap-settings-e2e-');
  root = await rootWithConfig(dir, {});
  run = runAp(['serve', '--root', root, '--http-port', '0', '--https-port', '0', '--reserve-size', '0']);
  base = `http://127.0.0.1:${(await readyPorts(run)).manager}`;
  token = ctl('token', 'create', 'settings-test', '--scope', 'admin').token as string;
});

after(async () => {
  if (run) await ensureStopped(run);
  await rm(dir, { recursive: true, force: true });
});

describe('PUT /settings: a section of settings at once', () => {
  it('refuses the whole set when one value is wrong, naming every refused field, and changes nothing', async () => {
    const before = await values('smtpServer', 'smtpPort', 'diskThreshold', 'smtpSender');
    const answer = await api('PUT', '/settings', { values: { smtpServer: 'mail.example.com', smtpPort: '70000', diskThreshold: '120', smtpSender: 'box@example.com' } });
    assert.equal(answer.status, 400);
    assert.equal(answer.body.error.code, 'INVALID_FIELD');
    assert.equal(answer.body.error.field, 'smtpPort');
    assert.deepEqual(
      answer.body.error.fields.map((f: { field: string }) => f.field),
      ['smtpPort', 'diskThreshold'],
    );
    assert.match(answer.body.error.fields[0].message, /"70000" is not a port number/);
    assert.match(answer.body.error.fields[1].message, /not a percentage from 50 to 99/);
    // The message alone still says it all (ap ctl and older clients show only that).
    assert.match(answer.body.error.message, /smtpPort: .*; diskThreshold: /);
    assert.deepEqual(await values('smtpServer', 'smtpPort', 'diskThreshold', 'smtpSender'), before);
    // An unknown name and the mode (applied by PUT /replication only) are refused the same way.
    const unknown = await api('PUT', '/settings', { values: { smtpServer: 'mail.example.com', noSuchSetting: 'x', replicationMode: 'primary' } });
    assert.equal(unknown.status, 400);
    assert.deepEqual(
      unknown.body.error.fields.map((f: { field: string }) => f.field),
      ['noSuchSetting', 'replicationMode'],
    );
    assert.deepEqual(await values('smtpServer', 'replicationMode'), { smtpServer: '', replicationMode: 'off' });
    // A value that is not a string is refused by the schema, before anything runs.
    const typed = await api('PUT', '/settings', { values: { smtpServer: 'mail.example.com', smtpPort: 25 } });
    assert.deepEqual([typed.status, typed.body.error.code], [400, 'INVALID_FIELD']);
    assert.equal((await values('smtpServer')).smtpServer, '');
    // More names than there are settings: refused whole, in a short answer (not one naming each).
    const many = Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`bogus${i}`, 'x']));
    const flood = await api('PUT', '/settings', { values: { smtpServer: 'mail.example.com', ...many } });
    assert.deepEqual([flood.status, flood.body.error.code, flood.body.error.field], [400, 'INVALID_FIELD', 'values']);
    assert.match(flood.body.error.message, /^values: 5001 settings at once, but there are only \d+$/);
    assert.equal((await values('smtpServer')).smtpServer, '');
  });

  it('saves every value of a valid set, answers them as shown, and logs the names without the values', async () => {
    const answer = await api('PUT', '/settings', { values: { smtpServer: ' mail.example.com ', smtpPort: '0465', smtpSecurity: 'tls', smtpPassword: 'mail-secret-2026', diskThreshold: '90' } });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual(answer.body.values, { smtpServer: 'mail.example.com', smtpPort: '465', smtpSecurity: 'tls', smtpPassword: '***', diskThreshold: '90' });
    assert.deepEqual(await values('smtpServer', 'smtpPort', 'smtpSecurity', 'smtpPassword', 'diskThreshold'), answer.body.values);
    await run.waitFor(/changes: PUT \/settings \(smtpServer, smtpPort, smtpSecurity, smtpPassword, diskThreshold\) by API token settings-test/, 10_000);
    assert.doesNotMatch(run.output.text, /mail-secret-2026/);
  });

  it('keeps a secret and the command file\'s hidden credentials when they are sent back as shown', async () => {
    const commands = 'times 2\nbackup-manager https://user:pw-2026@backups.example.com/box/#I-#D.dump\n';
    assert.equal((await api('PUT', '/settings/commandFile', { value: commands })).status, 200);
    const shown = await values('smtpPassword', 'commandFile');
    assert.equal(shown.smtpPassword, '***');
    assert.doesNotMatch(shown.commandFile!, /pw-2026/);
    // The page sends a section back with what it was shown, and one change.
    const answer = await api('PUT', '/settings', { values: { ...shown, smtpUser: 'box' } });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(await stored('smtpUser'), 'box');
    assert.equal(await stored('smtpPassword'), 'mail-secret-2026');
    assert.equal(await stored('commandFile'), commands);
    // The single PUT keeps it too; an empty value still clears a secret.
    assert.deepEqual((await api('PUT', '/settings/smtpPassword', { value: '***' })).body, { name: 'smtpPassword', value: '***' });
    assert.equal(await stored('smtpPassword'), 'mail-secret-2026');
    assert.deepEqual((await api('PUT', '/settings', { values: { smtpPassword: '' } })).body, { values: { smtpPassword: '' } });
    assert.equal(await stored('smtpPassword'), '');
  });
});
