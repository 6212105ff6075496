// App services in the admin API.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { StreamBody, type ApiRoute } from '../api';
import { ApError } from '../errors';
import type { Services } from './index';

export function serviceRoutes(services: Services, logDir: string): ApiRoute[] {
  const named = (name: string) => {
    const service = services.get(name);
    if (!service) throw new ApError('NOT_FOUND', `no service ${name}`);
    return service;
  };
  return [
    { method: 'GET', pattern: '/services', summary: 'installed app services with their state, restarts and last failure', handler: () => ({ services: services.list() }) },
    { method: 'GET', pattern: '/services/{name}', summary: 'one app service', handler: ({ params }) => named(params.name!).status() },
    {
      method: 'POST',
      pattern: '/services/{name}/start',
      summary: 'start a service (also one that failed)',
      handler: ({ params }) => {
        named(params.name!);
        services.start(params.name!);
        return named(params.name!).status();
      },
    },
    {
      method: 'POST',
      pattern: '/services/{name}/stop',
      summary: 'stop a service',
      handler: async ({ params }) => {
        named(params.name!);
        await services.stop(params.name!);
        return named(params.name!).status();
      },
    },
    {
      method: 'GET',
      pattern: '/services/{name}/log',
      summary: "the service's log file (text/plain, a download)",
      handler: async ({ params }) => {
        named(params.name!);
        const file = join(logDir, params.name!, `${params.name}.log`);
        await stat(file).catch(() => {
          throw new ApError('NOT_FOUND', `service ${params.name} has written no log yet`);
        });
        return new StreamBody(createReadStream(file) as AsyncIterable<Buffer>, 'text/plain; charset=utf-8', `${params.name}.log`);
      },
    },
  ];
}
