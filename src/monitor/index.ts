// Watching the box: metrics sampled into rings, the disk guard, and the
// alarms every subsystem raises, forwarded to the Events app and mailed to
// the alarm address. Started after the services and the webserver, stopped
// before them.
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { Alarms, AlarmView, EventsForwarder, type Alarm } from '../alarms';
import { objectBody, route, T, type ApiRoute } from '../api';
import { settingDefault, settingValue, type Settings } from '../db';
import { ApError, InvalidField } from '../errors';
import type { Logger } from '../log';
import { Mailer } from '../mail';
import type { Paths } from '../paths';
import type { CertificateChain } from '../tls';
import { DiskGuard } from './disk';
import { MetricsStore, type Range } from './metrics';
import { Sampler, type SamplerSources } from './sampler';
import { Labels, SeriesList } from './views';

export { Alarms, type Alarm } from '../alarms';
export { MetricsStore } from './metrics';
export { liveFamilies } from './families';
export { isLoopback, metricsAllowed } from './access';

export interface MonitorOptions {
  readonly settings: Settings;
  readonly paths: Paths;
  readonly log: Logger;
  readonly reserveBytes: number;
  readonly intervalMs: number;
  readonly label: string;
  readonly services: {
    list(): {
      name: string;
      state: string;
      pid: number | null;
      restarts: number;
      limits?: { readonly memoryLimitMB: number; readonly enforced: boolean };
      usage?: { readonly memoryBytes: number; readonly cpuSeconds: number } | null;
    }[];
    stop(name: string): Promise<void>;
    start(name: string): void;
  };
  readonly sources: Omit<SamplerSources, 'services' | 'partitions'>;
  /** Partitions to report (p1, p2, p3 of the board): name → a path on it. */
  readonly partitions: Readonly<Record<string, string>>;
}

export interface Monitor {
  readonly alarms: Alarms;
  readonly mailer: Mailer;
  readonly metrics: MetricsStore;
  readonly guard: DiskGuard;
  readonly events: EventsForwarder;
  /** Raises or clears the certificate alarm for the chain being served. */
  checkCertificate(chain: CertificateChain): void;
  routes(): ApiRoute[];
  /** Stops its timers and mail, then writes what the alarms last were. */
  stop(): Promise<void>;
}

const DAY = 24 * 3600_000;

