// The memory budget as the API answers it (GET /system/budget): one schema
// with its type. A leaf module, so the Manager UI imports the type without Node code.
import { T, type Static } from '../api';

const Bytes = T.Integer({ minimum: 0 });

export const BudgetServiceView = T.Object({
  name: T.String(),
  state: T.String({ description: 'its supervision state' }),
  instances: T.Integer({ description: 'its instances that are wanted running' }),
  memoryMB: T.Integer({ description: 'its memory limit without instances (declared, set, or the board default)' }),
  instanceMB: T.Integer({ description: 'added per instance' }),
  declaredBytes: T.Integer({ description: 'memoryMB + instanceMB × instances' }),
  usageBytes: T.Union([T.Integer(), T.Null()], { description: 'measured now: its cgroup, or the PSS of its processes; null when it runs no process' }),
  peakBytes: T.Union([T.Integer(), T.Null()], { description: 'the most it used (its cgroup), else the same as usageBytes' }),
  reservedBytes: T.Integer({ description: 'what the budget holds for it: max(declared, peak) while it runs or restarts; 0 when stopped or failed' }),
});
export type BudgetServiceView = Static<typeof BudgetServiceView>;

export const BudgetView = T.Object({
  totalBytes: Bytes,
  totalFrom: T.Union([T.Literal('flag'), T.Literal('board'), T.Literal('meminfo')], { description: '--memory-budget-mb, the board\'s ramMB, or MemTotal of /proc/meminfo' }),
  memTotalBytes: Bytes,
  kernel: T.Object({
    bytes: Bytes,
    reservedBytes: T.Integer({ minimum: 0, description: "ramMB − MemTotal: what the kernel keeps before Linux counts any memory (0 without ramMB)" }),
    fields: T.Record(T.String(), T.Integer(), { description: 'the /proc/meminfo fields counted, in bytes' }),
  }),
  supervisor: T.Object({ bytes: Bytes, pids: T.Array(T.Integer(), { description: 'itself first, then its helper processes' }) }),
  postgres: T.Object({
    bytes: Bytes,
    pids: T.Array(T.Integer(), { description: 'the postmaster and every process below it' }),
    connections: T.Integer({ description: 'client connections (backends)' }),
    ownConnections: T.Integer({ description: "of those, the supervisor's own pool (application_name ap-supervisor)" }),
    perConnectionBytes: Bytes,
    perConnectionMeasured: T.Boolean({ description: 'false: no backend could be measured, the documented default is used' }),
  }),
  services: T.Array(BudgetServiceView),
  servicesBytes: T.Integer({ description: 'the sum of the services\' reservations' }),
  freeBytes: T.Integer({ description: 'total − kernel − supervisor − PostgreSQL − services; negative when over budget' }),
});
export type BudgetView = Static<typeof BudgetView>;
