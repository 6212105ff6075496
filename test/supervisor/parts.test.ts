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
    const db = await parts.start('database', () => ({ name: 'db' }), (d) => void order.push(`stop ${d.name}`));
    assert.equal(db.name, 'db');
    await parts.start('services', async () => 'svc', () => void order.push('stop services'));
    parts.onStop('timer', () => void order.push('stop timer'));
    await parts.start('webserver', () => 'web', async () => {
      await new Promise((r) => setTimeout(r, 10));
      order.push('stop webserver');
    });
    assert.deepEqual(parts.names, ['database', 'services', 'timer', 'webserver']);
    assert.equal(await parts.stopAll(), 0);
    assert.deepEqual(order, ['stop webserver', 'stop timer', 'stop services', 'stop db']);
  });

  it('go on with the rest when a stop fails or hangs, and count it', async () => {
    const { log, lines } = recorder();
    const parts = new Parts(log, 50);
    const order: string[] = [];
    await parts.start('database', () => 1, () => void order.push('database'));
    await parts.start('hanging', () => 2, () => new Promise<void>(() => {}));
    await parts.start('failing', () => 3, () => {
      throw new Error('boom');
    });
    assert.equal(await parts.stopAll(), 2);
    assert.deepEqual(order, ['database']);
    assert.ok(lines.some((l) => /stopping failing failed: boom/.test(l)));
    assert.ok(lines.some((l) => /stopping hanging took longer than 0 s/.test(l)));
  });

  it('stop what had started when a stop is asked for during a start, and start nothing after', async () => {
    const { log } = recorder();
    const parts = new Parts(log, 1000);
    const stopped: string[] = [];
    await parts.start('first', () => 1, () => void stopped.push('first'));
    await assert.rejects(
      parts.start('second', async () => {
        parts.askStop(); // SIGTERM while it starts
        return 2;
      }, () => void stopped.push('second')),
      StopDuringStart,
    );
    let ran = false;
    await assert.rejects(parts.start('third', () => (ran = true)), StopDuringStart);
    assert.equal(ran, false);
    await parts.stopAll();
    assert.deepEqual(stopped, ['second', 'first']);
  });

  it('do not stop a part whose start failed', async () => {
    const { log } = recorder();
    const parts = new Parts(log, 1000);
    const stopped: string[] = [];
    await assert.rejects(parts.start('broken', () => {
      throw new Error('cannot');
    }, () => void stopped.push('broken')), /cannot/);
    assert.equal(await parts.stopAll(), 0);
    assert.deepEqual(stopped, []);
  });
});
