#!/usr/bin/env node
// npm run build: type-check (tsc --noEmit), then bundle src/ap.ts with esbuild
// into one file, dist/ap.js, and copy beside it the native addons it loads:
// uWebSockets.js for this platform and Node ABI, and sd-notify when it was built.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { checkImports } from './check-imports.mjs';
import { sdkDeclarations } from './sdk-types.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const require = createRequire(join(root, 'package.json'));
const args = new Set(process.argv.slice(2));

if (!args.has('--no-check')) {
  // The supervisor (Node) and the Manager UI (browser, Preact) each with their own settings.
  for (const project of [root, join(root, 'src/ui')]) {
    const tsc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', project, '--noEmit'], { stdio: 'inherit' });
    if (tsc.status !== 0) {
      console.error('build: type errors, no bundle written');
      process.exit(1);
    }
  }
  // One-way dependencies: no runtime import cycle, subsystems used through their index.ts.
  const problems = await checkImports();
  if (problems.length) {
    for (const p of problems) console.error(`build: ${p}`);
    console.error('build: import rules broken (tools/check-imports.mjs), no bundle written');
    process.exit(1);
  }
}

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const label = process.env.AP_BUILD_LABEL || defaultLabel();

rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });
// What both bundles share: one ESM file each for Node 20.
const common = { bundle: true, platform: 'node', format: 'esm', target: 'node20', legalComments: 'none', logLevel: 'warning' };
await build({
  ...common,
  entryPoints: [join(root, 'src/ap.ts')],
  outfile: join(dist, 'ap.js'),
  minifySyntax: true,
  define: { __AP_BUILD_LABEL__: JSON.stringify(label) },
  // Native addons are loaded from beside the bundle (src/native), never bundled.
  external: ['uWebSockets.js', 'sd-notify', 'libsodium-wrappers', 'libsodium-wrappers-sumo', 'nodemailer'],
  banner: {
    js: [
      '#!/usr/bin/env node',
      `// ap ${pkg.version} (build ${label}): App Platform supervisor, bundled by tools/build.mjs`,
      "import { createRequire as __apCreateRequire } from 'node:module';",
      'const require = __apCreateRequire(import.meta.url);',
    ].join('\n'),
  },
});
// esbuild escapes non-ASCII in strings but keeps the comments it preserves as
// they are; one "→" in a comment makes V8 hold the whole source (kept for lazy
// compilation) as a two-byte string: +1 MB of heap (docs/benchmarks.md, issue 18).
const bundle = readFileSync(join(dist, 'ap.js'), 'utf8');
// \uXXXX per UTF-16 unit reads the same in a comment, a string or a regular expression.
const escapeUnits = (c) => Array.from({ length: c.length }, (_, i) => `\\u${c.charCodeAt(i).toString(16).padStart(4, '0')}`).join('');
writeFileSync(join(dist, 'ap.js'), bundle.replace(/[^\x00-\x7f]/gu, escapeUnits));
chmodSync(join(dist, 'ap.js'), 0o755);
// libsodium's two flavours as files of their own beside the bundle (src/native/sodium.ts loads them on demand).
for (const [pkgName, file] of [['libsodium-wrappers', 'sodium.js'], ['libsodium-wrappers-sumo', 'sodium-sumo.js']]) {
  await build({ ...common, stdin: { contents: `export { default } from '${pkgName}';`, resolveDir: root, loader: 'js' }, outfile: join(dist, file), minifySyntax: true });
}
// nodemailer too (src/mail loads it at the first mail); its CommonJS requires Node's modules, hence a require.
await build({
  ...common,
  stdin: { contents: "export { default } from 'nodemailer';", resolveDir: root, loader: 'js' },
  outfile: join(dist, 'nodemailer.js'),
  minifySyntax: true,
  banner: { js: "import { createRequire as __apCreateRequire } from 'node:module';\nconst require = __apCreateRequire(import.meta.url);" },
});
// The list of common and breached passwords, read only while a new password is checked (src/auth/rules.ts).
copyFileSync(join(root, 'src/auth/common-passwords.txt'), join(dist, 'common-passwords.txt'));
// The app-service SDK as a file of its own, for services written in TypeScript or JavaScript.
await build({
  ...common,
  entryPoints: [join(root, 'src/sdk/index.ts')],
  outfile: join(dist, 'sdk.js'),
  banner: { js: `// App Platform service SDK ${pkg.version} (build ${label})` },
});
writeFileSync(join(dist, 'sdk.d.ts'), `// App Platform service SDK ${pkg.version} (build ${label}): its types\n${sdkDeclarations(join(root, 'src/sdk/index.ts'))}`);

// The Manager UI: one script and one style sheet for the browser, served from dist/manager/
// beside the bundle (no CDN, no external font: the box may be offline).
await build({
  entryPoints: [join(root, 'src/ui/main.tsx')],
  outdir: join(dist, 'manager'),
  entryNames: 'app',
  bundle: true,
  platform: 'browser',
  format: 'esm',
  target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
  minify: true,
  legalComments: 'none',
  logLevel: 'warning',
  jsx: 'automatic',
  jsxImportSource: 'preact',
  loader: { '.css': 'css' },
  define: { __AP_VERSION__: JSON.stringify(pkg.version) },
});
copyFileSync(join(root, 'src/ui/index.html'), join(dist, 'manager/index.html'));
// Compressed here once (level 9) rather than by every start of a box: the supervisor
// serves name.gz to a client that takes gzip and never loads zlib for it (src/manager/ui.ts).
for (const name of ['index.html', 'app.js', 'app.css']) {
  writeFileSync(join(dist, 'manager', `${name}.gz`), gzipSync(readFileSync(join(dist, 'manager', name)), { level: 9 }));
}

const abi = process.versions.modules;
const uwsName = `uws_${process.platform}_${process.arch}_${abi}.node`;
const uwsDir = dirname(require.resolve('uWebSockets.js/package.json'));
copyFileSync(join(uwsDir, 'binaries', uwsName), join(dist, uwsName));
const notify = (() => {
  try {
    return join(dirname(require.resolve('sd-notify/package.json')), 'build/Release/notify.node');
  } catch {
    return null;
  }
})();
if (notify && existsSync(notify)) copyFileSync(notify, join(dist, 'notify.node'));
else console.warn('build: sd-notify is not built (libsystemd-dev missing?); dist/ has no notify.node');

console.log(`build: dist/ap.js and dist/sdk.js (with sdk.d.ts) ${pkg.version} (build ${label}) with ${uwsName}${notify && existsSync(notify) ? ' and notify.node' : ''}`);

function defaultLabel() {
  const date = new Date().toISOString().slice(0, 10).replaceAll('-', '');
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    const dirty = execFileSync('git', ['status', '--porcelain'], { cwd: root, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim() ? '-dirty' : '';
    return `${date}-${commit}${dirty}`;
  } catch {
    return `${date}-nogit`;
  }
}
