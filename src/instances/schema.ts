// The instances' API inputs and answers, declared once (src/api/schema.ts):
// the shapes are checked before a handler runs; what a value may be beyond its
// type (a name's characters, a path's form, a password's length) stays in
// model.ts, whose messages say more.
import { Flag, T, type Static } from '../api';

const ExternalInput = T.Union([
  T.Object(
    {
      host: T.String({ description: 'host or host:port ([v6]:port for IPv6)' }),
      name: T.String({ description: 'database name' }),
      user: T.String(),
      password: T.String(),
    },
    { additionalProperties: false },
  ),
  T.Null(),
]);
const TraceFlags = T.Union([T.Number({ description: 'bitmask' }), T.Array(T.String(), { description: 'flag names' })]);
const MaxBody = T.Union([T.Number({ description: 'bytes' }), T.Null()]);

/** What may change after creation (name, domain, service and database stay). */
const editable = {
  path: T.Optional(T.String({ description: 'webserver path, e.g. /example.com/app' })),
  password: T.Optional(T.String({ description: 'the instance password (1-256 characters)' })),
  dbPassword: T.Optional(T.String()),
  external: T.Optional(ExternalInput),
  traceFlags: T.Optional(TraceFlags),
  excludeFromBackup: T.Optional(T.Boolean()),
  maxBodyBytes: T.Optional(MaxBody),
};

export const CreateBody = T.Object(
  {
    service: T.String({ description: 'an installed app service' }),
    name: T.String({ description: 'lower case letters, digits, ".", "_" and "-"' }),
    domain: T.String(),
    ...editable,
    dbName: T.Optional(T.String({ description: 'default <domain>_<name>' })),
    dbUser: T.Optional(T.String({ description: 'default <domain>_<name>' })),
    wanted: T.Optional(T.Union([T.Literal('running'), T.Literal('stopped')])),
    force: T.Optional(T.Boolean({ description: 'create it even though the memory budget says it does not fit (with a warning)' })),
  },
  { additionalProperties: false },
);
export type CreateBody = Static<typeof CreateBody>;

// Unknown fields are the model's to refuse: it tells a field that is fixed after creation from one that does not exist.
export const EditBody = T.Object(editable);

export const PasswordBody = T.Object({ password: T.Optional(T.String({ description: 'omit to generate one' })) });

export const CreateQuery = T.Object({ adoptDatabase: T.Optional({ ...Flag, description: 'take over an existing database and user of that name' }) });
export const DeleteQuery = T.Object({ dropDatabase: T.Optional({ ...Flag, description: 'also drop its database and user' }) });

export const InstanceView = T.Object({
  id: T.String({ description: 'name@domain' }),
  service: T.String(),
  name: T.String(),
  domain: T.String(),
  path: T.String(),
  password: T.String(),
  database: T.Object({ name: T.String(), user: T.String(), sizeBytes: T.Optional(T.Union([T.Integer(), T.Null()])) }),
  external: T.Union([T.Object({ host: T.String(), name: T.String(), user: T.String() }), T.Null()]),
  traceFlags: T.Integer(),
  traceFlagNames: T.Array(T.String()),
  excludeFromBackup: T.Boolean(),
  maxBodyBytes: T.Union([T.Integer(), T.Null()]),
  wanted: T.Union([T.Literal('running'), T.Literal('stopped')]),
  phase: T.Union([T.Literal('provisioning'), T.Literal('ready'), T.Literal('deleting')]),
  state: T.String({ description: 'running, stopped, waiting for its service, …' }),
});

export type InstanceView = Static<typeof InstanceView>;

export const InstanceList = T.Object({ instances: T.Array(InstanceView) });
export const Deleted = T.Object({ deleted: T.String(), databaseDropped: T.Boolean() });
export const Changed = T.Object({ changed: T.String() });

export const AnalyseState = T.Object({}, { additionalProperties: true, description: 'hour, time zone, next planned start, last run and result' });
