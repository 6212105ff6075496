// The README's first steps, run as written (the block after its "walkthrough"
// marker): install docs/examples/hello from the checkout, create an instance, and
// get its HTTP and WebSocket answers. And the installs that must not pass: a
// package without its entry file or with a mistyped app.json, a service that
// never gets ready.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ctl, inlineServiceIn, list, serve, stop } from '../harness/services';
import { ensureStopped, readyPorts, REPO, type Run } from '../harness/supervisor';
import { workspace } from '../harness/workspace';

let dir: string;
let root: string;
let run: Run;
let app: number;

before(async () => {
  dir = await workspace('ap-walk-');
  root = join(dir, 'root');
  run = serve(root);
  ({ app } = await readyPorts(run));
});

after(async () => {
  if (run) await ensureStopped(run);
  await rm(dir, { recursive: true, force: true });
});

/** The README's walk-through: each command with the output lines (`# …`) that follow it. */
async function walkthrough(): Promise<{ command: string; output: string[] }[]> {
  const readme = await readFile(join(REPO, 'README.md'), 'utf8');
  const block = /<!-- walkthrough:[^\n]*-->\n```sh\n([^]*?)\n```/.exec(readme);
  assert.ok(block, 'the README marks its walk-through');
  const steps: { command: string; output: string[] }[] = [];
  for (const line of block[1]!.split('\n')) {
    if (line.startsWith('# ')) steps.at(-1)!.output.push(line.slice(2));
    else if (line.trim() !== '') steps.push({ command: line, output: [] });
  }
  return steps;
}

/** Runs a shell line from the checkout without blocking this process; resolves with its status and output. */
function shell(line: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('sh', ['-c', line], { cwd: REPO, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/' } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.once('close', (status) => resolve({ status, stdout, stderr }));
  });
}

describe("the README's first service", () => {
  it('installs docs/examples/hello from the checkout, creates an instance, and gets its HTTP and WebSocket answers', async (t) => {
    const steps = await walkthrough();
    assert.deepEqual(
      steps.map((s) => s.command.split(' ').slice(0, 4).join(' ')),
      ['node dist/ap.js ctl service', 'node dist/ap.js ctl instance', 'curl http://127.0.0.1:8080/example.com/hello1/', 'node --experimental-websocket -e "const'],
      'install, create an instance, HTTP, WebSocket',
    );
    const hasCurl = spawnSync('sh', ['-c', 'command -v curl']).status === 0;
    for (const { command, output } of steps) {
      // The README's supervisor is npm start's: ./var, port 8080. This one has its own.
      let line = command.replaceAll('--root ./var', `--root ${root}`).replaceAll('127.0.0.1:8080', `127.0.0.1:${app}`);
      if (line.startsWith('curl ') && !hasCurl) {
        t.diagnostic('no curl here: the same GET with fetch');
        line = `node -e "fetch('${line.split(' ')[1]}').then(async (r) => { process.stdout.write(await r.text()); process.exit(r.ok ? 0 : 1); })"`;
      }
      const result = await shell(line);
      assert.equal(result.status, 0, `${command}\n${result.stdout}${result.stderr}`);
      // The README shows the first lines of what a command prints (or none).
      assert.deepEqual(result.stdout.trimEnd().split('\n').slice(0, output.length), output, command);
    }
    assert.equal(list(root).find((s) => s.name === 'hello')?.state, 'running');
  });
});

describe('installs that fail', () => {
  it('refuses a package whose entry file is missing (the TypeScript fixture as it is): ENTRY_MISSING, nothing installed', async () => {
    const before = await readdir(join(root, 'mnt/sda2/apps'));
    const result = ctl(root, 'service', 'install', join(REPO, 'test/fixtures/echo'));
    assert.equal(result.status, 1, result.stdout);
    const { error } = JSON.parse(result.stdout) as { error: { code: string; message: string } };
    assert.equal(error.code, 'ENTRY_MISSING');
    assert.match(error.message, /runs service\.js, which is not in .*test\/fixtures\/echo: nothing was installed/);
    assert.deepEqual(await readdir(join(root, 'mnt/sda2/apps')), before);
    assert.equal(list(root).find((s) => s.name === 'echo'), undefined);
  });

  it('refuses a package whose app.json has a field of the wrong type: MANIFEST_INVALID naming the file and the field, nothing installed', async () => {
    const folder = await inlineServiceIn(join(dir, 'packages'), 'mistyped', 'setInterval(() => {}, 1000)');
    await writeFile(join(folder, 'app.json'), JSON.stringify({ name: 'mistyped', version: '0.0.1', entry: ['node', '-e', '0'], pbxLogin: 'yes' }));
    const before = await readdir(join(root, 'mnt/sda2/apps'));
    const result = ctl(root, 'service', 'install', folder);
    assert.equal(result.status, 1, result.stdout);
    const { error } = JSON.parse(result.stdout) as { error: { code: string; message: string } };
    assert.equal(error.code, 'MANIFEST_INVALID');
    assert.equal(error.message, `${join(folder, 'app.json')}: "pbxLogin" must be true or false`);
    assert.deepEqual(await readdir(join(root, 'mnt/sda2/apps')), before);
    assert.equal(list(root).find((s) => s.name === 'mistyped'), undefined);
  });

  it('reports a service that exits before it is ready as failed, with the end of its log, and leaves it stopped', async () => {
    const folder = await inlineServiceIn(join(dir, 'packages'), 'broken', "console.log('broken: cannot open my config'); process.exit(3)");
    const result = ctl(root, 'service', 'install', folder);
    assert.equal(result.status, 1, result.stdout);
    const { error } = JSON.parse(result.stdout) as { error: { code: string; message: string } };
    assert.equal(error.code, 'SERVICE_NOT_READY');
    assert.match(error.message, /^broken 0\.0\.1 was installed but never got ready \(it exited before it reported ready\)/);
    assert.match(error.message, /The end of its log:\n(.*\n)*\S+Z broken: cannot open my config\n/);
    assert.equal(list(root).find((s) => s.name === 'broken')?.state, 'stopped');
    // Without waiting, the same install only starts it.
    assert.equal(ctl(root, 'service', 'install', folder, '--no-wait').status, 0);
  });

  it('the supervisor stops cleanly afterwards', async () => {
    await stop(run);
  });
});
