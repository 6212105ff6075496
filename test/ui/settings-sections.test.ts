// The Settings page's sections (src/ui/settings-sections.ts) against the
// settings the server serves: each one in exactly one section, none made up,
// and those this version does not act on never among the working ones.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BACKUP_SETTINGS } from '../../src/backup';
import { SETTINGS } from '../../src/db/registry';
import { REPLICATION_SETTINGS } from '../../src/replication';
import { SETTINGS_SECTIONS } from '../../src/ui/routes';
import { NOT_A_SETTING_HERE, SECTION_SETTINGS } from '../../src/ui/settings-sections';

describe('the sections of the Settings page', () => {
  const served = Object.keys({ ...SETTINGS, ...BACKUP_SETTINGS, ...REPLICATION_SETTINGS });

  it('show every setting the server serves in exactly one section, and no other name', () => {
    const shown = SETTINGS_SECTIONS.flatMap((id) => [...SECTION_SETTINGS[id].fields, ...SECTION_SETTINGS[id].later]);
    assert.deepEqual([...shown].sort(), served.filter((n) => !(NOT_A_SETTING_HERE as readonly string[]).includes(n)).sort());
    assert.equal(new Set(shown).size, shown.length, 'a setting in two places');
  });

  it("keep the settings this version does not act on apart: Let's Encrypt, a standby's, the access domains, the box's network", () => {
    const later = new Set(SETTINGS_SECTIONS.flatMap((id) => SECTION_SETTINGS[id].later));
    for (const name of ['letsEncryptEnabled', 'replicationPrimary', 'replicationPassword', 'accessDomains', 'ntpServer1', 'dnsServer1', 'devicesAppUrl']) assert.ok(later.has(name), name);
    // Read by this version: the App Installer's URLs use dnsName, the alarms use eventsUrl.
    for (const name of ['dnsName', 'eventsUrl', 'timezone', 'smtpServer', 'commandFile', 'metricsAccess']) assert.ok(!later.has(name), name);
  });
});
