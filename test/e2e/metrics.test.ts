// /manager/metrics as Prometheus reads it: parsed by the Prometheus project's
// own parser of the text format (python3-prometheus-client), named by its
// conventions (app_instance, not its target label "instance"; CPU as
// _seconds_total counters; no sample timestamps; one family per meaning),
// with what an alert needs: up per service and instance, build info, alarms,
// each instance's last backup, kept across a restart.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { fetchRaw, until } from '../harness/http';
import { missing } from '../harness/optional';
import { buildFixture, ensureStopped, readyPorts, runAp, runApSync, type Run } from '../harness/supervisor';
import { rootWithConfig, UNWRITABLE_FILE, workspace } from '../harness/workspace';

const skip = missing('prometheus-parser');
let dir: string;
let root: string;
let run: Run;
let manager: number;

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
  timestamp: number | null;
}
interface Parsed {
  name: string;
  type: string;
  samples: Sample[];
}

const PARSE = `
import json, sys
from prometheus_client.parser import text_string_to_metric_families
print(json.dumps([{"name": f.name, "type": f.type, "samples": [{"name": s.name, "labels": s.labels, "value": s.value, "timestamp": s.timestamp} for s in f.samples]} for f in text_string_to_metric_families(sys.stdin.read())]))
`;

/** The metrics now, through the parser (which throws on anything the format does not allow). */
async function scrape(): Promise<Parsed[]> {
  const answer = await fetchRaw(`http://127.0.0.1:${manager}/manager/metrics`);
  assert.equal(answer.status, 200, answer.body.toString());
  assert.match(String(answer.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  const parsed = spawnSync('/usr/bin/python3', ['-c', PARSE], { input: answer.body, encoding: 'utf8' });
  assert.equal(parsed.status, 0, `the parser refused it: ${parsed.stderr}`);
  return JSON.parse(parsed.stdout) as Parsed[];
}

const find = (families: Parsed[], name: string, labels: Record<string, string> = {}) =>
  families.flatMap((f) => f.samples).find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
/** The sample, which must be there. */
const sample = (families: Parsed[], name: string, labels: Record<string, string> = {}): Sample => {
  const found = find(families, name, labels);
  assert.ok(found, `${name}${JSON.stringify(labels)} is served`);
  return found;
};

async function serve(): Promise<void> {
  run = runAp(['serve', '--root', root, '--http-port', '0', '--https-port', '0', '--reserve-size', '0', '--monitor-interval', '1']);
  manager = (await readyPorts(run)).manager;
}

before(async () => {
  if (skip) return;
  dir = await workspace('ap-metrics-');
  root = await rootWithConfig(dir, { instances: [{ service: 'echo', name: 'm1', domain: 'example.com', password: 'metrics-pass' }] });
  await serve();
  assert.equal(runApSync(['ctl', 'service', 'install', await buildFixture('echo', join(dir, 'packages')), '--root', root]).status, 0);
});

after(async () => {
  if (run) await ensureStopped(run);
  if (dir) await rm(dir, { recursive: true, force: true });
});

it('parses with the Prometheus parser and follows its conventions, with up, build info, alarms and the process metrics', { skip: skip ?? false }, async () => {
  const families = await until('the metrics with the instance up', async () => {
    const f = await scrape();
    return find(f, 'ap_instance_up', { app_instance: 'm1@example.com' })?.value === 1 && find(f, 'ap_cpu_seconds_total', { mode: 'idle' }) && find(f, 'ap_service_cpu_seconds_total', { service: 'echo' }) ? f : undefined;
  });
  const all = families.flatMap((f) => f.samples);
  assert.deepEqual(families.filter((f) => f.type === 'unknown').map((f) => f.name), [], 'every family has its TYPE');
  assert.deepEqual(all.filter((s) => s.timestamp !== null).map((s) => s.name), [], 'no sample timestamps');
  assert.deepEqual(all.filter((s) => 'instance' in s.labels).map((s) => s.name), [], 'no label "instance" (Prometheus\'s own)');
  assert.equal(new Set(families.map((f) => f.name)).size, families.length, 'each family once');
  for (const gone of ['ap_cpu_percent', 'ap_service_cpu_percent', 'ap_memory_bytes', 'ap_supervisor_memory_bytes']) assert.equal(find(families, gone), undefined, `${gone} is for the charts only`);

  const build = sample(families, 'ap_build_info');
  assert.deepEqual([build.value, build.labels.board, typeof build.labels.version, typeof build.labels.label], [1, 'dev', 'string', 'string']);
  assert.equal(sample(families, 'ap_service_up', { service: 'echo' })?.value, 1);
  assert.equal(sample(families, 'ap_instance_up', { app_instance: 'm1@example.com', service: 'echo' })?.value, 1);
  assert.deepEqual(all.filter((s) => s.name === 'ap_alarms_active').map((s) => s.labels.severity).sort(), ['critical', 'major', 'minor', 'warning']);
  const cpu = families.find((f) => f.name === 'ap_cpu_seconds')!; // the parser names a counter's family without _total
  assert.equal(cpu.type, 'counter');
  assert.deepEqual(cpu.samples.map((s) => s.labels.mode).sort(), ['idle', 'iowait', 'irq', 'nice', 'softirq', 'steal', 'system', 'user']);
  assert.ok(sample(families, 'ap_service_cpu_seconds_total', { service: 'echo' })?.value >= 0);
  for (const name of ['ap_memory_total_bytes', 'ap_memory_available_bytes', 'ap_postgres_memory_bytes', 'ap_service_memory_bytes', 'ap_disk_used_bytes', 'ap_http_requests_total']) assert.ok(sample(families, name), name);
  for (const name of ['process_cpu_seconds_total', 'process_cpu_user_seconds_total', 'process_cpu_system_seconds_total', 'process_resident_memory_bytes', 'process_virtual_memory_bytes', 'process_heap_bytes', 'process_open_fds', 'process_max_fds']) {
    assert.ok(sample(families, name)?.value > 0, name);
  }
  const startedAt = sample(families, 'process_start_time_seconds')?.value;
  assert.ok(Math.abs(startedAt - Date.now() / 1000) < 600, `started ${startedAt}`);

  // A stopped service is down, and so is its instance.
  assert.equal(runApSync(['ctl', 'service', 'stop', 'echo', '--root', root]).status, 0);
  const after = await scrape();
  assert.equal(sample(after, 'ap_service_up', { service: 'echo' })?.value, 0);
  assert.equal(sample(after, 'ap_instance_up', { app_instance: 'm1@example.com' })?.value, 0);
});

it("says per instance when its last backup succeeded and how the last one ended, for an alert on backups too old", { skip: skip ?? false }, async () => {
  const labels = { app_instance: 'm1@example.com' };
  const before = await scrape();
  assert.equal(sample(before, 'ap_backup_last_success_timestamp_seconds', labels).value, 0, 'never backed up: 0');
  assert.equal(find(before, 'ap_backup_last_result', labels), undefined, 'no result before the first backup');

  const backup = (file: string) => runApSync(['ctl', 'backup', 'instance', 'm1@example.com', '--file', file, '--root', root]);
  assert.equal(backup(join(dir, 'm1.apbk')).status, 0);
  const ok = await scrape();
  const at = sample(ok, 'ap_backup_last_success_timestamp_seconds', labels).value;
  assert.ok(Math.abs(at - Date.now() / 1000) < 120, `succeeded at ${at}`);
  assert.equal(sample(ok, 'ap_backup_last_result', labels).value, 1);
  assert.equal(ok.find((f) => f.name === 'ap_backup_last_result')?.type, 'gauge');

  assert.notEqual(backup(UNWRITABLE_FILE).status, 0);
  const failed = await scrape();
  assert.equal(sample(failed, 'ap_backup_last_result', labels).value, 0);
  assert.equal(sample(failed, 'ap_backup_last_success_timestamp_seconds', labels).value, at, 'the last success stays');

  // Kept across a restart (mnt/sda2/backups.json).
  run.child.kill('SIGTERM');
  assert.deepEqual(await run.exited, [0, null]);
  await serve();
  const restarted = await scrape();
  assert.deepEqual([sample(restarted, 'ap_backup_last_result', labels).value, sample(restarted, 'ap_backup_last_success_timestamp_seconds', labels).value], [0, at]);

  // The record goes with its instance: one made again under the same name starts without a backup.
  for (const args of [['instance', 'delete', 'm1@example.com', '--drop-database'], ['instance', 'create', 'm1@example.com', '--service', 'echo']]) {
    const done = runApSync(['ctl', ...args, '--root', root]);
    assert.equal(done.status, 0, done.stderr);
  }
  const again = await scrape();
  assert.equal(find(again, 'ap_backup_last_result', labels), undefined);
  assert.equal(sample(again, 'ap_backup_last_success_timestamp_seconds', labels).value, 0);
});
