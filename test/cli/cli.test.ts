import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseArgs } from '../../src/cli';
import { UsageError } from '../../src/errors';

describe('parseArgs', () => {
  it('splits command, value flags, switches and positionals', () => {
    const inv = parseArgs(['ctl', 'status', '--json', '--root', '/tmp/r', '--timeout=3']);
    assert.equal(inv.command, 'ctl');
    assert.deepEqual(inv.positionals, ['status']);
    assert.deepEqual(inv.flags, { root: '/tmp/r', timeout: '3' });
    assert.ok(inv.switches.has('json'));
  });

  it('knows every serve option', () => {
    const inv = parseArgs(['serve', '--board', 'dev', '--http-port=8080', '--https-port', '8443', '--reserve-size', '1M']);
    assert.deepEqual(inv.flags, { board: 'dev', 'http-port': '8080', 'https-port': '8443', 'reserve-size': '1M' });
  });

  it('treats no arguments and --help as help, --version as version', () => {
    assert.equal(parseArgs([]).command, 'help');
    assert.equal(parseArgs(['--help']).command, 'help');
    assert.equal(parseArgs(['--version']).command, 'version');
  });

  const bad: [string[], RegExp][] = [
    [['launch'], /unknown command "launch"/],
    [['serve', '--json'], /unknown option --json for "ap serve"/],
    [['serve', '--http-port'], /--http-port needs a value/],
    [['serve', '--root', 'a', '--root', 'b'], /given twice/],
    [['serve', 'extra'], /unexpected argument "extra"/],
    [['serve', '-x'], /unknown option -x/],
    [['ctl', 'status', '--json=yes'], /takes no value/],
    [['version', '--board', 'dev'], /unknown option --board/],
  ];
  for (const [argv, message] of bad) {
    it(`rejects ${argv.join(' ')}`, () => {
      assert.throws(() => parseArgs(argv), (err: unknown) => err instanceof UsageError && message.test(err.message));
    });
  }
});