export function startMonitor(options: MonitorOptions): Monitor {
  const { settings, log } = options;
  // A file on p2 beside services.json, not the manager database: alarms must
  // be kept when the database is down (DATABASE_DOWN itself), on a standby
  // (its database is read-only), and never travel with a Manager backup to
  // another box.
  const alarms = Alarms.persisted(join(options.paths.data, 'alarms.json'), (message) => log.error(message));
  const events = new EventsForwarder({
    target: async () => {
      const url = await settingValue(settings, 'eventsUrl');
      if (url === '') return null;
      return { url, user: (await settingValue(settings, 'eventsUser')) || null, password: (await settingValue(settings, 'eventsPassword')) || null };
    },
    log: log.child('events'),
    box: { label: options.label, host: hostname() },
  });
  const mailer = new Mailer({
    config: async () => {
      const [server, port, security, user, password, sender, insecure, to] = await Promise.all(
        ['smtpServer', 'smtpPort', 'smtpSecurity', 'smtpUser', 'smtpPassword', 'smtpSender', 'smtpInsecureTls', 'alarmEmail'].map((n) => settingValue(settings, n)),
      );
      if (!server || !sender || !to) return null;
      return {
        smtp: { server, port: Number(port), security: security as 'none' | 'starttls' | 'tls', user: user || null, password: password || null, sender, insecureTls: insecure === 'true' },
        to: to!,
      };
    },
    log: log.child('mail'),
  });
  alarms.onEvent((event) => {
    events.push(event);
    const a = event.alarm;
    if (event.type === 'raised' && mailsWhenRaised(a)) {
      mailer.send({ subject: `App Platform alarm: ${a.code} (${a.source})`, text: `${a.text}\n\n${a.todo ? `What to do: ${a.todo}\n\n` : ''}Raised ${a.raisedAt} on ${hostname()}.` });
    }
  });

  let lastThreshold = Number(settingDefault('diskThreshold'));
  const guard = new DiskGuard({
    paths: options.paths,
    reserveBytes: options.reserveBytes,
    // The database may be what the full disk stopped: then the last known threshold holds.
    threshold: async () => {
      try {
        // Bounded: on a full disk the database may hang rather than fail, and the guard must act anyway.
        lastThreshold = Number(await withTimeout(settingValue(settings, 'diskThreshold'), 2000, 'the database did not answer'));
      } catch (err) {
        log.warn(`disk guard: cannot read the threshold (${(err as Error).message}); using ${lastThreshold} %`);
      }
      return lastThreshold;
    },
    alarms,
    mailer,
    services: {
      running: () => options.services.list().filter((s) => s.state === 'running' || s.state === 'starting').map((s) => s.name),
      stop: (name) => options.services.stop(name),
      start: (name) => options.services.start(name),
    },
    log: log.child('disk'),
  });
  const metrics = new MetricsStore();
  const sampler = new Sampler(metrics, {
    ...options.sources,
    services: () =>
      options.services.list().map((s) => ({
        name: s.name,
        pid: s.pid,
        restarts: s.restarts,
        memoryLimitBytes: s.limits?.enforced ? s.limits.memoryLimitMB * 1024 * 1024 : null,
        usage: s.usage ?? null,
      })),
    partitions: () => options.partitions,
  });
  sampler.start(options.intervalMs);
  // The first look at the disk after a start settles the disk alarms kept from
  // before it: the guard starts from "all well" and only clears on a change.
  const settleKept = () => {
    const { level, reserveEmptied } = guard.current;
    if (level !== 'critical') alarms.clear('disk', 'DISK_FULL');
    if (level === 'ok') alarms.clear('disk', 'DISK_WARNING');
    if (!reserveEmptied) alarms.clear('disk', 'RESERVE_EMPTIED');
  };
  let settled = false;
  const check = () =>
    void guard
      .check()
      .then((looked) => {
        if (looked && !settled) {
          settled = true;
          settleKept();
        }
      })
      .catch((err) => log.error(`disk guard: ${(err as Error).message}`));
  void guard.init().then(check);
  const guardTimer = setInterval(check, options.intervalMs);
  guardTimer.unref();

  let certTimer: NodeJS.Timeout | null = null;
  const monitor: Monitor = {
    alarms,
    mailer,
    metrics,
    guard,
    events,
    checkCertificate(chain) {
      const left = chain.validTo.getTime() - Date.now();
      const subject = chain.subject.replace(/\n/g, ', ');
      if (left <= 0) {
        alarms.clear('tls', 'CERT_EXPIRING');
        alarms.raise('tls', 'CERT_EXPIRED', 'critical', `the webserver certificate (${subject}) expired on ${chain.validTo.toISOString()}`);
      } else if (left <= 30 * DAY) {
        alarms.clear('tls', 'CERT_EXPIRED');
        alarms.raise('tls', 'CERT_EXPIRING', left <= 7 * DAY ? 'major' : 'warning', `the webserver certificate (${subject}) expires on ${chain.validTo.toISOString()}, in ${Math.ceil(left / DAY)} days`);
      } else {
        alarms.clear('tls', 'CERT_EXPIRING');
        alarms.clear('tls', 'CERT_EXPIRED');
      }
      if (certTimer) clearTimeout(certTimer);
      certTimer = setTimeout(() => monitor.checkCertificate(chain), Math.min(12 * 3600_000, Math.max(60_000, left)));
      certTimer.unref();
    },
    routes: () => monitorRoutes(monitor),
    async stop() {
      sampler.stop();
      clearInterval(guardTimer);
      if (certTimer) clearTimeout(certTimer);
      events.stop();
      mailer.stop();
      await alarms.flush();
    },
  };
  return monitor;
}

/**
 * Whether an alarm is mailed as it is raised: critical and major ones, but
 * disk alarms mail on their own schedule (24 h, hourly) and a broken
 * replication only once it lasted 5 minutes (src/replication, the seed).
 */
