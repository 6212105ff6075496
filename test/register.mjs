// `node --import ./test/register.mjs` runs the TypeScript sources directly.
import { register } from 'node:module';

register('../tools/ts-loader.mjs', import.meta.url);
