#!/usr/bin/env node
// Prints a board as the shell variables the rescue script reads (/etc/ap/board.env
// in the ramdisk and the rootfs):  node tools/image/board-env.mjs x86_64 > board.env
import { register } from 'node:module';

const name = process.argv[2];
if (!name) {
  console.error('usage: node tools/image/board-env.mjs <board>');
  process.exit(2);
}
register('../ts-loader.mjs', import.meta.url);
const { boardEnv, getBoard } = await import('../../src/config/index.ts');
process.stdout.write(boardEnv(getBoard(name)));
