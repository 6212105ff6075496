// The bundle's entry point: `node dist/ap.js <command>`. The same file also
// runs as the Manager's password-hashing worker thread.
import { runPasswordWorker } from './auth';
import { main } from './main';

if (!(await runPasswordWorker())) {
  const code = await main(process.argv.slice(2), process.env, process.cwd());
  process.exitCode = code;
  // Everything is closed by now; should a stray handle keep the loop alive, do not hang.
  setTimeout(() => process.exit(code), 2000).unref();
}
