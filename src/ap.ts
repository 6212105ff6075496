// The bundle's entry point: `node dist/ap.js <command>`.
import { main } from './main';

process.exitCode = await main(process.argv.slice(2), process.env, process.cwd());
