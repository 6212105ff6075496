// The App Installer's answers, each schema with its type, one declaration
// (the OpenAPI document shows them, tests check answers by them).
import { T, type Static } from '../api';
import { JobView } from '../jobs';
import { StoreVersion } from '../store';

export const InstallerMode = T.Union([T.Literal('shared'), T.Literal('dedicated')], { description: 'the installerMode setting' });
export type InstallerMode = Static<typeof InstallerMode>;

export const InstallerInfo = T.Object({
  mode: InstallerMode,
  install: T.Boolean({ description: 'the PBX Manager may install apps for a domain (always)' }),
  update: T.Boolean({ description: 'the PBX Manager may update an app service (dedicated only: in shared mode updates are the administrator\'s)' }),
  uninstall: T.String({ description: 'what an uninstall for a domain removes in this mode' }),
});
export type InstallerInfo = Static<typeof InstallerInfo>;

/** Where a domain's instance of an app is served. */
const InstanceSummary = T.Object({
  id: T.String({ description: 'name@domain' }),
  path: T.String({ description: 'its webserver path, /<domain>/<name>' }),
  url: T.Union([T.String(), T.Null()], { description: 'https://<dnsName><path> when the App Platform DNS name (setting dnsName) is set' }),
  state: T.String({ description: 'running, stopped, waiting (for its service), provisioning or deleting' }),
});

export const InstallerApp = T.Object({
  id: T.String(),
  title: T.String(),
  manufacturer: T.String(),
  description: T.String(),
  newest: StoreVersion,
  service: T.Union([T.Object({ version: T.String(), label: T.String({ description: 'its build' }) }), T.Null()], { description: 'the app service installed on this box (for any domain), or null' }),
  installed: T.Boolean({ description: 'the domain has an instance of the app' }),
  instance: T.Union([InstanceSummary, T.Null()], { description: "the domain's instance" }),
  updateAvailable: T.Boolean({ description: 'the store has a newer build than the installed service' }),
});

export const InstallerApps = T.Object({
  mode: InstallerMode,
  domain: T.String(),
  apps: T.Array(InstallerApp),
});
export type InstallerApps = Static<typeof InstallerApps>;

/** What the PBX Manager configures on its side once an install succeeded. */
const InstallResult = T.Object({
  instance: T.String({ description: 'name@domain' }),
  path: T.String(),
  url: T.Union([T.String(), T.Null()]),
  password: T.Union([T.String(), T.Null()], {
    description: 'the instance password (random): the PBX App objects log in with it. Only in the first answer to the caller that started the install; null after that, and for anyone else (the Manager\'s instance page shows it to the administrator)',
  }),
});
export type InstallResult = Static<typeof InstallResult>;

export const InstallerJob = T.Object({
  ...JobView.properties,
  result: T.Union([InstallResult, T.Null()], { description: 'an install that succeeded: the instance as it is now (null for other jobs, or once the instance is gone)' }),
});
export type InstallerJob = Static<typeof InstallerJob>;
