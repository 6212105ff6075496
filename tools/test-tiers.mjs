// Which tier a test file belongs to, and what each tier needs. A file may say
// so in a line of its own (`// tier: integration`); otherwise its tier follows
// from what it imports of the test harness, followed through relative imports:
//
//   unit         neither the bundle nor PostgreSQL; seconds for all of them
//   integration  PostgreSQL (harness/pg), not the bundle
//   e2e          dist/ap.js as users run it (harness/supervisor), and PostgreSQL
//   browser      test/browser: the bundle, PostgreSQL and Chromium
//   image        test/image: partitions and images on loop devices, BusyBox
//   vm           test/vm: the rescue ramdisk and the real rootfs (mmdebstrap) booted
//                in QEMU (root, qemu-system-x86_64, KVM or TCG, Debian's mirror)
//
// `unit` runs with AP_TEST_TIER=unit, and the harness refuses to start
// PostgreSQL or the bundle then: a file put in the wrong tier fails loudly.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';

export const TIERS = ['unit', 'integration', 'e2e', 'browser', 'image', 'vm'];

/** What a run of files of these tiers must prepare. */
export function needs(tiers) {
  const set = new Set(tiers);
  return {
    bundle: set.has('e2e') || set.has('browser') || set.has('vm'),
    postgres: set.has('integration') || set.has('e2e') || set.has('browser'),
  };
}

const imported = new Map();

/** The test-tree files `file` imports, directly or through others. */
function testImports(file, testRoot) {
  if (imported.has(file)) return imported.get(file);
  const found = new Set();
  imported.set(file, found);
  const text = readFileSync(file, 'utf8');
  for (const match of text.matchAll(/(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
    const target = resolve(dirname(file), match[1]);
    const path = [target, `${target}.ts`, join(target, 'index.ts')].find((p) => existsSync(p) && statSync(p).isFile());
    if (!path || !path.startsWith(testRoot + sep)) continue;
    found.add(path);
    for (const further of testImports(path, testRoot)) found.add(further);
  }
  return found;
}

/** The tier of test file `file` (absolute) under `testRoot` (the repository's test/). */
export function tierOf(file, testRoot) {
  const declared = /^\/\/ tier: (\w+)/m.exec(readFileSync(file, 'utf8'));
  if (declared) {
    if (!TIERS.includes(declared[1])) throw new Error(`${file}: unknown tier "${declared[1]}" (one of ${TIERS.join(', ')})`);
    return declared[1];
  }
  const under = file.slice(testRoot.length + 1).split(sep)[0];
  if (under === 'browser' || under === 'image' || under === 'vm') return under;
  const uses = testImports(file, testRoot);
  if (uses.has(join(testRoot, 'harness/supervisor.ts'))) return 'e2e';
  if (uses.has(join(testRoot, 'harness/pg.ts'))) return 'integration';
  return 'unit';
}
