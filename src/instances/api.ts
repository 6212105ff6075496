// The instances' resources in the admin API (/manager/api/instances…).
import { queryFlag, route, T, type ApiRoute } from '../api';
import { ApError } from '../errors';
import { JobView, type Jobs } from '../jobs';
import type { Instances } from './index';
import { cleanupDatabase, type NightlyAnalyse, type VacuumTarget } from './maintenance';
import { AnalyseState, Changed, CreateBody, CreateQuery, Deleted, DeleteQuery, EditBody, InstanceList, InstanceView, PasswordBody } from './schema';

export interface MaintenanceDeps {
  readonly jobs: Jobs;
  readonly target: () => VacuumTarget;
  readonly analyse: NightlyAnalyse;
}

/**
 * Admission control for an instance that will run (the memory budget): throws
 * MEMORY_BUDGET unless forced; answers the warning of a forced one.
 */
export type AdmitInstance = (service: string, id: string, force: boolean) => Promise<string | null>;

const Warning = T.Object({ warning: T.Optional(T.String({ description: 'present when it was admitted with force although memory is short' })) });
const InstanceAnswer = T.Object({ ...InstanceView.properties, ...Warning.properties });
const ForceBody = T.Object({ force: T.Optional(T.Boolean({ description: 'start it even though the memory budget says it does not fit (with a warning)' })) });
const withWarning = <V extends object>(value: V, warning: string | null) => (warning === null ? value : { ...value, warning });

/** The seed's warning, shown with every clean-up. */
export const CLEANUP_NOTE = 'vacuumdb -f rewrites every table: it locks the database while it runs and needs free disk space as large as the biggest table';

