import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isLoopback, metricsAllowed } from '../../src/monitor';

describe('who may read /manager/metrics', () => {
  it('knows loopback in the forms a socket reports it', () => {
    for (const address of ['127.0.0.1', '127.8.9.10', '::1', '0000:0000:0000:0000:0000:0000:0000:0001', '::ffff:127.0.0.1', '0000:0000:0000:0000:0000:ffff:7f00:0001']) {
      assert.equal(isLoopback(address), true, address);
    }
    for (const address of ['192.0.2.2', '::ffff:192.0.2.2', 'fd00::2', '::', '128.0.0.1', '', 'localhost', 'not an address']) {
      assert.equal(isLoopback(address), false, address);
    }
  });

  it('serves loopback always; others by the setting: local none, token with the bearer token, open all', () => {
    const token = 'a-long-enough-token-0123456789';
    const bearer = `Bearer ${token}`;
    assert.equal(metricsAllowed('127.0.0.1', '', 'local', ''), true);
    assert.equal(metricsAllowed('::ffff:127.0.0.1', '', 'token', token), true);
    assert.equal(metricsAllowed('192.0.2.2', bearer, 'local', token), false);
    assert.equal(metricsAllowed('192.0.2.2', bearer, 'token', token), true);
    assert.equal(metricsAllowed('192.0.2.2', `bearer  ${token}`, 'token', token), true);
    assert.equal(metricsAllowed('192.0.2.2', `Bearer ${token}x`, 'token', token), false);
    assert.equal(metricsAllowed('192.0.2.2', `Basic ${token}`, 'token', token), false);
    assert.equal(metricsAllowed('192.0.2.2', 'Bearer ', 'token', ''), false);
    assert.equal(metricsAllowed('192.0.2.2', '', 'token', ''), false);
    assert.equal(metricsAllowed('192.0.2.2', '', 'open', ''), true);
  });
});
