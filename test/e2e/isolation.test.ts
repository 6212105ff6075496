// Services kept in bounds (issue 14): a stop by hand and a failure survive a
// restart, and a service flooding its output costs the supervisor little.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cpuMs, until } from '../harness/http';
import { buildFixture, ensureStopped, readyPorts } from '../harness/supervisor';
import { workspace } from '../harness/workspace';
import { ctl, inlineServiceIn, serve, stateOf, stop } from '../harness/services';

let dir: string;
let echo: string;
before(async () => {
  dir = await workspace('ap-iso-');
  echo = await buildFixture('echo', join(dir, 'packages'));
});
after(async () => {
  execFileSync('rm', ['-rf', dir]);
});

const inlineService = (name: string, code: string) => inlineServiceIn(join(dir, 'packages'), name, code);

describe('remembered stops', () => {
  it('keeps a service stopped by hand stopped, and a failed one failed, across a restart until started by hand', async () => {
    const root = join(dir, 'held');
    let run = serve(root);
    try {
      await readyPorts(run);
      assert.equal(ctl(root, 'service', 'install', echo).status, 0);
      assert.equal(ctl(root, 'service', 'install', await inlineService('quitter', "console.log('giving up'); process.exit(125)"), '--no-wait').status, 0);
      await until('echo running, quitter failed', async () => (stateOf(root, 'echo')?.state === 'running' && stateOf(root, 'quitter')?.state === 'failed' ? true : undefined));
      assert.equal(ctl(root, 'service', 'stop', 'echo').status, 0);
      await stop(run);

      run = serve(root);
      await readyPorts(run);
      await run.waitFor(/echo stays stopped \(stopped by hand\) until started by hand/);
      assert.equal(stateOf(root, 'echo')?.state, 'stopped');
      assert.equal(stateOf(root, 'quitter')?.state, 'failed');
      assert.match(stateOf(root, 'quitter')?.reason ?? '', /asked not to be restarted.*before the supervisor restarted/);
      assert.equal(ctl(root, 'service', 'start', 'echo').status, 0);
      await until('echo running again', async () => (stateOf(root, 'echo')?.state === 'running' ? true : undefined));
      await stop(run);

      run = serve(root);
      await readyPorts(run);
      await until('echo running after the next restart', async () => (stateOf(root, 'echo')?.state === 'running' ? true : undefined));
      assert.equal(stateOf(root, 'quitter')?.state, 'failed');
    } finally {
      await ensureStopped(run);
    }
  });
});

describe('output floods', () => {
  it('reads a flooding service at a bounded pace, costing the supervisor a bounded share of a core', async () => {
    const root = join(dir, 'flood');
    const run = serve(root, '--service-log-size', '1G'); // no rotation inside the window: its growth is what was read
    try {
      await readyPorts(run);
      // As fast as each pipe takes it, whether Node writes to it synchronously or not.
      const code = "const b = Buffer.alloc(65536, 120); b[65535] = 10; const flood = (s) => { while (s.write(b)); s.once('drain', () => flood(s)); }; flood(process.stdout); flood(process.stderr);";
      assert.equal(ctl(root, 'service', 'install', await inlineService('flood', code), '--no-wait').status, 0);
      const log = join(root, 'mnt/sda2/log/apps/flood/flood.log');
      await until('the flood to reach its log', async () => ((await stat(log).catch(() => null))?.size ? true : undefined));
      const pid = run.child.pid!;
      const size = async () => (await stat(log)).size;
      const size0 = await size();
      const cpu0 = await cpuMs(pid);
      const t0 = Date.now();
      await new Promise((resolve) => setTimeout(resolve, 4000)); // the measuring window, not a wait for an event
      const share = (await cpuMs(pid)) - cpu0;
      const wall = Date.now() - t0;
      const rate = ((await size()) - size0) / (wall / 1000);
      const percent = (share / wall) * 100;
      console.log(`# supervisor CPU while a service floods stdout+stderr: ${share.toFixed(0)} ms in ${wall} ms = ${percent.toFixed(1)} % of a core`);
      console.log(`# output read from it: ${(rate / 1024).toFixed(0)} KiB/s (budget 256 KiB/s)`);
      assert.ok(percent < 30, `the supervisor used ${percent.toFixed(1)} % of a core`);
      // Window edges let a little more than one budget through per second, never a flood's pace.
      assert.ok(rate < 2 * 256 * 1024, `read ${(rate / 1024).toFixed(0)} KiB/s`);
      await run.waitFor(/writes more than 256 KiB\/s to its log \(stdout, stderr, log messages\)/);
      assert.match(await readFile(log, 'utf8').catch(() => ''), /xxxx/);
    } finally {
      await ensureStopped(run);
    }
  });
});
