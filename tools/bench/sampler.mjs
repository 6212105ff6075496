#!/usr/bin/env node
// The cost of one metrics sample (all of /proc, meminfo, statfs), which the
// supervisor takes every --monitor-interval seconds.
//   node tools/bench/sampler.mjs [--samples 50]
import { readdirSync } from 'node:fs';
import { register } from 'node:module';

register('../ts-loader.mjs', import.meta.url);
const { MetricsStore } = await import('../../src/monitor/metrics.ts');
const { Sampler } = await import('../../src/monitor/sampler.ts');
const args = process.argv.slice(2);
const samples = args.includes('--samples') ? Number(args[args.indexOf('--samples') + 1]) : 50;
const store = new MetricsStore();
const sampler = new Sampler(store, {
  services: () => [{ name: 'self', pid: process.pid, restarts: 0 }],
  postgres: async () => null,
  partitions: () => ({ p2: '/' }),
  connections: () => ({ httpOpen: 0, httpTotal: 0, websockets: 0, websocketsByInstance: new Map() }),
  databaseSizes: async () => new Map(),
});
await sampler.sample();
const processes = readdirSync('/proc').filter((n) => /^\d+$/.test(n)).length;
const t0 = process.hrtime.bigint();
const c0 = process.cpuUsage();
for (let i = 0; i < samples; i++) await sampler.sample();
const wall = Number(process.hrtime.bigint() - t0) / 1e6 / samples;
const cpu = process.cpuUsage(c0);
console.log(`node ${process.version} ${process.arch}, ${processes} processes: ${wall.toFixed(2)} ms wall, ${((cpu.user + cpu.system) / 1000 / samples).toFixed(2)} ms CPU per sample; at 10 s: ${((cpu.user + cpu.system) / 1000 / samples / 100).toFixed(3)} % of a core`);
