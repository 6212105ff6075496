// App services as the API answers them: each schema (checked against answers
// in tests, shown by the OpenAPI document) with its type, one declaration. A
// leaf module, so the Manager UI imports the types without the services' Node code.
import { T, type Static } from '../api';

/** A service as `ap ctl service list` and GET /services/{name} show it. */
export const ServiceView = T.Object({
  name: T.String(),
  version: T.String(),
  label: T.String({ description: 'the build label of its package' }),
  // src/supervision's states: ServiceProcess.status() does not compile when they differ.
  state: T.Union([T.Literal('stopped'), T.Literal('starting'), T.Literal('running'), T.Literal('backing-off'), T.Literal('failed'), T.Literal('stopping')]),
  pid: T.Union([T.Integer(), T.Null()]),
  restarts: T.Integer({ description: 'restarts since it last ran stably' }),
  deaths: T.Integer({ description: 'deaths within the restart window' }),
  reason: T.Union([T.String(), T.Null()], { description: 'why it failed, if it did' }),
  streams: T.Integer({ description: 'open HTTP requests and WebSockets' }),
});
export type ServiceView = Static<typeof ServiceView>;

export const ServiceList = T.Object({ services: T.Array(ServiceView) });

/** A crash record as the service's process writes it (crash-<time>.json). */
export const CrashRecord = T.Object({
  service: T.String(),
  version: T.String(),
  time: T.String({ format: 'date-time' }),
  uptimeMs: T.Number(),
  exitCode: T.Union([T.Integer(), T.Null()]),
  signal: T.Union([T.String(), T.Null()]),
  cutOff: T.Union([T.String(), T.Null()], { description: 'why the supervisor cut it off, when it did' }),
  lastLines: T.Array(T.String(), { description: 'its last lines of output' }),
});
export type CrashRecord = Static<typeof CrashRecord>;

export const CrashList = T.Object({ crashes: T.Array(CrashRecord, { description: 'newest first' }) });

export const LogTail = T.Object({
  text: T.String({ description: 'from the first whole line' }),
  size: T.Integer({ description: 'the whole log, in bytes' }),
  truncated: T.Boolean({ description: 'whether the log starts before text' }),
});
export type LogTail = Static<typeof LogTail>;
