// The supervisor's parts: started in order, stopped in exact reverse, each stop bounded.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Logger } from '../../src/log';
import { Parts, StopDuringStart } from '../../src/supervisor/parts';

function recorder() {
  const lines: string[] = [];
  const log: Logger = {
    error: (m) => void lines.push(`error: ${m}`),
    warn: (m) => void lines.push(`warn: ${m}`),
    info: (m) => void lines.push(`info: ${m}`),
    debug: () => {},
    child: () => log,
    close: () => {},
  };
  return { log, lines };
}

describe('parts', () => {
  it('stop in exact reverse of their start, timers in their place', async () => {
    const { log } = recorder();
    const parts = new Parts(log, 1000);
    const order: string[] = [];
    const part = (name: string, wait = 0) => ({
      name,
      async stop() {
        if (wait) await new Promise((r) => setTimeout(r, wait));
        order.push(`stop ${name}`);
      },
    });
    const db = await parts.start('database', () => part('db'));
    assert.equal(db.name, 'db');
    await parts.start('services', async () => part('services'));
    parts.onStop('timer', () => void order.push('stop timer'));
    await parts.start('webserver', () => part('webserver', 10));
    assert.deepEqual(parts.names, ['database', 'services', 'timer', 'webserver']);
    assert.equal(await parts.stopAll(), 0);
    assert.deepEqual(order, ['stop webserver', 'stop timer', 'stop services', 'stop db']);
  });

  it('bound each stop by its own limit, and say how long all may take', async () => {
    const { log, lines } = recorder();
    const parts = new Parts(log, 5000);
    const order: string[] = [];
    await parts.start('database', () => ({ stop: async () => void order.push('database') }));
    await parts.start('jobs', () => ({ stop: () => new Promise<void>(() => {}) }), { stopWithinMs: 30 });
    assert.equal(parts.stopBoundMs, 5030);
    const at = Date.now();
    assert.equal(await parts.stopAll(), 1);
    assert.ok(Date.now() - at < 2000, 'the hanging part was given its own 30 ms, not the default 5 s');
    assert.deepEqual(order, ['database']);
    assert.ok(lines.some((l) => /stopping jobs took longer than 0 s/.test(l)));
  });

  it('go on with the rest when a stop fails or hangs, and count it', async () => {
    const { log, lines } = recorder();
    const parts = new Parts(log, 50);
    const order: string[] = [];
    await parts.start('database', () => ({ stop: async () => void order.push('database') }));
    await parts.start('hanging', () => ({ stop: () => new Promise<void>(() => {}) }));
    await parts.start('failing', () => ({
      stop: async () => {
        throw new Error('boom');
      },
    }));
    assert.equal(await parts.stopAll(), 2);
    assert.deepEqual(order, ['database']);
    assert.ok(lines.some((l) => /stopping failing failed: boom/.test(l)));
    assert.ok(lines.some((l) => /stopping hanging took longer than 0 s/.test(l)));
  });

  it('stop what had started when a stop is asked for during a start, and start nothing after', async () => {
    const { log } = recorder();
    const parts = new Parts(log, 1000);
    const stopped: string[] = [];
    await parts.start('first', () => ({ stop: async () => void stopped.push('first') }));
    await assert.rejects(
      parts.start('second', async () => {
        parts.askStop(); // SIGTERM while it starts
        return { stop: async () => void stopped.push('second') };
      }),
      StopDuringStart,
    );
    let ran = false;
    await assert.rejects(
      parts.start('third', () => {
        ran = true;
        return { stop: async () => {} };
      }),
      StopDuringStart,
    );
    assert.equal(ran, false);
    await parts.stopAll();
    assert.deepEqual(stopped, ['second', 'first']);
  });

  it('do not stop a part whose start failed', async () => {
    const { log } = recorder();
    const parts = new Parts(log, 1000);
    const stopped: string[] = [];
    await assert.rejects(
      parts.start('broken', (): { stop(): Promise<void> } => {
        throw new Error('cannot');
      }),
      /cannot/,
    );
    assert.deepEqual(parts.names, []);
    assert.equal(await parts.stopAll(), 0);
    assert.deepEqual(stopped, []);
  });
});
