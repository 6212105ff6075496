// What dist/ap.js holds from its start to its end: V8 keeps a script's whole
// source for lazy compilation, as one byte per character only if every one is
// ASCII, so the build escapes the rest and leaves what runs rarely (nodemailer)
// in files of its own beside it (issue 18: the idle supervisor's heap).
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { BUNDLE } from '../harness/supervisor';

describe('the bundle', () => {
  it('is ASCII throughout, and nodemailer lies beside it, not in it', async () => {
    const text = await readFile(BUNDLE, 'latin1');
    const at = text.search(/[^\x00-\x7f]/);
    assert.equal(at, -1, `a non-ASCII byte at ${at}: ${JSON.stringify(text.slice(at - 40, at + 10))}`);
    assert.ok(!text.includes('// node_modules/nodemailer/'), 'nodemailer is bundled into ap.js');
    const beside = await import(join(dirname(BUNDLE), 'nodemailer.js'));
    assert.equal(typeof beside.default.createTransport, 'function');
  });

  it('loads the built-ins only a rare task needs when that task comes, not at every start', async () => {
    const text = await readFile(BUNDLE, 'utf8');
    // Each costs the idle supervisor memory (docs/benchmarks.md, issue 18): backups to a URL,
    // the password worker, a compressed app file, `ap ctl debug gc`.
    for (const name of ['http', 'https', 'zlib', 'worker_threads', 'v8']) {
      assert.doesNotMatch(text, new RegExp(`^import [^;]*from "(node:)?${name}";`, 'm'), `ap.js imports ${name} at its start`);
      assert.match(text, new RegExp(`import\\("node:${name}"\\)`), `ap.js no longer loads ${name} on demand (has this test gone stale?)`);
    }
  });

  it('holds the Manager UI compressed beside each file, as the supervisor serves it without zlib', async () => {
    for (const name of ['index.html', 'app.js', 'app.css']) {
      const file = join(dirname(BUNDLE), 'manager', name);
      assert.deepEqual(gunzipSync(await readFile(`${file}.gz`)), await readFile(file), `${name}.gz is not ${name}`);
    }
  });
});
