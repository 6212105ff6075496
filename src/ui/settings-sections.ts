// Which settings each section of the Settings page holds, as data: the ones
// this version acts on, and apart from them the ones it keeps and checks but
// does not act on yet. Pure (no DOM, no Preact): test/ui/settings-sections.test.ts
// checks that every setting the server has is in exactly one section.
import type { SettingsSection } from './routes';

export interface SectionSettings {
  /** The menu's name, short. */
  readonly title: string;
  /** The section's heading, when longer than the menu's name. */
  readonly heading?: string;
  /** Settings this version acts on, in the order shown. */
  readonly fields: readonly string[];
  /** Settings kept and checked, not acted on by this version: shown apart, at the end. */
  readonly later: readonly string[];
}

/** Shown on the Replication page, which applies it (PUT /replication): never among the settings. */
export const NOT_A_SETTING_HERE = ['replicationMode'] as const;

export const SECTION_SETTINGS: Readonly<Record<SettingsSection, SectionSettings>> = {
  general: {
    title: 'General',
    fields: ['timezone', 'dbOptimizationHour', 'appStoreUrl', 'dnsName', 'developerMode', 'disableAppSecurity'],
    later: ['devicesAppUrl', 'devicesAppUrl2', 'ntpServer1', 'ntpServer2', 'dnsServer1', 'dnsServer2'],
  },
  alarms: { title: 'Alarms and events', fields: ['alarmEmail', 'diskThreshold', 'eventsUrl', 'eventsUser', 'eventsPassword'], later: [] },
  smtp: { title: 'SMTP', heading: 'SMTP (the mail server)', fields: ['smtpServer', 'smtpPort', 'smtpSecurity', 'smtpUser', 'smtpPassword', 'smtpSender', 'smtpInsecureTls'], later: [] },
  security: { title: 'Security', heading: 'Security: certificate and passwords', fields: [], later: [] },
  backups: { title: 'Backups', heading: 'Backups: schedule and key', fields: ['commandFile'], later: [] },
  update: { title: 'Update', fields: [], later: [] },
  power: { title: 'Restart and shutdown', fields: [], later: [] },
  logs: { title: 'Logs and metrics', fields: ['accessLog', 'metricsAccess', 'metricsToken'], later: [] },
  installer: { title: 'App Installer', heading: 'App Installer (PBX Manager)', fields: ['installerMode'], later: [] },
  replication: { title: 'Replication', heading: 'Replication: a standby\'s settings', fields: [], later: ['replicationPrimary', 'replicationPort', 'replicationPassword'] },
  letsencrypt: { title: "Let's Encrypt", fields: [], later: ['letsEncryptEnabled', 'letsEncryptUrl', 'letsEncryptPassword', 'letsEncryptKeyLength', 'letsEncryptDnsNames'] },
  'access-domains': { title: 'Access Domains', heading: 'Registered Access Domains', fields: [], later: ['accessDomains'] },
};
