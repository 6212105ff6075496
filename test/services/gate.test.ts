// The gate a service's child starts as when it has a cgroup (process.ts): the
// service's program runs only once the supervisor has written a line on fd 4
// (after it put the child into its group), and never when the supervisor
// goes away first. Timing here only bounds the wait: the assertions are about
// what ran.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { GATE } from '../../src/services/process';

function gated(program: string[]) {
  const child = spawn(GATE[0]!, [...GATE.slice(1), ...program], { stdio: ['ignore', 'pipe', 'pipe', 'ignore', 'pipe'] });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
  const exited = once(child, 'exit') as Promise<[number | null, string | null]>;
  return { child, gate: child.stdio[4] as Writable, output: () => out, exited };
}

describe('the cgroup gate', () => {
  it("runs the service's argv only after its line, with fd 4 closed and the pid kept", async () => {
    const { child, gate, output, exited } = gated(['/bin/sh', '-c', 'echo "ran as $$"; ls /proc/self/fd', 'x']);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(output(), '', 'nothing ran before the line');
    assert.equal(child.exitCode, null);
    gate.end('\n');
    assert.deepEqual(await exited, [0, null]);
    assert.match(output(), new RegExp(`^ran as ${child.pid}\\n`), 'the program is the gate itself (exec), so the pid in the group is its pid');
    assert.ok(!output().split('\n').slice(1).includes('4'), `fd 4 is not left to the service: ${output()}`);
  });

  it('ends without running anything when the supervisor goes away before the line', async () => {
    const { gate, output, exited } = gated(['/bin/sh', '-c', 'echo ran']);
    gate.end();
    assert.deepEqual(await exited, [1, null]);
    assert.equal(output(), '');
  });
});
