// What ties subsystems together without either knowing the other: alarms
// raised from the states of the database, the services and the jobs, and the
// Manager's event stream fed from them.
import type { Alarms } from '../alarms';
import type { BackupRecords } from '../backup';
import type { Config } from '../config';
import type { DatabaseHealth } from '../db';
import type { Instances } from '../instances';
import { INTERRUPTED, type JobView, type Jobs } from '../jobs';
import type { Logger } from '../log';
import type { ManagerEvents } from '../manager';
import type { Services } from '../services';

export interface Wiring {
  readonly config: Config;
  readonly pgData: string;
  readonly database: { health(): DatabaseHealth; onChange(listener: (health: DatabaseHealth) => void): void };
  readonly instances: Instances;
  readonly services: Services;
  readonly alarms: Alarms;
  readonly events: ManagerEvents;
  readonly log: Logger;
}

/** Alarms and events from the database's and the services' states. */
export function wireStates({ config, pgData, database, instances, services, alarms, events, log }: Wiring): void {
  // The database going down and coming back: an alarm while it is down; once
  // back, running instances hear instance.config so their services reconnect.
  const onDatabase = (health: DatabaseHealth) => {
    if (health.state !== 'up') {
      alarms.raise('database', 'DATABASE_DOWN', 'critical', databaseAlarmText(config, pgData, health));
      return;
    }
    alarms.clear('database', 'DATABASE_DOWN');
    const told = instances.databaseBack();
    log.info(`database is back: ${told.length === 0 ? 'no running instances to tell' : `told ${told.join(', ')} to reconnect (instance.config)`}`);
  };
  database.onChange(onDatabase);
  if (database.health().state !== 'up') onDatabase(database.health());
  else alarms.clear('database', 'DATABASE_DOWN'); // kept from before a restart: the database is up now
  services.onState((service, state) => events.publish({ type: 'service', name: service, state }));
  alarms.onEvent((event) => events.publish({ type: 'alarm', event: event.type, alarm: event.alarm }));
  services.onState((service, state) => {
    if (state === 'failed') alarms.raise(`service:${service}`, 'CRASH_LOOP', 'major', `app service ${service} kept dying and was given up (${services.get(service)?.status().reason ?? 'see its log'})`);
    else if (state === 'running') alarms.clear(`service:${service}`, 'CRASH_LOOP');
  });
  services.onHealth((service, event) => {
    if (event.type === 'out-of-memory') {
      alarms.raise(`service:${service}`, 'SERVICE_OUT_OF_MEMORY', 'major', `app service ${service} was killed: out of memory (limit ${event.limitMB} MB); raise its limit (ap ctl service limits ${service} --memory MB) or find its leak`);
    } else alarms.clear(`service:${service}`, 'SERVICE_OUT_OF_MEMORY');
  });
}

/**
 * A finished backup job raises or clears its target's BACKUP_FAILED; an
 * instance backup that a stop or death of the supervisor cut off ends in its
 * record here (found at the next start), as it never reached its own end.
 */
export function backupFinished(alarms: () => Alarms, records: BackupRecords): (job: JobView) => void {
  return (job) => {
    if (job.kind !== 'backup') return;
    if (job.state === 'failed') alarms().raise(`backup:${job.target}`, 'BACKUP_FAILED', 'major', `the backup of ${job.target} failed: ${job.message}`);
    else alarms().clear(`backup:${job.target}`, 'BACKUP_FAILED');
    if (job.message === INTERRUPTED && job.target !== 'manager') records.failed(job.target, job.message);
  };
}

/** Every job change reaches the Manager's pages. */
export function wireJobs(jobs: Jobs, events: ManagerEvents): void {
  jobs.onChange((job) => events.publish({ type: 'job', job }));
}

/** The DATABASE_DOWN alarm's text: which cluster, since when, why, and what happens next. */
export function databaseAlarmText(config: Config, dataDir: string, health: DatabaseHealth): string {
  const which = config.db.mode === 'managed' ? `PostgreSQL (managed, ${dataDir})` : `PostgreSQL (attached, socket ${config.db.socketDir} port ${config.db.port})`;
  if (health.state === 'given-up') return `${which} is down since ${health.downSince ?? 'now'} and was given up: it ${health.reason ?? 'kept dying'}`;
  const next =
    health.state === 'restarting'
      ? `restarting (restarts so far: ${health.restarts})`
      : config.db.mode === 'attached'
        ? 'the supervisor cannot restart it: check /etc/init.d/S50postgresql'
        : 'down';
  return `${which} is down since ${health.downSince ?? 'now'}: ${health.reason ?? 'no answer'}; ${next}`;
}
