#!/usr/bin/env node
// npm test: build the bundle (the end-to-end tests run dist/ap.js as users do),
// start one PostgreSQL cluster for the run, run every test/**/*.test.ts with
// node:test, stop the cluster, and exit with the tests' status. Only what the
// chosen files' tiers need is prepared (tools/test-tiers.mjs): the unit tier
// builds nothing and starts no PostgreSQL.
//   node tools/test.mjs [--no-build] [--tier unit,integration,e2e,browser,image] [file-or-folder ...]
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { register } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { needs, tierOf, TIERS } from './test-tiers.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const noBuild = argv.includes('--no-build');
const tierArg = argv.indexOf('--tier');
const wanted = tierArg === -1 ? null : (argv[tierArg + 1] ?? '').split(',');
if (wanted && (wanted.length === 0 || !wanted.every((t) => TIERS.includes(t)))) {
  console.error(`test: --tier takes ${TIERS.join(', ')} (comma-separated)`);
  process.exit(2);
}
const targets = argv.filter((a, i) => !a.startsWith('--') && !(tierArg !== -1 && i === tierArg + 1));

function findTests(path) {
  if (statSync(path).isFile()) return [path];
  return readdirSync(path, { withFileTypes: true })
    .flatMap((entry) => (entry.isDirectory() ? findTests(join(path, entry.name)) : entry.name.endsWith('.test.ts') ? [join(path, entry.name)] : []))
    .sort();
}
const testRoot = join(root, 'test');
const files = (targets.length ? targets.map((t) => join(process.cwd(), t)) : [testRoot])
  .flatMap(findTests)
  .filter((file) => !wanted || wanted.includes(tierOf(file, testRoot)));
if (files.length === 0) {
  console.error('test: no test files chosen');
  process.exit(2);
}
const tiers = [...new Set(files.map((file) => tierOf(file, testRoot)))];
const need = needs(tiers);
console.log(`test: ${files.length} file(s), tier ${tiers.join(', ')}; ${need.bundle ? 'builds the bundle' : 'no bundle'}, ${need.postgres ? 'one PostgreSQL for the run' : 'no PostgreSQL'}`);

if (need.bundle && !noBuild) {
  const build = spawnSync(process.execPath, [join(root, 'tools/build.mjs')], { stdio: 'inherit', cwd: root });
  if (build.status !== 0) process.exit(build.status ?? 1);
}

register('./ts-loader.mjs', import.meta.url);
const { startTestCluster } = await import('../test/harness/pg.ts');
const cluster = need.postgres ? await startTestCluster() : null;
// The vm tier builds images (minutes the first time) and boots them again and again (the
// power cuts), without KVM on TCG, several times slower: each of its files needs far
// longer than the others' limit of 3 minutes a file. A /dev/kvm that does not boot a
// kernel means TCG too (test/vm/qemu.ts probes it), so the limit is TCG's wherever it is.
// Its files run apart, one at a time, beside the others (one at a time too then: two
// cores), so that a hang in any other file still ends at that file's 3 minutes.
const VM_FILE_MINUTES = 100;
const vmFiles = files.filter((file) => tierOf(file, testRoot) === 'vm');
const otherFiles = files.filter((file) => tierOf(file, testRoot) !== 'vm');
const only = tiers.length === 1 && tiers[0] === 'unit' ? { AP_TEST_TIER: 'unit' } : {};
const children = [];
const killGroups = (signal) => {
  for (const child of children) {
    try {
      process.kill(-child.pid, signal);
    } catch {
      // already gone
    }
  }
};

/** Runs `list` with node:test, each file ending after `fileMs`; resolves with its exit status. */
function run(list, fileMs, concurrency) {
  const child = spawn(
    process.execPath,
    ['--import', join(root, 'test/register.mjs'), '--test', '--test-reporter=spec', `--test-concurrency=${concurrency}`, `--test-timeout=${fileMs}`, ...list.map((f) => relative(root, f))],
    {
      cwd: root,
      stdio: 'inherit',
      detached: true, // its own process group, so a hung run can be ended whole
      env: { ...process.env, ...only, ...(cluster ? { AP_TEST_PG_SOCKET: cluster.socketDir, AP_TEST_PG_PORT: String(cluster.port) } : {}) },
    },
  );
  children.push(child);
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0))));
}

let status = 1;
try {
  process.on('SIGINT', () => killGroups('SIGINT'));
  process.on('SIGTERM', () => killGroups('SIGTERM'));
  // A test that leaves a child behind must not hang CI: end everything after the limit.
  const limitMinutes = Number(process.env.AP_TEST_LIMIT_MINUTES ?? 30 + (vmFiles.length ? VM_FILE_MINUTES : 0));
  const limit = setTimeout(() => {
    console.error(`test: still running after ${limitMinutes} minutes; killing the run`);
    killGroups('SIGKILL');
  }, limitMinutes * 60_000);
  const statuses = await Promise.all([
    ...(otherFiles.length ? [run(otherFiles, 180_000, vmFiles.length ? 1 : 2)] : []),
    ...(vmFiles.length ? [run(vmFiles, VM_FILE_MINUTES * 60_000, 1)] : []),
  ]);
  status = statuses.find((s) => s !== 0) ?? 0;
  clearTimeout(limit);
  killGroups('SIGKILL'); // whatever a test left running
} finally {
  await cluster?.stop();
}
process.exit(status);
