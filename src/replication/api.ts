// Replication in the admin API (/manager/api/replication, `ap ctl replication`).
import { route, T, type ApiRoute } from '../api';
import type { ReplicationWatch } from './monitor';
import type { Replication } from './primary';
import { ReplicationShown, StandbyShown, type ReplicationView, type StandbyView } from './views';

/** Routes of the primary's side; with `watch`, a standby's connection and lag as it last saw them (fresh after a change). */
export function replicationRoutes(replication: Replication, watch?: ReplicationWatch): ApiRoute[] {
  const watched = async (standbys: readonly StandbyView[], look: boolean): Promise<StandbyShown[]> => {
    const seen = watch ? (look ? await watch.check().catch(() => watch.latest()) : watch.latest()) : null;
    return standbys.map((s) => {
      const w = seen?.standbys.find((x) => x.name === s.name);
      return {
        ...s,
        connected: w?.connected ?? s.active,
        state: w?.state ?? (s.active ? 'streaming' : 'disconnected'),
        lagBytes: w?.lagBytes ?? null,
        lagSeconds: w?.lagSeconds ?? null,
        since: w?.since ?? null,
      };
    });
  };
  const full = async (view: ReplicationView): Promise<ReplicationShown> => ({ ...view, standbys: await watched(view.standbys, true) });
  return [
    route({
      method: 'GET',
      pattern: '/replication',
      summary: 'replication: the mode, where PostgreSQL listens, the standbys with their passwords, roles, slots and the WAL each slot keeps',
      response: ReplicationShown,
      handler: async () => full(await replication.show()),
    }),
    route({
      method: 'PUT',
      pattern: '/replication',
      summary: 'switch replication off or to primary (standby: not yet); off drops the standbys\' roles and slots (entries kept) and needs confirm: true when there are standbys',
      body: T.Object({
        mode: T.Union([T.Literal('off'), T.Literal('primary'), T.Literal('standby')], { description: 'off or primary (standby: not yet)' }),
        confirm: T.Optional(T.Boolean()),
      }),
      response: ReplicationShown,
      errors: ['UNSUPPORTED', 'CONFIRM_REQUIRED', 'PORT_IN_USE', 'REPLICATION_FAILED'],
      handler: async ({ body }) => full(await replication.setMode(body.mode, body.confirm === true)),
    }),
    route({
      method: 'POST',
      pattern: '/replication/standbys',
      status: 201,
      summary: 'add a standby (a domain name; at most 8): its role and slot are made, its password generated and answered, to be used on the standby as given',
      body: T.Object({ name: T.String({ description: 'a domain name, e.g. standby1.example.com; stored lower-cased' }) }),
      response: StandbyShown,
      errors: ['STANDBY_LIMIT', 'STANDBY_EXISTS', 'NOT_PRIMARY', 'REPLICATION_FAILED'],
      handler: async ({ body }) => (await watched([await replication.add(body.name)], true))[0]!,
    }),
    route({
      method: 'DELETE',
      pattern: '/replication/standbys/{name}',
      summary: 'remove a standby: its entry, role and slot (a standby streaming from it is disconnected)',
      response: T.Object({ removed: T.String() }),
      errors: ['NOT_FOUND'],
      handler: async ({ params }) => {
        const removed = await replication.remove(params.name!);
        watch?.poke();
        return removed;
      },
    }),
  ];
}
