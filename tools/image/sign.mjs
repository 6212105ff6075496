#!/usr/bin/env node
// Signs an image folder's manifest:
//   node tools/image/sign.mjs <image-folder> <name>.key   → <image-folder>/manifest.sig
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { register } from 'node:module';

const [folder, keyFile] = process.argv.slice(2);
if (!folder || !keyFile) {
  console.error('usage: node tools/image/sign.mjs <image-folder> <key-file>');
  process.exit(2);
}
register('../ts-loader.mjs', import.meta.url);
const { sign } = await import('../../src/image/sign.ts');
const { parseManifest } = await import('../../src/image/manifest.ts');
const manifest = readFileSync(join(folder, 'manifest.json'));
parseManifest(manifest); // refuse to sign what no box would accept
writeFileSync(join(folder, 'manifest.sig'), `${await sign(manifest, readFileSync(keyFile, 'utf8'))}\n`);
console.log(`signed ${join(folder, 'manifest.json')}`);
