// The admin socket of `ap serve` (`ap ctl` on the box, as root): one command,
// `api`, any route of the API table, the local ones included. The verbs it had
// before are routes now; a script that still sends one is told which.
import { startAdminServer, type AdminServer } from '../admin';
import type { Api } from '../api';
import { ApError, describe } from '../errors';
import type { Logger } from '../log';

/** The commands the admin socket once had, and the route each became. */
const MOVED: Readonly<Record<string, string>> = {
  status: 'GET /status',
  'service.list': 'GET /services',
  'service.install': 'POST /services/install {"dir", "wait"}',
  'service.start': 'POST /services/{name}/start',
  'service.stop': 'POST /services/{name}/stop',
  'manager.password': 'POST /password/reset {"password"}',
  'cert.install': 'PUT /certificate {"pem"}',
  'debug.gc': 'POST /debug/gc',
};

const retired = Object.fromEntries(
  Object.entries(MOVED).map(([verb, route]) => {
    const [method, path] = route.split(' ');
    const body = route.includes('{"') ? ',"body":{…}' : '';
    return [verb, `"${verb}" is no longer a command: the admin socket serves only "api"; send {"cmd":"api","args":{"method":"${method}","path":"${path}"${body}}} (${route})`];
  }),
);

/** Serves the admin socket at `path`: {"cmd":"api","args":{method, path, query?, body?}} → {status, body}, as /manager/api/… answers. */
export function startAdminSocket(path: string, api: Api, log: Logger): Promise<AdminServer> {
  const verbs = {
    api: (args: Record<string, unknown>) => {
      if (typeof args.method !== 'string' || typeof args.path !== 'string') throw new ApError('BAD_REQUEST', 'needs "method" and "path"');
      const query = (typeof args.query === 'object' && args.query !== null ? args.query : {}) as Record<string, string>;
      // The socket is root's alone (0600): whoever is on it is root on the box.
      return api.handle({ method: args.method, path: args.path, query, body: args.body, actor: 'ap ctl (root on the box)', caller: 'local' }, (err, code) => log[code >= 500 ? 'error' : 'warn'](`admin API ${args.method} ${args.path}: ${describe(err)}`), 'local');
    },
  };
  return startAdminServer(path, verbs, log.child('admin'), retired);
}
