import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { Api } from '../../src/api';
import { monitorRoutes, type Monitor } from '../../src/monitor';
import { HOUR_POINTS, MetricsStore, Ring, WEEK_POINTS, WEEK_STEP_MS } from '../../src/monitor/metrics';
import { readMeminfo, readProcs, Sampler } from '../../src/monitor/sampler';
import { until } from '../harness/http';

describe('metric rings', () => {
  it('keep the last N points, oldest first', () => {
    const ring = new Ring(3);
    for (let i = 1; i <= 5; i++) ring.push(i * 10, i);
    assert.deepEqual(ring.points(), [
      [30, 3],
      [40, 4],
      [50, 5],
    ]);
  });

  it('hold an hour at the sampling interval and a week of 5-minute averages, bounded', () => {
    const store = new MetricsStore(Number.POSITIVE_INFINITY);
    const start = Date.UTC(2026, 10, 28);
    // Eight days of samples every 10 s.
    for (let t = 0; t < 8 * 24 * 3600; t += 10) store.set('x', { a: '1' }, t % 600 < 300 ? 0 : 10, start + t * 1000);
    const hour = store.points('x', { a: '1' }, 'hour')!;
    const week = store.points('x', { a: '1' }, 'week')!;
    assert.equal(hour.length, HOUR_POINTS);
    assert.equal(week.length, WEEK_POINTS);
    // 5-minute buckets alternate between all-0 and all-10 averages.
    assert.deepEqual(new Set(week.map(([, v]) => v)), new Set([0, 10]));
    assert.equal(week[1]![0] - week[0]![0], 300_000);
    // Seven days back from the last sample, the bucket still filling last.
    const last = start + (8 * 24 * 3600 - 10) * 1000;
    assert.equal(week.at(-1)![0], Math.floor(last / WEEK_STEP_MS) * WEEK_STEP_MS);
    assert.ok(week[0]![0] > last - 7 * 24 * 3600_000, 'nothing older than a week');
  });

  it('serve the last day from the 5-minute averages, with the bucket still filling, so a chart is not empty after a start', () => {
    const store = new MetricsStore(Number.POSITIVE_INFINITY);
    const start = Date.UTC(2026, 10, 28);
    // Two minutes of samples: no 5-minute bucket has closed yet.
    for (let t = 0; t < 120; t += 10) store.set('x', {}, t, start + t * 1000);
    assert.deepEqual(store.points('x', {}, 'day'), [[start, 55]]);
    // Three days every minute: the day holds 24 h of buckets (288), the week all three days (864).
    for (let m = 2; m < 3 * 24 * 60; m++) store.set('x', {}, m % 2, start + m * 60_000);
    const day = store.points('x', {}, 'day')!;
    const week = store.points('x', {}, 'week')!;
    assert.equal(day.length, 288);
    assert.equal(week.length, 864);
    assert.deepEqual(day, week.slice(-288));
    const last = start + (3 * 24 * 60 - 1) * 60_000;
    assert.ok(day[0]![0] > last - 24 * 3600_000 && day[0]![0] <= last - 23.9 * 3600_000, `the day starts 24 h before the last sample, not ${(last - day[0]![0]) / 3600_000} h`);
  });

  it('are served by GET /metrics/{name}?range=hour|day|week; another range is refused naming the field, an unknown series is NOT_FOUND', async () => {
    const store = new MetricsStore(Number.POSITIVE_INFINITY);
    const start = Date.UTC(2026, 10, 28);
    for (let t = 0; t < 600; t += 10) store.set('ap_disk_used_bytes', { partition: 'p2' }, t, start + t * 1000);
    // The routes read only the store.
    const api = new Api(monitorRoutes({ metrics: store } as unknown as Monitor));
    const get = (query: Record<string, string>) => api.handle({ method: 'GET', path: '/metrics/ap_disk_used_bytes', query });
    const hour = await get({ partition: 'p2' });
    assert.equal(hour.status, 200);
    assert.deepEqual(hour.body, { name: 'ap_disk_used_bytes', labels: { partition: 'p2' }, range: 'hour', points: store.points('ap_disk_used_bytes', { partition: 'p2' }, 'hour') });
    assert.equal((hour.body as { points: unknown[] }).points.length, 60);
    const day = await get({ range: 'day', partition: 'p2' });
    assert.equal(day.status, 200);
    // Two 5-minute averages: 0..290 s and 300..590 s.
    assert.deepEqual((day.body as { points: unknown }).points, [
      [start, 145],
      [start + 300_000, 445],
    ]);
    assert.equal(((await get({ range: 'week', partition: 'p2' })).body as { range: string }).range, 'week');
    const bad = await get({ range: 'month', partition: 'p2' });
    assert.deepEqual([bad.status, bad.body], [400, { error: { code: 'INVALID_FIELD', message: 'range: expected hour, day or week', field: 'range' } }]);
    const missing = await get({ range: 'day', partition: 'p9' });
    assert.deepEqual([missing.status, (missing.body as { error: { code: string } }).error.code], [404, 'NOT_FOUND']);
  });

  it('write the Prometheus text format: escaped labels, no timestamps, one HELP and TYPE a family, live families beside, chart-only series left out', () => {
    const store = new MetricsStore();
    store.describe('ap_websockets_open', { help: 'Open client WebSockets', type: 'gauge' });
    store.describe('ap_cpu_percent', { help: 'for the charts', type: 'gauge', chartOnly: true });
    store.describe('ap_cpu_seconds_total', { help: 'CPU time', type: 'counter' });
    store.set('ap_websockets_open', {}, 3, 1000);
    store.set('ap_cpu_percent', {}, 12, 1000);
    store.setLatest('ap_cpu_seconds_total', { mode: 'user' }, 5.25, 1000);
    store.setLatest('ap_cpu_seconds_total', { mode: 'idle' }, 100, 1000);
    store.set('ap_instance_websockets_open', { app_instance: 'a"b\\c@x.com' }, 1.5, 2000);
    const live = [{ name: 'ap_service_up', help: 'Up', type: 'gauge' as const, samples: [{ labels: { service: 'echo' }, value: 1 }, { labels: { service: 'down' }, value: 0 }] }];
    assert.equal(
      store.prometheus(live),
      [
        '# HELP ap_cpu_seconds_total CPU time',
        '# TYPE ap_cpu_seconds_total counter',
        'ap_cpu_seconds_total{mode="user"} 5.25',
        'ap_cpu_seconds_total{mode="idle"} 100',
        'ap_instance_websockets_open{app_instance="a\\"b\\\\c@x.com"} 1.5',
        '# HELP ap_service_up Up',
        '# TYPE ap_service_up gauge',
        'ap_service_up{service="echo"} 1',
        'ap_service_up{service="down"} 0',
        '# HELP ap_websockets_open Open client WebSockets',
        '# TYPE ap_websockets_open gauge',
        'ap_websockets_open 3',
        '',
      ].join('\n'),
    );
  });

  it('drop series that stopped being sampled', () => {
    const store = new MetricsStore(60_000);
    store.set('gone', {}, 1, 0);
    store.set('kept', {}, 1, 100_000);
    store.prune(100_000);
    assert.deepEqual(
      store.list().map((s) => s.name),
      ['kept'],
    );
  });
});

