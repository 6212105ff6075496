#!/usr/bin/env node
// Publishes the supervisor (a bundle folder, default dist/) into an App Store
// folder as build N of the package "manager", signed, with its apps.json entry:
//   node tools/image/manager-package.mjs --store DIR --build N --key K.key [--arch x86_64] [--dist dist]
// A box updates to it with `ap ctl manager update` (docs/update.md). Serve the
// store with: node tools/image/store.mjs DIR
import { readFileSync } from 'node:fs';
import { register } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const repo = join(dirname(fileURLToPath(import.meta.url)), '../..');
const { values } = parseArgs({ options: { store: { type: 'string' }, build: { type: 'string' }, key: { type: 'string' }, arch: { type: 'string', default: 'x86_64' }, dist: { type: 'string', default: join(repo, 'dist') } } });
if (!values.store || !values.build || !values.key) {
  console.error('usage: node tools/image/manager-package.mjs --store DIR --build N --key K.key [--arch x86_64|arm64|arm] [--dist dist]');
  process.exit(2);
}
register('../ts-loader.mjs', import.meta.url);
const { publishManager } = await import('../store/manager.ts');
const out = await publishManager(values.store, values.dist, { build: values.build, arch: values.arch, key: readFileSync(values.key, 'utf8').trim() });
console.log(`published ${out}`);
