// App services in the admin API.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { StreamBody, type ApiRoute } from '../api';
import { ApError } from '../errors';
import type { Jobs } from '../jobs';
import type { Services } from './index';
import { installUpload } from './upload';

export interface ServiceUploadDeps {
  readonly jobs: Jobs;
  /** Where an uploaded package waits while it is unpacked (p2). */
  readonly workDir: string;
  /** Whether the Developer mode setting is on. */
  readonly developerMode: () => Promise<boolean>;
}

export function serviceRoutes(services: Services, logDir: string, upload?: ServiceUploadDeps): ApiRoute[] {
  const named = (name: string) => {
    const service = services.get(name);
    if (!service) throw new ApError('NOT_FOUND', `no service ${name}`);
    return service;
  };
  return [
    ...(upload
      ? [
          {
            method: 'POST' as const,
            pattern: '/services/upload',
            summary: 'install an app service from an uploaded .tar.gz of its folder (Developer mode only; a job)',
            status: 202,
            upload: true,
            handler: async ({ body }: { body: unknown }) => {
              if (!(await upload.developerMode())) {
                // The transport stops the upload and closes the connection after this answer.
                throw new ApError('DEVELOPER_MODE_OFF', 'uploading apps needs the Developer mode (Settings → General); otherwise apps come from the App Store');
              }
              return upload.jobs.start('install', 'upload', 'installing an uploaded app service', async (job) => {
                const manifest = await installUpload(body as AsyncIterable<Buffer>, upload.workDir, (dir) => services.install(dir), job);
                return `installed ${manifest.name} ${manifest.version}`;
              });
            },
          },
        ]
      : []),
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
