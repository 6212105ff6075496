import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { instanceCalls } from '../../src/ctl/instances';
import { UsageError } from '../../src/errors';

const stdin = async () => 'from-stdin';
const calls = (sub: string, id: string | undefined, flags: Record<string, string> = {}, switches: string[] = []) => instanceCalls(sub, id, flags, new Set(switches), stdin);

describe('ap ctl instance → API calls', () => {
  it('maps create flags onto the body', async () => {
    assert.deepEqual(
      await calls('create', 'app@example.com', { service: 'echo', password: '-', 'trace-flags': 'App, Database', 'max-body-size': '1M', 'external-host': '[fd00::1]:5433', 'external-db': 'x', 'external-user': 'u', 'external-password': 'p' }, ['stopped', 'adopt-database']),
      [{
        method: 'POST',
        path: '/instances',
        query: { adoptDatabase: 'true' },
        body: { service: 'echo', name: 'app', domain: 'example.com', password: 'from-stdin', traceFlags: ['App', 'Database'], maxBodyBytes: 1024 * 1024, external: { host: '[fd00::1]:5433', name: 'x', user: 'u', password: 'p' }, wanted: 'stopped' },
      }],
    );
  });

  it('maps edits, regenerations and clearing the external database', async () => {
    assert.deepEqual(await calls('edit', 'a@b.c', { 'trace-flags': '0x8001', 'external-host': 'none' }), [{ method: 'PATCH', path: '/instances/a%40b.c', body: { traceFlags: 0x8001, external: null } }]);
    assert.deepEqual(await calls('edit', 'a@b.c', {}, ['new-password', 'new-db-password']), [
      { method: 'POST', path: '/instances/a%40b.c/password', body: {} },
      { method: 'POST', path: '/instances/a%40b.c/db-password', body: {} },
      { method: 'GET', path: '/instances/a%40b.c' },
    ]);
    assert.deepEqual(await calls('delete', 'a@b.c', {}, ['drop-database']), [{ method: 'DELETE', path: '/instances/a%40b.c', query: { dropDatabase: 'true' } }]);
  });

  it('refuses misuse before asking the supervisor', async () => {
    for (const [sub, id, flags, switches, pattern] of [
      ['create', 'app@example.com', {}, [], /needs --service/],
      ['create', 'no-domain', { service: 'echo' }, [], /not name@domain/],
      ['edit', 'a@b.c', { password: 'x' }, ['new-password'], /not both/],
      ['edit', 'a@b.c', { 'external-host': 'db' }, [], /needs --external-db, --external-user, --external-password too/],
      ['edit', 'a@b.c', { 'external-host': 'none', 'external-db': 'x' }, [], /clears the external database/],
      ['edit', 'a@b.c', { service: 'echo' }, [], /--service does not go with "ap ctl instance edit"/],
      ['show', undefined, {}, [], /needs an instance/],
      ['frobnicate', 'a@b.c', {}, [], /needs one of/],
      ['edit', 'a@b.c', { 'exclude-from-backup': 'yes' }, [], /true or false/],
    ] as [string, string | undefined, Record<string, string>, string[], RegExp][]) {
      await assert.rejects(calls(sub, id, flags, switches), (err: unknown) => err instanceof UsageError && pattern.test(err.message), `${sub} ${JSON.stringify(flags)}`);
    }
  });
});
