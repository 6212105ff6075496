// The supervisor's own answers (status, database): each schema with its type,
// one declaration. A leaf module (only src/api), so the Manager UI imports the
// types without the server's Node code; diagnostics, made of other
// subsystems' answers, is in routes.ts.
import { T, type Static } from '../api';

const DatabaseState = T.Union([T.Literal('up'), T.Literal('down'), T.Literal('restarting'), T.Literal('given-up')]);

/** The database's health (src/db's keeper) with the mode it runs in. */
export const DatabaseView = T.Object({
  mode: T.String({ description: 'managed or attached' }),
  state: DatabaseState,
  downSince: T.Union([T.String({ format: 'date-time' }), T.Null()], { description: 'null while up' }),
  restarts: T.Integer({ description: 'of a managed cluster since the supervisor started' }),
  pid: T.Union([T.Integer(), T.Null()], { description: "the postmaster's (managed and up)" }),
  reason: T.Union([T.String(), T.Null()], { description: 'how it last went down, for people' }),
});

const Port = T.Union([T.Integer(), T.Null()], { description: 'null when not listening' });

export const StatusView = T.Object({
  state: T.Union([T.Literal('starting'), T.Literal('running'), T.Literal('stopping')]),
  pid: T.Integer(),
  version: T.String(),
  label: T.String({ description: 'the build label' }),
  board: T.String(),
  root: T.String(),
  startedAt: T.String({ format: 'date-time' }),
  uptimeSeconds: T.Integer(),
  http: T.Object({ host: T.String(), port: Port, httpsPort: Port, managerPort: Port, managerHttpsPort: Port }, { description: "the apps' ports and the Manager's own" }),
  db: T.Object({
    mode: T.String(),
    socketDir: T.String(),
    port: T.Integer(),
    schemaVersion: T.Union([T.Integer(), T.Null()]),
    // Absent while the database is being opened.
    state: T.Optional(DatabaseState),
    downSince: T.Optional(T.Union([T.String({ format: 'date-time' }), T.Null()])),
    restarts: T.Optional(T.Integer()),
    pid: T.Optional(T.Union([T.Integer(), T.Null()])),
    reason: T.Optional(T.Union([T.String(), T.Null()])),
  }),
  reserve: T.Union([T.String(), T.Null()], { description: 'the reserve file: present, created, disabled or no-space' }),
  updateFailed: T.Optional(T.String({ description: "present when the supervisor's last update was rolled back: why (the alarm MANAGER_UPDATE_FAILED)" })),
  services: T.Array(T.Object({ name: T.String(), state: T.String() }, { description: 'as GET /services/{name} answers' })),
  memory: T.Object(
    { rss: T.Number(), heapTotal: T.Number(), heapUsed: T.Number(), external: T.Number(), arrayBuffers: T.Number() },
    { description: "the supervisor's process.memoryUsage(), in bytes" },
  ),
});
export type Status = Static<typeof StatusView>;
