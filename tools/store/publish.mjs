#!/usr/bin/env node
// Publishes an app-service folder into an App Store folder, signed:
//   node tools/store/publish.mjs <service-folder> <store-folder> --build N [--arch x86_64|arm64|arm|any] --key <name>.key
// Serve the store with: node tools/image/store.mjs <store-folder>
import { readFileSync } from 'node:fs';
import { register } from 'node:module';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { build: { type: 'string' }, arch: { type: 'string', default: 'x86_64' }, key: { type: 'string' }, title: { type: 'string' } } });
const [dir, storeRoot] = positionals;
if (!dir || !storeRoot || !values.build || !values.key) {
  console.error('usage: node tools/store/publish.mjs <service-folder> <store-folder> --build N [--arch x86_64|arm64|arm|any] --key <name>.key [--title T]');
  process.exit(2);
}
register('../ts-loader.mjs', import.meta.url);
const { publishApp } = await import('./lib.ts');
const out = await publishApp(storeRoot, dir, { build: values.build, arch: values.arch, key: readFileSync(values.key, 'utf8').trim(), title: values.title });
console.log(`published ${out}`);
