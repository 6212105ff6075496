#!/usr/bin/env node
// Makes an ed25519 key pair for signing OS images:
//   node tools/image/keygen.mjs <name>      → <name>.key (secret, mode 0600) and <name>.pub
// Put <name>.pub into overlay/etc/ap/keys/ so boxes trust images signed with <name>.key.
import { existsSync, writeFileSync } from 'node:fs';
import { register } from 'node:module';

const name = process.argv[2];
if (!name) {
  console.error('usage: node tools/image/keygen.mjs <name>');
  process.exit(2);
}
if (existsSync(`${name}.key`)) {
  console.error(`${name}.key exists; not overwriting a secret key`);
  process.exit(1);
}
register('../ts-loader.mjs', import.meta.url);
const { generateKeyPair } = await import('../../src/image/sign.ts');
const pair = await generateKeyPair();
writeFileSync(`${name}.key`, `${pair.secretKey}\n`, { mode: 0o600 });
writeFileSync(`${name}.pub`, `${pair.publicKey}\n`);
console.log(`wrote ${name}.key (keep it secret) and ${name}.pub`);
