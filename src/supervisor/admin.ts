// The admin socket's verbs (`ap ctl` on the box, as root): the API route table
// through `api`, and the few things the API does not do over JSON (installing
// from a local folder or file, starting and stopping a service, the Manager
// password when it is lost, a full GC for measurements).
import { getHeapSpaceStatistics } from 'node:v8';
import type { Handler } from '../admin';
import type { Api } from '../api';
import type { ManagerAuth } from '../auth';
import { ApError, describe } from '../errors';
import type { Logger } from '../log';
import type { Services } from '../services';
import type { Certificates } from '../tls';
import type { Status } from './routes';

export interface AdminDeps {
  readonly status: () => Status;
  readonly services: Services;
  readonly api: Api;
  readonly auth: ManagerAuth;
  readonly certificates: Certificates;
  readonly log: Logger;
  /** Installs a package file (as the Manager takes in Developer mode). */
  readonly installPackage: (file: string, waitReady: boolean) => Promise<unknown>;
  readonly isFile: (path: string) => Promise<boolean>;
}

export function adminVerbs({ status, services, api, auth, certificates, log, installPackage, isFile }: AdminDeps): Record<string, Handler> {
  const named = (args: Record<string, unknown>): string => {
    if (typeof args.name !== 'string') throw new ApError('BAD_REQUEST', 'needs "name", a service name');
    return args.name;
  };
  return {
    status,
    'service.list': () => services.list(),
    // For measurements: a full collection when Node runs with --expose-gc.
    'debug.gc': () => {
      const gc = (globalThis as { gc?: () => void }).gc;
      if (!gc) throw new ApError('GC_UNAVAILABLE', 'start the supervisor with node --expose-gc to use this');
      for (const service of services.list()) services.get(service.name)?.requestGc();
      gc();
      // Where the heap's pages go, per V8 space (committed, physical, in use).
      const spaces = Object.fromEntries(getHeapSpaceStatistics().map((s) => [s.space_name, { size: s.space_size, physical: s.physical_space_size, used: s.space_used_size }]));
      return { ...process.memoryUsage(), spaces };
    },
    // The admin API (what /manager/api/… serves): {method, path, query?, body?} → {status, body}.
    api: (args) => {
      if (typeof args.method !== 'string' || typeof args.path !== 'string') throw new ApError('BAD_REQUEST', 'needs "method" and "path"');
      const query = (typeof args.query === 'object' && args.query !== null ? args.query : {}) as Record<string, string>;
      return api.handle({ method: args.method, path: args.path, query, body: args.body }, (err, code) => log[code >= 500 ? 'error' : 'warn'](`admin API ${args.method} ${args.path}: ${describe(err)}`), 'json');
    },
    'service.install': async (args) => {
      if (typeof args.dir !== 'string') throw new ApError('BAD_REQUEST', 'needs "dir", the folder of the service (or its .tar.gz)');
      // A package file (as the Manager takes in Developer mode; root needs no Developer mode), or a folder.
      const waitReady = args.wait !== false; // ap ctl service install --no-wait: return once copied and started
      return (await isFile(args.dir)) ? installPackage(args.dir, waitReady) : services.install(args.dir, { waitReady });
    },
    'service.start': (args) => {
      services.startService(named(args));
      return services.get(named(args))!.status();
    },
    'service.stop': async (args) => {
      await services.stopService(named(args));
      return services.get(named(args))!.status();
    },
    'manager.password': async (args) => {
      await auth.resetPassword(args.password);
      return { set: true };
    },
    'cert.install': async (args) => {
      if (typeof args.pem !== 'string') throw new ApError('BAD_REQUEST', 'needs "pem", the PEM chain');
      return certificates.install(args.pem);
    },
  };
}
