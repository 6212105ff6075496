// Replication in the admin API (/manager/api/replication, `ap ctl replication`).
import { route, T, type ApiRoute } from '../api';
import type { ReplicationWatch } from './monitor';
import type { StandbyRequest } from './standby';
import { ReplicationShown, StandbyShown, type ReplicationView, type StandbyView } from './views';

/** What the routes need: the primary's Replication on a normal box, the StandbyBox on a standby. */
export interface ReplicationControl {
  show(): Promise<ReplicationView>;
  setMode(mode: string, confirm: boolean, request: StandbyRequest): Promise<ReplicationView>;
  add(name: unknown): Promise<StandbyView>;
  remove(name: string): Promise<{ removed: string }>;
}

/** The routes; with `watch`, each standby's connection and lag as the watch last saw them (fresh after a change). */
export function replicationRoutes(replication: ReplicationControl, watch?: ReplicationWatch): ApiRoute[] {
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
  const full = async (view: ReplicationView): Promise<ReplicationShown> => {
    const standbys = await watched(view.standbys, true);
    // watched() has just looked: on a standby that look is its WAL receiver's state.
    const r = view.standby ? watch?.latest().receiver : undefined;
    if (!view.standby || !r) return { ...view, standbys };
    return {
      ...view,
      standbys,
      standby: {
        ...view.standby,
        streaming: r.receiving,
        receiverStatus: r.receiverStatus,
        receivedLsn: r.receiveLsn,
        replayedLsn: r.replayLsn,
        replayDelaySeconds: r.lagSeconds,
        since: r.since,
      },
    };
  };
  return [
    route({
      method: 'GET',
      pattern: '/replication',
      summary: 'replication: the mode, where PostgreSQL listens, the standbys with their passwords, roles, slots and the WAL each slot keeps',
      secret: true, // a standby's password copies every database
      response: ReplicationShown,
      handler: async () => full(await replication.show()),
    }),
    route({
      method: 'PUT',
      pattern: '/replication',
      summary:
        "switch replication off, to primary, or to standby of a primary (host[:port], name, password: removes the local apps, takes a base backup, needs confirm: true); off drops the standbys' roles and slots (entries kept) and needs confirm: true when there are standbys; on a standby, off or primary promotes it (confirm: true)",
      body: T.Object({
        mode: T.Union([T.Literal('off'), T.Literal('primary'), T.Literal('standby')]),
        confirm: T.Optional(T.Boolean()),
        primary: T.Optional(T.String({ description: 'standby: the primary, host[:port] (port 5432 by default)' })),
        name: T.Optional(T.String({ description: 'standby: its standby name on the primary (a domain name)' })),
        password: T.Optional(T.String({ description: 'standby: the password the primary shows for that name' })),
      }),
      response: ReplicationShown,
      errors: ['UNSUPPORTED', 'IS_PRIMARY', 'CONFIRM_REQUIRED', 'PORT_IN_USE', 'REPLICATION_FAILED', 'STANDBY_AUTH', 'STANDBY_UNKNOWN', 'STANDBY_IN_USE', 'PRIMARY_UNREACHABLE', 'BUSY'],
      handler: async ({ body }) => {
        const view = await replication.setMode(body.mode, body.confirm === true, body);
        // A switch (standby, promotion) stops every part right after this answer: no look at the database before it leaves.
        return view.standby?.switching ? { ...view, standbys: await watched(view.standbys, false) } : full(view);
      },
    }),
    route({
      method: 'POST',
      pattern: '/replication/standbys',
      status: 201,
      summary: 'add a standby (a domain name; at most 8): its role and slot are made, its password generated and answered, to be used on the standby as given',
      body: T.Object({ name: T.String({ description: 'a domain name, e.g. standby1.example.com; stored lower-cased' }) }),
      response: StandbyShown,
      errors: ['STANDBY_LIMIT', 'STANDBY_EXISTS', 'NOT_PRIMARY', 'NOT_ON_STANDBY', 'REPLICATION_FAILED'],
      handler: async ({ body }) => (await watched([await replication.add(body.name)], true))[0]!,
    }),
    route({
      method: 'DELETE',
      pattern: '/replication/standbys/{name}',
      summary: 'remove a standby: its entry, role and slot (a standby streaming from it is disconnected)',
      response: T.Object({ removed: T.String() }),
      errors: ['NOT_FOUND', 'NOT_ON_STANDBY'],
      handler: async ({ params }) => {
        const removed = await replication.remove(params.name!);
        watch?.poke();
        return removed;
      },
    }),
  ];
}
