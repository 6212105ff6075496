import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backupDue, CommandFileError, expandHash, parseCommandFile, rollingIndex, utcStamp } from '../../src/backup/commands';

const errorsOf = (text: string) => {
  try {
    parseCommandFile(text);
  } catch (err) {
    assert.ok(err instanceof CommandFileError);
    return err.errors.map((e) => `${e.line}: ${e.message}`);
  }
  assert.fail(`expected errors for:\n${text}`);
};

describe('command file parser', () => {
  it("reads each of the seed's example lines", () => {
    const file = parseCommandFile(
      [
        "times 0,12 # backup only at 0 or 12 o'clock",
        'backup-instances http://user:pw@ip/path/#I-#D.dump PUT',
        'backup-instance http://user:pw@ip/path/#I-#D.dump apidemo example.com PUT',
        'backup-manager http://user:pw@ip/path/#I-#D.dump',
      ].join('\n'),
    );
    assert.deepEqual(file.hours, [0, 12]);
    assert.deepEqual(file.backups, [
      { kind: 'backup-instances', url: 'http://user:pw@ip/path/#I-#D.dump', method: 'PUT', line: 2 },
      { kind: 'backup-instance', url: 'http://user:pw@ip/path/#I-#D.dump', name: 'apidemo', domain: 'example.com', method: 'PUT', line: 3 },
      { kind: 'backup-manager', url: 'http://user:pw@ip/path/#I-#D.dump', method: 'PUT', line: 4 },
    ]);
  });

  it('takes comments, blank lines, POST, CRLF, and no times (every hour)', () => {
    const file = parseCommandFile('# nightly to the NAS\r\n\r\n   backup-instances https://nas/b/#I_#b3.dump post   # rolling\r\n');
    assert.equal(file.hours, null);
    assert.deepEqual(file.backups, [{ kind: 'backup-instances', url: 'https://nas/b/#I_#b3.dump', method: 'POST', line: 3 }]);
    assert.deepEqual(parseCommandFile('').backups, []);
    assert.deepEqual(parseCommandFile('times 3, 4,5').hours, [3, 4, 5]);
  });

  const invalid: [string, RegExp][] = [
    ['backup-everything http://x/', /1: unknown command "backup-everything"/],
    ['times 24', /1: "24" is not an hour from 0 to 23/],
    ['times 1,x', /1: "x" is not an hour/],
    ['times', /1: "times" needs hours/],
    ['times 1,1', /1: hour 1 is listed twice/],
    ['times 1\ntimes 2', /2: "times" given twice \(first on line 1\)/],
    ['backup-instances http://x/#I.dump GET', /1: method "GET" is not PUT or POST/],
    ['backup-instances', /1: "backup-instances" takes a URL/],
    ['backup-instances http://x/ PUT extra', /1: "backup-instances" takes a URL/],
    ['backup-instance http://x/#I.dump apidemo', /1: "backup-instance" takes a URL, an instance name and domain/],
    ['backup-instance http://x/ Api Demo.com', /1: name: "Api" is not an instance name/],
    ['backup-manager ftp://x/#I.dump', /1: "ftp:" URLs are not supported/],
    ['backup-manager not-a-url', /1: "not-a-url" is not a URL/],
    ['backup-manager http://x/#Q.dump', /1: unknown hash parameter "#Q"/],
    ['backup-manager http://x/#b.dump', /1: unknown hash parameter "#b"/],
    ['backup-manager http://x/trailing#', /1: unknown hash parameter "#"/],
  ];
  for (const [text, pattern] of invalid) {
    it(`refuses ${JSON.stringify(text)}`, () => assert.match(errorsOf(text).join('\n'), pattern));
  }

  it('reports every error with its line number', () => {
    const errors = errorsOf('times 25\nbackup-manager http://ok/#I.dump\nfrobnicate\nbackup-instances http://x/ DELETE');
    assert.deepEqual(
      errors.map((e) => e.split(':')[0]),
      ['1', '3', '4'],
    );
  });
});