export function mailsWhenRaised(a: Pick<Alarm, 'source' | 'code' | 'severity'>): boolean {
  return a.source !== 'disk' && a.code !== 'REPLICATION_BROKEN' && (a.severity === 'critical' || a.severity === 'major');
}

/** The postmaster pid of a cluster folder (postmaster.pid), or null. */
export async function postmasterPid(dataDir: string): Promise<number | null> {
  try {
    const pid = Number.parseInt((await readFile(join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0] ?? '', 10);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

const RANGES: readonly Range[] = ['hour', 'day', 'week'];

/** The monitor's resources in the admin API (exported for the route table's tests). */
export function monitorRoutes(monitor: Monitor): ApiRoute[] {
  return [
    {
      method: 'GET',
      pattern: '/alarms',
      summary: 'active alarms (most severe first) and the recently cleared ones',
      response: T.Object({ active: T.Array(AlarmView), cleared: T.Array(AlarmView) }),
      handler: () => ({ active: monitor.alarms.active(), cleared: monitor.alarms.history() }),
    },
    route({
      method: 'POST',
      pattern: '/alarms/{id}/acknowledge',
      summary: 'say a person has seen active alarm {id}: it stays active until its cause is gone, but no longer counts as a problem nobody looks at',
      response: AlarmView,
      errors: ['NOT_FOUND'],
      handler: ({ params }) => {
        // At most 15 digits: always a safe integer.
        const alarm = /^[1-9][0-9]{0,14}$/.test(params.id!) ? monitor.alarms.acknowledge(Number(params.id)) : null;
        if (!alarm) throw new ApError('NOT_FOUND', `no active alarm ${params.id} (it may have been cleared)`);
        return alarm;
      },
    }),
    {
      method: 'GET',
      pattern: '/metrics',
      summary: 'every metric series with its latest value',
      response: SeriesList,
      handler: () => ({ series: monitor.metrics.list() }),
    },
    route({
      method: 'GET',
      pattern: '/metrics/{name}',
      summary: 'points of one series: the last hour at the sampling interval, or the last day or week as 5-minute averages (?range=hour|day|week; other query parameters are its labels)',
      query: T.Object({ range: T.Optional(T.String({ description: 'hour (default), day or week' })) }, { additionalProperties: T.String({ description: 'a label of the series' }) }),
      response: T.Object({
        name: T.String(),
        labels: Labels,
        range: T.Union(RANGES.map((r) => T.Literal(r))),
        points: T.Array(T.Array(T.Number(), { minItems: 2, maxItems: 2 }), { description: '[time in ms since 1970, value], oldest first; for day and week the last is the 5-minute average still filling' }),
      }),
      errors: ['NOT_FOUND'],
      handler: ({ params, query }) => {
        const { range = 'hour', ...labels } = query as Record<string, string>;
        if (!RANGES.includes(range as Range)) throw new InvalidField('range', 'expected hour, day or week');
        const points = monitor.metrics.points(params.name!, labels, range as Range);
        if (!points) throw new ApError('NOT_FOUND', `no series ${params.name} with labels ${JSON.stringify(labels)}`);
        return { name: params.name, labels, range, points };
      },
    }),
    {
      method: 'POST',
      pattern: '/mail/test',
      summary: 'send a test mail (to {"to"} or the alarm address); answers with the server\'s reply or its error',
      body: T.Object({ to: T.Optional(T.String({ description: 'an e-mail address (default: the alarm address)' })) }),
      response: T.Object({ sent: T.Boolean(), reply: T.String({ description: 'what the mail server answered' }) }),
      errors: ['SMTP_NOT_CONFIGURED', 'MAIL_FAILED'],
      handler: async ({ body }) => {
        const { to } = objectBody(body);
        if (to !== undefined && typeof to !== 'string') throw new InvalidField('to', 'expected an e-mail address');
        try {
          return { sent: true, reply: await monitor.mailer.test(to as string | undefined) };
        } catch (err) {
          if (err instanceof ApError) throw err;
          throw new ApError('MAIL_FAILED', `the mail server refused or could not be reached: ${(err as Error).message}`);
        }
      },
    },
  ];
}


function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
