// dist/sdk.d.ts (tools/sdk-types.mjs): a service written in TypeScript against
// the SDK's two files alone, as README.md tells an app developer, type-checks
// strictly, and its mistakes are caught (the types are not `any`).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
// @ts-expect-error: a plain .mjs tool without types
import { sdkDeclarations } from '../../tools/sdk-types.mjs';

const REPO = join(import.meta.dirname, '../..');

const SERVICE = `
import { createService, instanceId, traces, type Connection, type Instance } from './sdk.js';
const service = createService({
  async http(req, res) {
    const instance = service.instances.get(req.instance ?? '');
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 2 });
    res.end(instance && traces(instance, 'App') ? instance.database.host : 'ok');
  },
  websocket: {
    open(conn: Connection) { conn.send(conn.identity?.sip ?? '' + conn.sessionKey); },
    message(conn, data) { if (!conn.send(typeof data === 'string' ? data : data.subarray(1))) conn.onDrain = () => conn.resume(); },
    close(conn, code, reason) { service.log('info', conn.id + ' ' + code + reason); },
  },
  instanceStart(instance: Instance) { service.log('debug', instanceId(instance) + instance.traceFlags.toFixed()); },
  async stop() {},
});
`;

const MISTAKES = `
import { createService, traces, type Instance } from './sdk.js';
declare const instance: Instance;
traces(instance, 'Apps');
createService({ websocket: { open(conn) { conn.identity.sip; } } }).log('loud', 'x');
`;

function typeCheck(dir: string, file: string): { status: number | null; output: string } {
  const require = createRequire(join(REPO, 'package.json'));
  const result = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '--strict', '--noEmit', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--types', 'node', '--typeRoots', join(REPO, 'node_modules/@types'), join(dir, file)], { encoding: 'utf8' });
  return { status: result.status, output: result.stdout + result.stderr };
}

it('declares the SDK in one file that a strict TypeScript service type-checks against, and that catches its mistakes', async () => {
  const declarations: string = sdkDeclarations(join(REPO, 'src/sdk/index.ts'));
  assert.doesNotMatch(declarations, /from '\.{1,2}\//, 'it imports nothing of the repository');
  const dir = await mkdtemp(join(tmpdir(), 'ap-sdk-types-'));
  try {
    await writeFile(join(dir, 'package.json'), '{"type": "module"}');
    await writeFile(join(dir, 'sdk.d.ts'), declarations);
    await writeFile(join(dir, 'service.ts'), SERVICE);
    await writeFile(join(dir, 'mistakes.ts'), MISTAKES);
    const good = typeCheck(dir, 'service.ts');
    assert.equal(good.status, 0, good.output);
    const bad = typeCheck(dir, 'mistakes.ts');
    assert.match(bad.output, /mistakes\.ts\(4,18\): error TS2345: Argument of type '"Apps"'/, bad.output);
    assert.match(bad.output, /mistakes\.ts\(5,43\): error TS18047: 'conn\.identity' is possibly 'null'/, bad.output);
    assert.match(bad.output, /mistakes\.ts\(5,73\): error TS2345: Argument of type '"loud"'/, bad.output);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