describe('sampler', () => {
  const children: ChildProcess[] = [];
  after(() => {
    for (const c of children) {
      try {
        process.kill(-c.pid!, 'SIGKILL');
      } catch {
        // gone
      }
    }
  });

  it('puts the CPU of a child of a service under that service, and memory as /proc has it', async () => {
    // A "service": its own process group, whose child burns a core.
    const service = spawn(process.execPath, ['-e', `require('child_process').spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' }); setInterval(() => {}, 1000)`], { detached: true, stdio: 'ignore' });
    children.push(service);
    const idle = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { detached: true, stdio: 'ignore' });
    children.push(idle);
    // Until the service's child (the burner) is in its process group.
    await until('the child in the group', async () => (readProcs().filter((p) => p.pgrp === service.pid).length >= 2 ? true : undefined));
    let now = Date.now();
    const store = new MetricsStore();
    const sampler = new Sampler(
      store,
      {
        services: () => [
          { name: 'busy', pid: service.pid!, restarts: 2 },
          { name: 'idle', pid: idle.pid!, restarts: 0 },
        ],
        postgres: async () => null,
        partitions: () => ({ p2: '/' }),
        connections: () => ({ httpOpen: 1, httpTotal: 7, websockets: 2, websocketsByInstance: new Map([['a@x.com', 2]]) }),
        databaseSizes: async () => new Map([['a@x.com', 12345]]),
      },
      '/proc',
      () => now,
    );
    // What the burner itself used meanwhile, as /proc counts it: on a loaded
    // machine it gets far less than a core, and the service must show that.
    const burnerTicks = () => readProcs().find((p) => p.pgrp === service.pid && p.pid !== service.pid)!.ticks;
    const ticksBefore = burnerTicks();
    const started = Date.now();
    await sampler.sample();
    await new Promise((r) => setTimeout(r, 1500));
    now = Date.now();
    await sampler.sample();
    const burnerPercent = ((burnerTicks() - ticksBefore) / 100 / ((Date.now() - started) / 1000)) * 100;
    const value = (name: string, labels: Record<string, string> = {}) => store.list().find((s) => s.name === name && JSON.stringify(s.labels) === JSON.stringify(labels))?.value;
    const busy = value('ap_service_cpu_percent', { service: 'busy' })!;
    const quiet = value('ap_service_cpu_percent', { service: 'idle' })!;
    console.log(`# sampled: busy service ${busy.toFixed(0)} % CPU (its child alone ${burnerPercent.toFixed(0)} %), idle service ${quiet.toFixed(0)} %`);
    assert.ok(burnerPercent > 2, `the burner ran (${burnerPercent} %)`);
    // The service's own process idles: all it shows is its child's.
    assert.ok(busy > burnerPercent * 0.6, `busy ${busy}, its child ${burnerPercent}`);
    assert.ok(quiet < Math.max(5, burnerPercent / 2), `idle ${quiet}`);
    // Its memory is the group's resident memory, as /proc counts it.
    const rssOf = (pid: number) => Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
    const idleRss = value('ap_service_memory_bytes', { service: 'idle' })!;
    assert.ok(Math.abs(idleRss - rssOf(idle.pid!)) < 2 * 1024 * 1024, `${idleRss} vs ${rssOf(idle.pid!)}`);
    const mem = await readMeminfo();
    assert.equal(value('ap_memory_total_bytes'), mem.total);
    // What the Manager charts against the total: in use, the same sample's total less available.
    assert.equal(value('ap_memory_used_bytes'), mem.total - value('ap_memory_available_bytes')!);
    assert.equal(value('ap_service_restarts', { service: 'busy' }), 2);
    assert.equal(value('ap_instance_websockets_open', { app_instance: 'a@x.com' }), 2);
    assert.equal(value('ap_instance_database_bytes', { app_instance: 'a@x.com' }), 12345);
    assert.ok(value('ap_disk_size_bytes', { partition: 'p2' })! > 0);
    const cpu = value('ap_cpu_percent')!;
    assert.ok(cpu > 0 && cpu <= 100, `cpu ${cpu}`);
  });

  it('forgets the CPU count of a process once its service runs another (a service restarted for months holds one, not one per run)', async () => {
    const runs = [0, 1, 2].map(() => spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { detached: true, stdio: 'ignore' }));
    children.push(...runs);
    await until('the runs in /proc', async () => (runs.every((r) => readProcs().some((p) => p.pgrp === r.pid)) ? true : undefined));
    let run = 0;
    const sampler = new Sampler(
      new MetricsStore(),
      {
        services: () => [{ name: 'restarting', pid: runs[run]!.pid!, restarts: run }],
        postgres: async () => null,
        partitions: () => ({}),
        connections: () => ({ httpOpen: 0, httpTotal: 0, websockets: 0, websocketsByInstance: new Map() }),
        databaseSizes: async () => new Map(),
      },
      '/proc',
    );
    for (run = 0; run < runs.length; run++) await sampler.sample();
    const kept = (sampler as unknown as { lastTicks: Map<string, unknown> }).lastTicks;
    assert.deepEqual([...kept.keys()], [`restarting:${runs.at(-1)!.pid}`]);
  });
});
