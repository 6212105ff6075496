// The command line's edges as a user meets them: no command, --help on every
// group, and errors as JSON with --json (the bundle, as users run it).
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CTL_USAGE } from '../../src/cli';
import { runApSync } from '../harness/supervisor';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ap-cli-'));
});
after(() => rm(dir, { recursive: true, force: true }));

/** The first word of every command CTL_USAGE lists: status, service, instance, … */
const groups = [...new Set(CTL_USAGE.split('\n').slice(3).filter((l) => /^ {2}\S/.test(l)).map((l) => l.trim().split(/\s/)[0]!))];

describe('ap ctl without a command', () => {
  it('prints the usage and exits 2', () => {
    const r = runApSync(['ctl']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /ap ctl needs a command/);
    assert.match(r.stderr, /usage: ap ctl <command>/);
    assert.match(r.stderr, /instance list/);
    assert.doesNotMatch(r.stderr, /unknown ctl command/);
  });
});

describe('--help', () => {
  it('ap --help, ap ctl --help, ap serve --help, ap version --help, ap node-flags --help and ap pg-settings --help print help and exit 0', () => {
    const cases: [string[], RegExp][] = [
      [['--help'], /^usage: ap <command>/],
      [['ctl', '--help'], /^usage: ap ctl <command>[^]*instance create/],
      [['serve', '--help'], /^usage: ap serve \[options\][^]*--http-port/],
      [['version', '--help'], /^usage: ap version/],
      [['node-flags', '--help'], /^usage: ap node-flags/],
      [['pg-settings', '--help'], /^usage: ap pg-settings/],
    ];
    for (const [argv, expected] of cases) {
      const r = runApSync(argv);
      assert.equal(r.status, 0, `${argv.join(' ')}: ${r.stderr}`);
      assert.match(r.stdout, expected, argv.join(' '));
    }
  });

  it("ap pg-settings prints a board's PostgreSQL settings as postgresql.conf lines, and refuses an unknown board", () => {
    const r = runApSync(['pg-settings', '--board', 'ipx10']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^# PostgreSQL settings of board ipx10/);
    assert.match(r.stdout, /^shared_buffers = 8MB$/m);
    assert.match(r.stdout, /^max_connections = 30$/m);
    const bad = runApSync(['pg-settings', '--board', 'ipx99']);
    assert.equal(bad.status, 2, bad.stderr);
    assert.match(bad.stderr, /unknown board "ipx99"/);
    assert.equal(bad.stdout, '');
  });

  it('every ctl group prints its own commands and no others', () => {
    assert.ok(groups.length >= 20, `groups: ${groups.join(' ')}`);
    for (const group of groups) {
      for (const argv of [['ctl', group, '--help']]) {
        const r = runApSync(argv);
        assert.equal(r.status, 0, `${argv.join(' ')}: ${r.stderr}`);
        assert.match(r.stdout, new RegExp(`^usage: ap ctl ${group} `), argv.join(' '));
        const commands = r.stdout.split('\n').filter((l) => /^ {2}\S/.test(l));
        assert.ok(commands.length > 0, `${group}: ${r.stdout}`);
        for (const line of commands) assert.equal(line.trim().split(/\s/)[0], group, `${group} lists ${line}`);
      }
    }
    const instance = runApSync(['ctl', 'instance', '--help']).stdout;
    for (const sub of ['list', 'show', 'create', 'edit', 'start|stop', 'delete', 'cleanup']) assert.match(instance, new RegExp(`  instance ${sub.replace('|', '\\|')}`));
    assert.doesNotMatch(instance, /backup instance|service list/);
    assert.equal(runApSync(['ctl', 'instance', '-h']).stdout, instance);
  });
});

describe('--json errors', () => {
  const parse = (stdout: string) => JSON.parse(stdout) as { error: { code: string; message: string } };

  it('status --json without a running supervisor: JSON on stdout, exit 1 as without --json', async () => {
    const root = join(dir, 'nothing');
    const plain = runApSync(['ctl', 'status', '--root', root]);
    const json = runApSync(['ctl', 'status', '--json', '--root', root]);
    assert.equal(plain.status, 1);
    assert.equal(json.status, 1);
    assert.equal(json.stderr, '');
    assert.deepEqual(parse(json.stdout), { error: { code: 'NOT_RUNNING', message: `no supervisor is running (nothing answers on ${join(root, 'var/run/ap.sock')})` } });
    await assert.rejects(readdir(root), { code: 'ENOENT' }, 'asking wrote nothing');
  });

  it('usage mistakes: JSON with code USAGE and exit 2', () => {
    const cases: [string[], RegExp][] = [
      [['ctl', '--json'], /^ap ctl needs a command$/],
      [['ctl', 'bogus', '--json'], /^unknown ctl command "bogus"$/],
      [['ctl', 'status', '--bogus', '--json'], /^unknown option --bogus/],
      [['ctl', 'instance', 'show', '--json', '--root', join(dir, 'nothing')], /needs an instance/],
    ];
    for (const [argv, message] of cases) {
      const without = runApSync(argv.filter((a) => a !== '--json'));
      const r = runApSync(argv);
      assert.equal(without.status, 2, argv.join(' '));
      assert.equal(r.status, 2, argv.join(' '));
      assert.equal(r.stderr, '', argv.join(' '));
      const { error } = parse(r.stdout);
      assert.equal(error.code, 'USAGE');
      assert.match(error.message, message);
    }
  });
});
