// Replication in the admin API (/manager/api/replication, `ap ctl replication`).
import { route, T, type ApiRoute } from '../api';
import type { Replication } from './primary';
import { ReplicationView, StandbyView } from './views';

export function replicationRoutes(replication: Replication): ApiRoute[] {
  return [
    route({
      method: 'GET',
      pattern: '/replication',
      summary: 'replication: the mode, where PostgreSQL listens, the standbys with their passwords, roles, slots and the WAL each slot keeps',
      response: ReplicationView,
      handler: () => replication.show(),
    }),
    route({
      method: 'PUT',
      pattern: '/replication',
      summary: 'switch replication off or to primary (standby: not yet); off drops the standbys\' roles and slots (entries kept) and needs confirm: true when there are standbys',
      body: T.Object({
        mode: T.Union([T.Literal('off'), T.Literal('primary'), T.Literal('standby')], { description: 'off or primary (standby: not yet)' }),
        confirm: T.Optional(T.Boolean()),
      }),
      response: ReplicationView,
      errors: ['UNSUPPORTED', 'CONFIRM_REQUIRED', 'PORT_IN_USE', 'REPLICATION_FAILED'],
      handler: ({ body }) => replication.setMode(body.mode, body.confirm === true),
    }),
    route({
      method: 'POST',
      pattern: '/replication/standbys',
      status: 201,
      summary: 'add a standby (a domain name; at most 8): its role and slot are made, its password generated and answered, to be used on the standby as given',
      body: T.Object({ name: T.String({ description: 'a domain name, e.g. standby1.example.com; stored lower-cased' }) }),
      response: StandbyView,
      errors: ['STANDBY_LIMIT', 'STANDBY_EXISTS', 'NOT_PRIMARY', 'REPLICATION_FAILED'],
      handler: ({ body }) => replication.add(body.name),
    }),
    route({
      method: 'DELETE',
      pattern: '/replication/standbys/{name}',
      summary: 'remove a standby: its entry, role and slot (a standby streaming from it is disconnected)',
      response: T.Object({ removed: T.String() }),
      errors: ['NOT_FOUND'],
      handler: ({ params }) => replication.remove(params.name!),
    }),
  ];
}
