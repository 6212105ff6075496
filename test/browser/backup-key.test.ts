// The Backup key card on the Manager's Settings page in a real browser:
// generate shows the key with the warning to keep it safe, remove asks first
// (Escape and Cancel keep it), import refuses a mistyped key; and the restore
// dialog on an instance's page says honestly that an encrypted file is read
// only by the box, which then restores it. Checked through the API, not only
// the page. The box is the dangerous-action tests' (dangerous-box.ts).
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach, describe, it } from 'node:test';
import { accessibilityProblems, base, ctl, dir, get, login, missing, openDialog, openInstance, page, refuseTwice, useDangerBox } from './dangerous-box';

useDangerBox();

const openSettings = async () => {
  await page.goto(`${base}/manager/#/settings/backups`);
  await page.getByRole('group', { name: 'Backup key' }).waitFor();
  return page.getByRole('group', { name: 'Backup key' });
};

describe('the backup key in the Manager', { skip: missing ?? false }, () => {
  beforeEach(login);
  let exported: string;

  it('generates a key and shows it once, with the warning to keep it safe', async () => {
    const card = await openSettings();
    await card.getByText(/No backup key: backups are written unencrypted/).waitFor();
    await card.getByRole('button', { name: 'Generate key' }).click();
    await card.getByText(/Keep this key safe, away from the box/).waitFor();
    exported = ctl('backup', 'key', 'export').key;
    assert.equal(await card.locator('code').textContent(), exported);
    const shown = await get('/backups/key');
    assert.equal(shown.set, true);
    await card.getByText(new RegExp(`encrypted with key ${shown.fingerprint}`)).waitFor();
    assert.deepEqual(await accessibilityProblems(page), [], 'the Settings page with the card and the key shown');
  });

  it("says an encrypted backup is read by the box only, and the box restores it over its instance", async () => {
    const file = join(dir, 'echo1.dump.enc');
    assert.equal(ctl('backup', 'instance', 'echo1@example.com', '--file', file).state, 'succeeded');
    assert.equal((await readFile(file)).subarray(0, 8).toString('latin1'), 'APBKENC1');
    await openInstance('echo1@example.com');
    await page.setInputFiles('input[name=file]', file);
    const dialog = await openDialog(page.getByRole('button', { name: 'Restore over this instance' }), 'Replace echo1@example.com with the backup?', /is an encrypted backup: what it holds is read only on the box/);
    assert.doesNotMatch((await dialog.textContent()) ?? '', /does not read as an instance backup/);
    await dialog.getByRole('button', { name: 'Replace echo1@example.com' }).click();
    await page.getByText(/restored echo1@example\.com/).waitFor({ timeout: 60_000 });
  });

  it('removes the key only when confirmed, and imports it back, refusing a mistyped one', async () => {
    const card = await openSettings();
    const remove = card.getByRole('button', { name: 'Remove key' });
    await refuseTwice(remove, /Remove backup key .*\?/, /can then be restored only after its exported text is imported again/, async () => {
      assert.equal((await get('/backups/key')).set, true);
    });
    const dialog = await openDialog(remove, /Remove backup key .*\?/, /export it first/);
    await dialog.getByRole('button', { name: 'Remove backup key' }).click();
    await card.getByText(/No backup key/).waitFor();
    assert.equal((await get('/backups/key')).set, false);

    const typo = exported.slice(0, 20) + (exported[20] === 'x' ? 'y' : 'x') + exported.slice(21);
    await card.getByLabel(/Import a key/).fill(typo);
    await card.getByRole('button', { name: 'Import' }).click();
    await card.getByText(/mistyped: its checksum does not match/).waitFor();
    assert.equal((await get('/backups/key')).set, false);
    await card.getByLabel(/Import a key/).fill(exported);
    await card.getByRole('button', { name: 'Import' }).click();
    await card.getByText(/encrypted with key/).waitFor();
    assert.equal(ctl('backup', 'key', 'export').key, exported);
  });
});