describe('hash parameters', () => {
  const values = { L: '10024', A: '130004', I: 'reporting1', D: 'innovaphone.com', m: '00ab11eeff', d: new Date('2005-10-10T17:01:30Z'), b: (n: number) => rollingIndex(7, n) };
  const table: [string, string][] = [
    ['http://x/#I-#D.dump', 'http://x/reporting1-innovaphone.com.dump'],
    ['http://x/#L/#A/#m', 'http://x/10024/130004/00ab11eeff'],
    ['http://x/#d.dump', 'http://x/20051010-170130.dump'],
    ['http://x/#b3-#b9-#b0', 'http://x/3-7-0'], // run 7: 7 % 4, 7 % 10, 7 % 1
    // ## is a hash mark in the file name, never the start of a fragment.
    ['http://x/a##b', 'http://x/a%23b'],
    ['http://x/###I', 'http://x/%23reporting1'],
    ['http://x/##I', 'http://x/%23I'],
    ['http://x/#I-#b0-##.dump', 'http://x/reporting1-0-%23.dump'],
  ];
  for (const [template, expanded] of table) {
    it(`expands ${template}`, () => assert.equal(expandHash(template, values), expanded));
  }

  it('percent-encodes every reserved character an expansion inserts, so the URL keeps its path', () => {
    const label = "1 #?/%&=+:@;,$[]!'()*é";
    const url = expandHash('http://u:p@x/dir/#L.dump?n=#L', { ...values, L: label });
    const parsed = new URL(url);
    assert.equal(parsed.hash, '');
    assert.equal(parsed.pathname, '/dir/1%20%23%3F%2F%25%26%3D%2B%3A%40%3B%2C%24%5B%5D%21%27%28%29%2A%C3%A9.dump');
    assert.equal(decodeURIComponent(parsed.pathname.slice('/dir/'.length)), `${label}.dump`);
    assert.equal(parsed.searchParams.get('n'), label);
  });

  it('rolls #bN over from N back to 0', () => {
    assert.deepEqual(
      [0, 1, 2, 3, 4, 5].map((run) => rollingIndex(run, 3)),
      [0, 1, 2, 3, 0, 1],
    );
  });

  it('writes #d in plain UTC', () => {
    assert.equal(utcStamp(new Date('2026-03-29T01:30:05+02:00')), '20260328-233005');
  });
});

describe('command file schedule', () => {
  it('is due in the listed hours of the time zone, once per hour', () => {
    const berlin = 'Europe/Berlin';
    // 23:30Z on the 27th is 00:30 on the 28th in Berlin.
    const first = backupDue(new Date('2026-11-27T23:30:00Z'), berlin, [0, 12], null);
    assert.deepEqual(first, { key: '2026-11-28T00', due: true });
    assert.equal(backupDue(new Date('2026-11-27T23:59:00Z'), berlin, [0, 12], first.key).due, false);
    assert.equal(backupDue(new Date('2026-11-28T00:30:00Z'), berlin, [0, 12], first.key).due, false); // 01:30, not listed
    assert.deepEqual(backupDue(new Date('2026-11-28T11:00:00Z'), berlin, [0, 12], first.key), { key: '2026-11-28T12', due: true });
    // Every hour without "times".
    assert.equal(backupDue(new Date('2026-11-28T05:10:00Z'), 'UTC', null, '2026-11-28T04').due, true);
  });

  it('does not repeat an hour when the clock goes back, but runs after a clock reset', () => {
    assert.equal(backupDue(new Date('2026-11-28T03:10:00Z'), 'UTC', null, '2026-11-28T04').due, false);
    assert.equal(backupDue(new Date('2026-11-28T04:50:00Z'), 'UTC', null, '2026-11-28T04').due, false);
    // A clock that was years ahead (a dead RTC, then NTP) does not stop backups for years.
    assert.equal(backupDue(new Date('2026-11-28T04:10:00Z'), 'UTC', null, '2031-01-01T00').due, true);
    // The DST fall-back hour (02:00 twice in Berlin) runs once.
    const once = backupDue(new Date('2026-10-25T00:30:00Z'), 'Europe/Berlin', [2], null);
    assert.deepEqual(once, { key: '2026-10-25T02', due: true });
    assert.equal(backupDue(new Date('2026-10-25T01:30:00Z'), 'Europe/Berlin', [2], once.key).due, false);
  });
});
