// Reading a service's output within a byte budget per second.
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { LineStamper, MAX_LINE, OutputReader } from '../../src/services/output';

describe('service output', () => {
  it('pauses both pipes past the budget and resumes them in the next second', async () => {
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let read = 0;
    let told = 0;
    const reader = new OutputReader((chunk) => (read += chunk.length), () => told++, 1000);
    reader.attach(stdout);
    reader.attach(stderr);
    const started = Date.now();
    // A writer that writes as fast as the pipe lets it, for 1.5 s.
    for (let i = 0; i < 300; i++) {
      if (!stdout.write(Buffer.alloc(100))) await new Promise((r) => stdout.once('drain', r));
      stderr.write(Buffer.alloc(10));
      if (Date.now() - started > 1500) break;
    }
    const seconds = (Date.now() - started) / 1000;
    assert.ok(stdout.isPaused() || read <= 1000 * Math.ceil(seconds + 1), `read ${read} bytes in ${seconds} s`);
    assert.ok(read <= 1000 * (Math.ceil(seconds) + 1) + 110, `read ${read} bytes in ${seconds.toFixed(2)} s with a budget of 1000/s`);
    assert.equal(told, 1, 'the first throttle is told once');
    assert.ok(reader.throttledSeconds >= 1);
    const before = read;
    await new Promise((resolve) => stdout.once('data', resolve)); // the next second's budget
    assert.ok(read > before && Date.now() - started >= 900, 'resumed about a second later');
    reader.close();
  });
});

describe('service output after the service is gone', () => {
  it('reads what is left to the end, so a paused pipe closes', async () => {
    const stdout = new PassThrough();
    let read = 0;
    const reader = new OutputReader((chunk) => (read += chunk.length), () => {}, 100);
    reader.attach(stdout);
    stdout.write(Buffer.alloc(200));
    stdout.write(Buffer.alloc(200));
    assert.equal(stdout.isPaused(), true);
    reader.close();
    stdout.end();
    await new Promise((resolve) => stdout.once('end', resolve));
    assert.equal(read, 400);
  });
});

describe('service log lines', () => {
  const at = new Date('2026-11-30T12:00:00.000Z');
  const stamped = () => {
    const lines: string[] = [];
    return { lines, stamper: new LineStamper((line) => lines.push(line), () => at) };
  };

  it('stamps each complete line with its time; a line cut across chunks waits for its end, per stream', () => {
    const { lines, stamper } = stamped();
    stamper.take(Buffer.from('one\ntw'), 0);
    stamper.take(Buffer.from('err part'), 1);
    stamper.take(Buffer.from('o\r\nthree\n'), 0);
    stamper.take(Buffer.from(' done\n'), 1);
    assert.deepEqual(lines, [
      '2026-11-30T12:00:00.000Z one\n',
      '2026-11-30T12:00:00.000Z two\n',
      '2026-11-30T12:00:00.000Z three\n',
      '2026-11-30T12:00:00.000Z err part done\n',
    ]);
  });

  it('writes a line without an end in pieces of at most MAX_LINE, and what is left when the streams end', () => {
    const { lines, stamper } = stamped();
    stamper.take(Buffer.alloc(MAX_LINE * 2 + 5, 0x61), 0);
    assert.equal(lines.length, 2);
    assert.equal(lines[0], `2026-11-30T12:00:00.000Z ${'a'.repeat(MAX_LINE)}\n`);
    stamper.take(Buffer.from('tail'), 1);
    stamper.flush();
    assert.deepEqual(lines.slice(2), ['2026-11-30T12:00:00.000Z aaaaa\n', '2026-11-30T12:00:00.000Z tail\n']);
    stamper.flush();
    assert.equal(lines.length, 4, 'nothing twice');
  });

  it('stamps every line of a note of ours', () => {
    const { lines, stamper } = stamped();
    stamper.note('[supervisor] a\nb\n');
    assert.deepEqual(lines, ['2026-11-30T12:00:00.000Z [supervisor] a\n', '2026-11-30T12:00:00.000Z b\n']);
  });
});
