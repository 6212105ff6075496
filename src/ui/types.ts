// The JSON the Manager's API answers, as the pages read it: the server's own
// answer types (each `Static` of a route's response schema, which tests check
// every answer against), so the UI cannot drift from the server. Imported as
// types only, so the bundle holds none of the server's code, and from the
// subsystems' leaf `views` modules, which import nothing but src/api: the
// UI's program (DOM, no Node) then never type-checks server code.
import type { Static } from '../api';
import type { Alarm as ServerAlarm } from '../alarms/views';
import type { BudgetView } from '../budget/views';
import type { SettingView } from '../db/views';
import type { BootState } from '../boot/views';
import type { RescueLog as ServerRescueLog, UpdateState as ServerUpdateState } from '../image/views';
import type { SelfUpdateState } from '../selfupdate/views';
import type { InstanceView } from '../instances/schema';
import type { JobView } from '../jobs/views';
import type { SessionView } from '../manager/views';
import type { SeriesList } from '../monitor/views';
import type { ReplicationShown } from '../replication/views';
import type { CrashRecord, LogTail as ServerLogTail, ServiceView } from '../services/views';
import type { StoreList, StoreVersion as ServerStoreVersion } from '../store/views';
import type { Status as ServerStatus } from '../supervisor/views';
import type { CertificateView } from '../tls/views';
import type { Scope as ServerScope, TokenCreated as ServerTokenCreated, TokenView } from '../tokens/views';
import type { TraceFlag } from '../trace';

export type Session = SessionView;

export type Budget = BudgetView;

export type Job = JobView;
export type JobState = Job['state'];

export type Service = ServiceView;
export type ServiceSummary = Pick<Service, 'name' | 'state'>;
export type Crash = CrashRecord;
export type LogTail = ServerLogTail;

/** The server names only the flags it knows (src/trace); its schema says strings. */
export type Instance = Omit<Static<typeof InstanceView>, 'traceFlagNames'> & { readonly traceFlagNames: TraceFlag[] };
export type ExternalDatabase = NonNullable<Instance['external']>;

export type Status = ServerStatus;
export type Alarm = ServerAlarm;

export type StoreVersion = ServerStoreVersion;
export type StoreIndex = StoreList;
export type StoreApp = StoreList['apps'][number];

export type SettingSpec = SettingView;
export type Certificate = CertificateView;
export type UpdateState = ServerUpdateState;
/** GET /boot/details (src/image/api.ts): spelled out from its parts, whose schemas are two subsystems' leaves. */
export interface BootDetails {
  readonly boot: BootState;
  readonly running: UpdateState['running'];
  readonly journal: UpdateState['journal'];
}
export type RescueLog = ServerRescueLog;
/** The supervisor's own update (GET /supervisor/update). */
export type SupervisorUpdate = SelfUpdateState;
export type Series = SeriesList['series'][number];

export type Token = TokenView;
export type TokenCreated = ServerTokenCreated;
export type Scope = ServerScope;

export type Replication = ReplicationShown;
export type Standby = ReplicationShown['standbys'][number];

/**
 * GET /diagnostics (src/supervisor/routes.ts DiagnosticsView): its parts are
 * the server's types; the whole is spelled out because its schema is built
 * from other subsystems' indexes, which are Node code.
 */
export interface Diagnostics {
  readonly status: Status;
  readonly node: string;
  readonly sessions: number;
  readonly jobs: readonly Job[];
  readonly alarms: { readonly active: readonly Alarm[]; readonly cleared: readonly Alarm[] };
}

/** What the event socket pushes (src/manager/events.ts ManagerEvent); `ended` and `reconnect` are the client's own. */
export type PushEvent =
  | { readonly type: 'hello' }
  | { readonly type: 'job'; readonly job: Job }
  | { readonly type: 'service'; readonly name: string; readonly state: string }
  | { readonly type: 'alarm'; readonly event: 'raised' | 'cleared'; readonly alarm: Alarm }
  | { readonly type: 'changed'; readonly method: string; readonly path: string }
  | { readonly type: 'transfer'; readonly transfer: string; readonly bytes: number; readonly done: boolean; readonly ok: boolean }
  | { readonly type: 'ended' }
  | { readonly type: 'reconnect' };
