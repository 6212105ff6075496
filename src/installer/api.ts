// The App Installer in the admin API: every route under /installer, so that an
// API token of scope "installer" (the PBX Manager's) reaches exactly these.
import { Flag, queryFlag, route, T, type ApiRoute } from '../api';
import { JobView } from '../jobs';
import type { Installer } from './index';
import { InstallerApps, InstallerInfo, InstallerJob } from './views';

const Domain = T.String({ description: "the user's domain, e.g. example.com" });

export function installerRoutes(installer: Installer): ApiRoute[] {
  return [
    {
      method: 'GET',
      pattern: '/installer',
      summary: 'the App Installer: its mode (setting installerMode) and what the PBX Manager may do in it',
      response: InstallerInfo,
      handler: () => installer.info(),
    },
    route({
      method: 'GET',
      pattern: '/installer/apps',
      summary: "the App Store's apps as a domain has them: installed or not, its instance (path, URL, state), the service's version, whether an update is available",
      query: T.Object({ domain: Domain }),
      response: InstallerApps,
      errors: ['NO_STORE', 'BAD_STORE', 'STORE_UNAVAILABLE'],
      handler: ({ query }) => installer.apps(query.domain),
    }),
    route({
      method: 'POST',
      pattern: '/installer/apps/{id}',
      summary:
        'install an app for a domain ({"domain"}), a job: its service from the App Store when it is not installed, then an instance /<domain>/<app> with a random password, started. ' +
        'GET /installer/jobs/{id} answers, once it succeeded, the instance, its path and URL, and its password once, to the caller that started it; a failed install undoes what it did',
      status: 202,
      body: T.Object({ domain: Domain }, { additionalProperties: false }),
      response: JobView,
      errors: ['UNKNOWN_APP', 'INSTALLER_EXISTS', 'EXISTS', 'CONFLICT', 'NO_STORE', 'BAD_STORE', 'STORE_UNAVAILABLE'],
      handler: ({ params, body, caller }) => installer.startInstall(params.id!, body.domain, caller),
    }),
    {
      method: 'PUT',
      pattern: '/installer/apps/{id}',
      summary: "update an app's service to the App Store's newest build, a job; dedicated mode only (in shared mode INSTALLER_SHARED_UPDATE: the administrator updates)",
      status: 202,
      response: JobView,
      errors: ['INSTALLER_SHARED_UPDATE', 'UNKNOWN_APP', 'INSTALLER_NOT_INSTALLED', 'INSTALLER_UP_TO_DATE', 'CONFLICT', 'NO_STORE', 'BAD_STORE', 'STORE_UNAVAILABLE'],
      handler: ({ params }) => installer.startUpdate(params.id!),
    },
    route({
      method: 'DELETE',
      pattern: '/installer/apps/{id}',
      summary:
        "uninstall an app for a domain (?domain=), a job. Shared mode: the domain's instances of it are deleted, and the service with its last instance; " +
        "dedicated mode: the service with all its instances (while it has none of another domain; else as shared). A service the administrator installed (not the installer) stays in both: only the domain's instances go. " +
        'Databases are kept (a later install for the domain takes its back) unless ?dropDatabase=true',
      status: 202,
      query: T.Object({ domain: Domain, dropDatabase: T.Optional({ ...Flag, description: "also drop the deleted instances' databases and users" }) }),
      response: JobView,
      errors: ['INSTALLER_NOT_INSTALLED', 'UNKNOWN_APP', 'CONFLICT', 'NOT_ON_STANDBY', 'SERVICE_NAME_RESERVED', 'NO_STORE', 'BAD_STORE', 'STORE_UNAVAILABLE'],
      handler: ({ params, query }) => installer.startUninstall(params.id!, query.domain, queryFlag(query, 'dropDatabase')),
    }),
    route({
      method: 'GET',
      pattern: '/installer/jobs/{id}',
      summary:
        'a job the App Installer started: state, progress, outcome; an install that succeeded carries the instance, its path and URL, and its password in the first answer to the caller (API token) that started it, null after that and for anyone else (other jobs are NOT_FOUND here)',
      response: InstallerJob,
      secret: true, // an install's instance password
      handler: ({ params, caller }) => installer.job(params.id!, caller),
    }),
  ];
}
