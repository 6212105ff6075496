// Every alarm says what to do and where: the advice table (src/alarms/advice.ts)
// covers every code the sources raise — read from their raise() calls, so a
// new code raised without advice fails here — and an alarm as the API and
// the event socket show it carries the advice, while its state file does not.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import ts from 'typescript';
import { ADVICE, adviceFor, Alarms, type AlarmEvent } from '../../src/alarms';
import { workspace } from '../harness/workspace';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '../..');
const SRC = join(REPO, 'src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sourceFiles(join(dir, e.name)) : /\.tsx?$/.test(e.name) ? [join(dir, e.name)] : []));
}

/** The codes of every `….raise(source, code, severity, text)` call in src/: string literals in the code argument, and constants it names. */
function raisedCodes(): Map<string, string> {
  const codes = new Map<string, string>();
  for (const file of sourceFiles(SRC)) {
    const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
    const constants = new Map<string, string>();
    const calls: ts.Expression[] = [];
    const visit = (node: ts.Node): void => {
      if (ts.isVariableDeclaration(node) && ts.isIdentifier(node.name) && node.initializer && ts.isStringLiteral(node.initializer)) constants.set(node.name.text, node.initializer.text);
      if (ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression) && node.expression.name.text === 'raise' && node.arguments.length === 4) calls.push(node.arguments[1]!);
      ts.forEachChild(node, visit);
    };
    visit(source);
    for (const argument of calls) {
      const where = `${file.slice(REPO.length + 1)}:${source.getLineAndCharacterOfPosition(argument.getStart()).line + 1}`;
      const found: string[] = [];
      const collect = (node: ts.Node): void => {
        if (ts.isStringLiteral(node) && /^[A-Z][A-Z_]+$/.test(node.text)) found.push(node.text);
        else if (ts.isIdentifier(node) && constants.has(node.text)) found.push(constants.get(node.text)!);
        ts.forEachChild(node, collect);
      };
      collect(argument);
      assert.ok(found.length > 0, `${where}: cannot tell which code this raise() raises (${argument.getText()}): use a literal or a constant of this file`);
      for (const code of found) codes.set(code, where);
    }
  }
  return codes;
}

let dir: string;
before(async () => {
  dir = await workspace('ap-advice-');
});
after(() => rm(dir, { recursive: true, force: true }));

describe('what to do about an alarm', () => {
  it('is known for every code the sources raise', () => {
    const codes = raisedCodes();
    // The reader itself must see the well-known ones, or it reads nothing.
    for (const code of ['DISK_FULL', 'DISK_WARNING', 'CRASH_LOOP', 'BACKUP_FAILED', 'UPDATE_FAILED', 'CERT_EXPIRING', 'REPLICATION_BROKEN', 'REPLICATION_WAL_RETAINED']) assert.ok(codes.has(code), `${code} is raised somewhere`);
    const without = [...codes].filter(([code]) => !(code in ADVICE)).map(([code, where]) => `${code} (${where})`);
    assert.deepEqual(without, [], 'codes raised without advice in src/alarms/advice.ts');
    const unused = Object.keys(ADVICE).filter((code) => !codes.has(code));
    assert.deepEqual(unused, [], 'advice for codes nothing raises');
  });

  it('links to the page where one acts: the service, the instance, System, Settings, Replication', () => {
    const link = (source: string, code: string) => adviceFor({ source, code })?.link.href;
    assert.equal(link('service:echo', 'CRASH_LOOP'), '#/service/echo');
    assert.equal(link('service:echo', 'SERVICE_OUT_OF_MEMORY'), '#/service/echo');
    assert.equal(link('backup:app@example.com', 'BACKUP_FAILED'), '#/instance/app%40example.com');
    assert.equal(link('backup:manager', 'BACKUP_FAILED'), '#/settings/backups');
    assert.equal(link('disk', 'DISK_FULL'), '#/system');
    assert.equal(link('update', 'UPDATE_FAILED'), '#/rescue-log');
    assert.equal(link('tls', 'CERT_EXPIRING'), '#/settings/security');
    assert.equal(link('replication:standby.example.com', 'REPLICATION_BROKEN'), '#/replication');
    assert.match(adviceFor({ source: 'replication:standby.example.com', code: 'REPLICATION_BROKEN' })!.todo, /standby\.example\.com/);
    assert.equal(adviceFor({ source: 'x', code: 'NOT_A_CODE' }), null);
  });

  it('comes with the alarm as it is shown and heard, and is not stored', async () => {
    const file = join(dir, 'alarms.json');
    const alarms = Alarms.persisted(file, assert.fail);
    const heard: AlarmEvent[] = [];
    alarms.onEvent((e) => heard.push(e));
    alarms.raise('service:echo', 'CRASH_LOOP', 'major', 'app service echo kept dying');
    alarms.raise('other', 'UNKNOWN_CODE', 'warning', 'no advice for this one');
    const [crash, unknown] = alarms.active();
    assert.deepEqual(crash!.link, { href: '#/service/echo', label: 'Service echo' });
    assert.match(crash!.todo!, /crash/);
    assert.equal(heard[0]!.alarm.link?.href, '#/service/echo');
    // An unknown code is shown as before: the fields are optional.
    assert.deepEqual([unknown!.todo, unknown!.link], [undefined, undefined]);
    alarms.clear('service:echo', 'CRASH_LOOP');
    assert.equal(alarms.history()[0]!.link?.href, '#/service/echo');
    await alarms.flush();
    const stored = await readFile(file, 'utf8');
    assert.ok(stored.includes('CRASH_LOOP') && !stored.includes('todo') && !stored.includes('#/service'), stored);
  });
});
