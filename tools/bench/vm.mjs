#!/usr/bin/env node
// The x86_64 box's times in QEMU, from test/vm/image.test.ts run up to the
// update (AP_VM_ONLY=update): power-on to READY beside power-on to the OS up
// (init's scripts done, PostgreSQL started: the reference in the same boot),
// the install from the medium, and one update from the click to confirmed,
// with its phases. KVM when there is /dev/kvm, else TCG (several times slower);
// it says which. As root, with what the vm tier needs (README, test tiers).
//   node tools/bench/vm.mjs [--runs 1]
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '../..');
const args = process.argv.slice(2);
const runs = Number(args.includes('--runs') ? args[args.indexOf('--runs') + 1] : 1);
for (let run = 1; run <= runs; run++) {
  const r = spawnSync(process.execPath, [join(repo, 'tools/test.mjs'), 'test/vm/image.test.ts'], {
    cwd: repo,
    encoding: 'utf8',
    maxBuffer: 256 << 20,
    env: { ...process.env, AP_VM_ONLY: 'update' },
  });
  const lines = `${r.stdout}\n${r.stderr}`.split('\n');
  const wanted = lines.filter((l) => /^(bench|phase) /.test(l.trim()) || /^vm image phases/.test(l));
  console.log(`run ${run}${r.status === 0 ? '' : ` FAILED (exit ${r.status}): see node tools/test.mjs test/vm/image.test.ts`}`);
  for (const l of wanted) console.log(`  ${l.trim()}`);
  if (r.status !== 0) process.exit(1);
}
