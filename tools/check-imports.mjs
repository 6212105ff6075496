#!/usr/bin/env node
// The import rules, checked on every build (tools/build.mjs) and by
// `node tools/check-imports.mjs`:
//
// 1. No runtime import cycle among our modules (what esbuild bundles, so
//    type-only imports, which vanish, do not count).
// 2. A subsystem (a folder of src/) is used from outside only through its
//    index.ts, its public face. The deep imports that exist are listed in
//    tools/deep-imports.json, to be removed one by one: a new one fails, and
//    so does a listed one that is gone (so it cannot come back unnoticed).
//
//   node tools/check-imports.mjs [--update]   (--update rewrites the list; review the diff)
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src');
const listFile = join(root, 'tools/deep-imports.json');

/** Runtime import cycles among src/ modules, each as a list of paths. */
export async function runtimeCycles() {
  const result = await build({
    entryPoints: [join(src, 'ap.ts'), join(src, 'sdk/index.ts')],
    bundle: true,
    write: false,
    metafile: true,
    platform: 'node',
    format: 'esm',
    outdir: join(root, '.check-imports'),
    logLevel: 'silent',
    packages: 'external',
    external: ['*.json'],
  });
  const graph = new Map();
  for (const [path, input] of Object.entries(result.metafile.inputs)) {
    if (!path.startsWith('src/')) continue;
    graph.set(path, input.imports.filter((i) => i.path.startsWith('src/') && i.kind !== 'dynamic-import').map((i) => i.path));
  }
  return stronglyConnected(graph).filter((c) => c.length > 1 || (graph.get(c[0]) ?? []).includes(c[0]));
}

/** Tarjan's strongly connected components of a graph (node → nodes it imports). */
export function stronglyConnected(graph) {
  let index = 0;
  const stack = [];
  const state = new Map();
  const out = [];
  const visit = (v) => {
    const s = { index, low: index, onStack: true };
    index++;
    state.set(v, s);
    stack.push(v);
    for (const w of graph.get(v) ?? []) {
      if (!state.has(w)) {
        visit(w);
        s.low = Math.min(s.low, state.get(w).low);
      } else if (state.get(w).onStack) s.low = Math.min(s.low, state.get(w).index);
    }
    if (s.low === s.index) {
      const component = [];
      let w;
      do {
        w = stack.pop();
        state.get(w).onStack = false;
        component.push(w);
      } while (w !== v);
      out.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!state.has(v)) visit(v);
  return out;
}

function sources(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? (e.name === 'ui' && dir === src ? [] : sources(join(dir, e.name))) : /\.tsx?$/.test(e.name) && !e.name.endsWith('.d.ts') ? [join(dir, e.name)] : [],
  );
}

/** The subsystem of a src/ file: its first folder, or null for src/*.ts. */
const subsystem = (file) => {
  const parts = relative(src, file).split(sep);
  return parts.length > 1 ? parts[0] : null;
};

/** Every import of one subsystem's inner file from outside it, as "from -> to" (type imports too). */
export function deepImports() {
  const found = new Set();
  for (const file of sources(src)) {
    const text = readFileSync(file, 'utf8');
    for (const match of text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^;'"]*?from\s*['"](\.{1,2}\/[^'"]+)['"]|import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g)) {
      const target = resolve(dirname(file), match[1] ?? match[2]);
      const inner = relative(src, target).split(sep);
      if (inner[0] === '..' || inner.length < 2) continue; // outside src, or a top-level file
      const to = subsystem(join(src, inner.join(sep)));
      if (to === subsystem(file)) continue;
      if (inner.length === 2 && /^index(\.tsx?)?$/.test(inner[1])) continue;
      found.add(`${relative(root, file)} -> src/${inner.join('/').replace(/\.tsx?$/, '')}`);
    }
  }
  return [...found].sort();
}

export async function checkImports({ update = false } = {}) {
  const problems = [];
  for (const cycle of await runtimeCycles()) problems.push(`import cycle at runtime: ${cycle.join(' → ')}`);
  const deep = deepImports();
  if (update) {
    writeFileSync(listFile, `${JSON.stringify(deep, null, 2)}\n`);
    console.log(`check-imports: ${deep.length} deep imports written to ${relative(root, listFile)}`);
  } else {
    const listed = new Set(JSON.parse(readFileSync(listFile, 'utf8')));
    for (const d of deep) if (!listed.has(d)) problems.push(`deep import (use the subsystem's index.ts): ${d}`);
    for (const d of listed) if (!deep.includes(d)) problems.push(`gone, so take it off tools/deep-imports.json: ${d}`);
  }
  return problems;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const problems = await checkImports({ update: process.argv.includes('--update') });
  for (const p of problems) console.error(`check-imports: ${p}`);
  process.exit(problems.length ? 1 : 0);
}
