// The JSON the Manager's API answers, as the pages read it. The server
// builds these views as plain records (no exported schema yet: issue 16,
// item 3), so they are written out here once, for the whole UI; when the
// server's schemas exist, these become imports of their types.
import type { TraceFlag } from '../trace';

export interface Session {
  readonly csrf: string;
  readonly mustChangePassword: boolean;
}

export type JobState = 'running' | 'succeeded' | 'failed';

/** A long job (install, restore, clean-up, update) as GET /jobs/:id answers (src/jobs JobView). */
export interface Job {
  readonly id: string;
  readonly kind: string;
  readonly target: string;
  readonly state: JobState;
  readonly startedAt: string;
  readonly finishedAt: string | null;
  readonly progress: { readonly done: number; readonly total: number | null; readonly note: string };
  readonly message: string;
  readonly output: readonly string[];
}

export interface ServiceSummary {
  readonly name: string;
  readonly state: string;
}

export interface Service extends ServiceSummary {
  readonly version: string;
  readonly label: string;
  readonly pid: number | null;
  readonly restarts: number;
  readonly deaths: number;
  readonly streams: number;
  readonly reason: string | null;
}

export interface Crash {
  readonly time: string;
  readonly signal: string | null;
  readonly exitCode: number | null;
  readonly uptimeMs: number;
  readonly version: string;
  readonly cutOff: string | null;
  readonly lastLines: readonly string[];
}

export interface LogTail {
  readonly text: string;
  readonly size: number;
  readonly truncated: boolean;
}

export interface ExternalDatabase {
  readonly host: string;
  readonly name: string;
  readonly user: string;
}

export interface Instance {
  readonly id: string;
  readonly service: string;
  readonly domain: string;
  readonly state: string;
  readonly path: string;
  readonly password: string;
  readonly database: { readonly name: string; readonly user: string; readonly sizeBytes: number | null };
  readonly external: ExternalDatabase | null;
  readonly maxBodyBytes: number | null;
  readonly traceFlagNames: TraceFlag[];
  readonly excludeFromBackup: boolean;
}

export interface Status {
  readonly version: string;
  readonly label: string;
  readonly board: string;
  readonly uptimeSeconds: number;
  readonly memory: { readonly rss: number };
}

export interface Alarm {
  readonly id: string;
  readonly severity: string;
  readonly source: string;
  readonly code: string;
  readonly text: string;
  readonly raisedAt: string;
  readonly clearedAt?: string | null;
}

export interface StoreVersion {
  readonly build: string;
  readonly label: string;
}

export interface StoreApp {
  readonly id: string;
  readonly title: string;
  readonly manufacturer?: string;
  readonly description?: string;
  readonly versions: readonly StoreVersion[];
  readonly installed: { readonly version: string; readonly label: string } | null;
}

export interface StoreIndex {
  readonly store: string;
  readonly arch: string;
  readonly apps: readonly StoreApp[];
  readonly skipped: readonly string[];
}

export interface SettingSpec {
  readonly label: string;
  readonly value: string;
  readonly choices?: string[];
}

export interface Certificate {
  readonly subject: string;
  readonly custom: boolean;
  readonly validTo: string;
}

export interface UpdateState {
  readonly running: string | null;
  readonly available: string | null;
}

export interface Series {
  readonly name: string;
  readonly labels: Record<string, string>;
}

export interface Diagnostics {
  readonly status: Status;
  readonly node: string;
  readonly sessions: number;
  readonly jobs: readonly Job[];
  readonly alarms: { readonly active: readonly Alarm[]; readonly cleared: readonly Alarm[] };
}

/** What the event socket pushes (src/manager/events.ts); `ended` and `reconnect` are the client's own. */
export type PushEvent =
  | { readonly type: 'hello' }
  | { readonly type: 'job'; readonly job: Job }
  | { readonly type: 'service'; readonly name: string; readonly state: string }
  | { readonly type: 'alarm'; readonly event: 'raised' | 'cleared'; readonly alarm: Alarm }
  | { readonly type: 'changed'; readonly method: string; readonly path: string }
  | { readonly type: 'transfer'; readonly transfer: string; readonly bytes: number; readonly done: boolean; readonly ok: boolean }
  | { readonly type: 'ended' }
  | { readonly type: 'reconnect' };
