// tier: integration (runs PostgreSQL's pg_restore)
// A job's signal reaches every pg_restore a restore or a verification runs:
// the supervisor stopping mid-restore kills it and the job ends CANCELLED,
// not after the whole dump (or never, when the input stalls).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pgRestore, pgRestoreList, pgRestoreScript } from '../../src/backup/pg';
import { findPgBin, findPgTools } from '../../src/db';
import { ApError } from '../../src/errors';
import { childrenNamed } from '../harness/proc';

/** A dump that sends its first bytes and then nothing, until the test ends. */
async function* stalled(): AsyncGenerator<Buffer> {
  yield Buffer.from('PGDMP');
  await new Promise(() => {});
}

/** pg_restore processes that are children of this test. */
const ourPgRestores = () => childrenNamed(process.pid, 'pg_restore').length;

const tools = () => findPgTools(findPgBin(process.env.AP_PG_BIN ?? null));
const cancelled = (err: unknown) => err instanceof ApError && err.code === 'CANCELLED';

describe('a cancelled job', () => {
  for (const [name, run] of [
    ['pg_restore --list', (signal: AbortSignal) => pgRestoreList(tools(), stalled(), signal)],
    ['pg_restore -f - (the statement check)', (signal: AbortSignal) => pgRestoreScript(tools(), stalled(), () => {}, signal)],
    ['pg_restore into a database', (signal: AbortSignal) => pgRestore(tools(), { host: '/nonexistent', port: 5432, user: 'postgres' }, ['-d', 'nothing'], stalled(), undefined, signal)],
  ] as const) {
    it(`kills ${name} waiting on a stalled dump, and ends CANCELLED`, { timeout: 20_000 }, async () => {
      const controller = new AbortController();
      const running = run(controller.signal);
      // It runs (waiting for the rest of the dump) until told.
      const early = await Promise.race([running.then(() => 'ended', () => 'ended'), new Promise((r) => setTimeout(() => r('waiting'), 300))]);
      assert.equal(early, 'waiting');
      assert.equal(ourPgRestores(), 1);
      controller.abort(new ApError('CANCELLED', 'the supervisor is stopping'));
      await assert.rejects(running, cancelled);
      assert.equal(ourPgRestores(), 0, 'no pg_restore is left');
    });
  }
});
