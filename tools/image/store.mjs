#!/usr/bin/env node
// Serves a folder as an image store (GET with Range) for trying updates by hand:
//   node tools/image/store.mjs <folder>     (folder/images/<board>/index.json, …/<label>/<files>)
// Publish a built image into it with tools/image/lib.ts publishImage, or by copying
// the files and writing images/<board>/index.json = {"latest": "<label>"}.
import { register } from 'node:module';
import { resolve } from 'node:path';

const folder = process.argv[2];
if (!folder) {
  console.error('usage: node tools/image/store.mjs <folder>');
  process.exit(2);
}
register('../ts-loader.mjs', import.meta.url);
const { startImageStore } = await import('./lib.ts');
const store = await startImageStore(resolve(folder));
console.log(`image store for ${resolve(folder)} at ${store.url} (set it: ap ctl setting set appStoreUrl ${store.url})`);
