// App services as the API answers them: each schema (checked against answers
// in tests, shown by the OpenAPI document) with its type, one declaration. A
// leaf module, so the Manager UI imports the types without the services' Node code.
import { T, type Static } from '../api';

const Source = T.Union([T.Literal('setting'), T.Literal('package'), T.Literal('board')]);

/** A service's limits in effect: the setting over app.json over the board (docs/monitoring.md). */
export const LimitsView = T.Object({
  memoryMB: T.Integer({ description: 'MB it may use with no instance' }),
  instanceMB: T.Integer({ description: 'MB more for each of its instances' }),
  cpuWeight: T.Integer({ description: 'its CPU share against other services (100 by default)' }),
  pids: T.Integer({ description: 'the most processes and threads' }),
  memoryLimitMB: T.Integer({ description: 'the memory limit in force: memoryMB + instanceMB × its instances' }),
  source: T.Object({ memoryMB: Source, instanceMB: Source, cpuWeight: Source, pids: Source }, { description: 'where each value comes from' }),
  enforced: T.Boolean({ description: 'whether a cgroup holds the service to them (false where the supervisor could make none)' }),
});
export type LimitsView = Static<typeof LimitsView>;

/** What the service's cgroup counts, its children included. */
export const UsageView = T.Object({
  memoryBytes: T.Integer(),
  memoryPeakBytes: T.Union([T.Integer(), T.Null()], { description: 'the most since its group was made; null where the kernel does not say' }),
  cpuSeconds: T.Number(),
});
export type UsageView = Static<typeof UsageView>;

/** A service as `ap ctl service list` and GET /services/{name} show it. */
export const ServiceView = T.Object({
  name: T.String(),
  version: T.String(),
  label: T.String({ description: 'the build label of its package' }),
  // src/supervision's states: ServiceProcess.status() does not compile when they differ.
  state: T.Union([T.Literal('stopped'), T.Literal('starting'), T.Literal('running'), T.Literal('backing-off'), T.Literal('failed'), T.Literal('stopping')]),
  pid: T.Union([T.Integer(), T.Null()]),
  startedAt: T.Union([T.String({ format: 'date-time' }), T.Null()], { description: 'when its current process was started; null while none runs' }),
  restarts: T.Integer({ description: 'restarts since it last ran stably' }),
  deaths: T.Integer({ description: 'deaths within the restart window' }),
  reason: T.Union([T.String(), T.Null()], { description: 'why it failed, if it did' }),
  streams: T.Integer({ description: 'open HTTP requests and WebSockets' }),
  limits: LimitsView,
  usage: T.Union([UsageView, T.Null()], { description: 'as its cgroup counts it; null without a cgroup' }),
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
  reason: T.Optional(T.Literal('out-of-memory', { description: 'the kernel killed it at its memory limit' })),
  memoryLimitMB: T.Optional(T.Integer({ description: 'its memory limit when it was killed for memory' })),
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
