// What dist/ap.js holds from its start to its end: V8 keeps a script's whole
// source for lazy compilation, as one byte per character only if every one is
// ASCII, so the build escapes the rest and leaves what runs rarely (nodemailer)
// in files of its own beside it (issue 18: the idle supervisor's heap).
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
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
});