export function instanceRoutes(instances: Instances, maintenance: MaintenanceDeps, admit: AdmitInstance = async () => null): ApiRoute[] {
  const { jobs } = maintenance;
  const one = async (id: string) => {
    const instance = instances.get(id);
    return instances.view(instance, await instances.sizes());
  };
  return [
    {
      method: 'GET',
      pattern: '/instances',
      summary: 'every instance, with its state and database size',
      secret: true, // each with its instance password
      response: InstanceList,
      handler: async () => {
        const sizes = await instances.sizes();
        return { instances: instances.list().map((i) => instances.view(i, sizes)) };
      },
    },
    route({
      method: 'POST',
      pattern: '/instances',
      summary: 'create an instance and its database (?adoptDatabase=true takes over an existing database and user); one that will run is admitted against the memory budget first ({"force": true} admits it anyway)',
      status: 201,
      body: CreateBody,
      query: CreateQuery,
      response: InstanceAnswer,
      errors: ['EXISTS', 'CONFLICT', 'DATABASE_EXISTS', 'EXTERNAL_DB_UNREACHABLE', 'PROVISIONING_FAILED', 'MEMORY_BUDGET'],
      handler: async ({ body, query }) => {
        const { force, ...input } = body;
        // Asked before anything is made: a refusal leaves no record and no database.
        const warning = input.wanted === 'stopped' ? null : await admit(input.service, `${input.name}@${input.domain}`, force === true);
        const created = await instances.create(input, { adoptDatabase: queryFlag(query, 'adoptDatabase'), requireInstalled: true });
        return withWarning(await one(`${created.name}@${created.domain}`), warning);
      },
    }),
    {
      method: 'GET',
      pattern: '/instances/{id}',
      summary: 'one instance',
      secret: true, // with its instance password
      response: InstanceView,
      handler: ({ params }) => one(params.id!),
    },
    route({
      method: 'PATCH',
      pattern: '/instances/{id}',
      summary: 'change path, passwords, external database, trace flags, backup exclusion or body limit; applies live',
      body: EditBody,
      response: InstanceView,
      errors: ['EXISTS', 'CONFLICT', 'EXTERNAL_DB_UNREACHABLE'],
      handler: async ({ params, body }) => {
        await instances.edit(params.id!, body);
        return one(params.id!);
      },
    }),
    route({
      method: 'DELETE',
      pattern: '/instances/{id}',
      summary: 'stop and delete an instance; ?dropDatabase=true also drops its database and user',
      query: DeleteQuery,
      response: Deleted,
      handler: async ({ params, query }) => {
        const dropDatabase = queryFlag(query, 'dropDatabase');
        await instances.delete(params.id!, { dropDatabase });
        return { deleted: params.id, databaseDropped: dropDatabase };
      },
    }),
    route({
      method: 'POST',
      pattern: '/instances/{id}/start',
      summary: 'start an instance (its path is served, its service hears instance.start); a stopped one is admitted against the memory budget ({"force": true} admits it anyway)',
      body: ForceBody,
      response: InstanceAnswer,
      errors: ['MEMORY_BUDGET'],
      handler: async ({ params, body }) => {
        const instance = instances.get(params.id!);
        const warning = instance.wanted === 'running' ? null : await admit(instance.service, params.id!, body.force === true);
        await instances.startInstance(params.id!);
        return withWarning(await one(params.id!), warning);
      },
    }),
    {
      method: 'POST',
      pattern: '/instances/{id}/stop',
      summary: 'stop an instance (its path is gone, its WebSockets are closed)',
      response: InstanceView,
      handler: async ({ params }) => {
        await instances.stopInstance(params.id!);
        return one(params.id!);
      },
    },
    route({
      method: 'POST',
      pattern: '/instances/{id}/password',
      summary: 'set the instance password ({"password": "…"}) or, without one, generate a new one',
      body: PasswordBody,
      response: InstanceView,
      handler: async ({ params, body }) => {
        const { password } = body;
        await (password === undefined ? instances.edit(params.id!, {}, { newPassword: true }) : instances.edit(params.id!, { password }));
        return one(params.id!);
      },
    }),
    route({
      method: 'POST',
      pattern: '/instances/{id}/db-password',
      summary: 'set the database password ({"password": "…"}) or, without one, generate a new one; the role and the stored value change together',
      body: PasswordBody,
      response: Changed,
      handler: async ({ params, body }) => {
        const { password } = body;
        await (password === undefined ? instances.edit(params.id!, {}, { newDbPassword: true }) : instances.edit(params.id!, { dbPassword: password }));
        return { changed: params.id };
      },
    }),
    {
      method: 'POST',
      pattern: '/instances/{id}/cleanup',
      summary: `clean up the instance database (vacuumdb -f) as a job; ${CLEANUP_NOTE}`,
      status: 202,
      response: T.Intersect([JobView, T.Object({ note: T.String() })]),
      errors: ['CONFLICT'],
      handler: ({ params }) => {
        const instance = instances.get(params.id!);
        const id = `${instance.name}@${instance.domain}`;
        if (instance.phase !== 'ready') throw new ApError('CONFLICT', `instance ${id} is not ready`);
        if (jobs.running('cleanup', id)) throw new ApError('CONFLICT', `a clean-up of ${id} is running already`);
        const target = maintenance.target();
        return { ...jobs.start('cleanup', id, `cleaning up database "${instance.external?.name ?? instance.dbName}"`, (job) => cleanupDatabase(target, instance, job)), note: CLEANUP_NOTE };
      },
    },
    {
      method: 'GET',
      pattern: '/maintenance/analyse',
      summary: 'the nightly analyse (vacuumdb -a -z): hour, time zone, next planned start, last run and result',
      response: AnalyseState,
      handler: () => maintenance.analyse.status(),
    },
    {
      method: 'POST',
      pattern: '/maintenance/analyse',
      summary: 'run the analyse now, as a job',
      status: 202,
      response: JobView,
      handler: () => {
        const running = jobs.running('analyse', 'all');
        if (running) return running;
        return jobs.start('analyse', 'all', 'analysing every database (vacuumdb -a -z)', async () => {
          const state = await maintenance.analyse.runNow();
          if (state.lastOk === false) throw new ApError('ANALYSE_FAILED', state.lastResult ?? 'failed');
          return state.lastResult ?? 'done';
        });
      },
    },
  ];
}
