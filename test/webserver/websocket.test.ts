// The caps on connections still logging in (src/webserver/websocket.ts).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clientKey, loginSlots } from '../../src/webserver/websocket';

describe('clientKey', () => {
  it('is the IPv4 address, also when uWS writes it v4-mapped in full', () => {
    assert.equal(clientKey('127.0.0.1'), '127.0.0.1');
    assert.equal(clientKey('0000:0000:0000:0000:0000:ffff:7f00:0001'), '127.0.0.1');
    assert.equal(clientKey('::ffff:192.168.1.20'), '192.168.1.20');
    assert.equal(clientKey('::ffff:c0a8:114'), '192.168.1.20');
  });

  it('is the /64 of an IPv6 address, however it is written', () => {
    assert.equal(clientKey('2001:0db8:0001:0002:0000:0000:0000:0001'), '2001:db8:1:2::/64');
    assert.equal(clientKey('2001:db8:1:2:ffff::9'), '2001:db8:1:2::/64');
    assert.equal(clientKey('2001:db8:1:3::1'), '2001:db8:1:3::/64');
    assert.equal(clientKey('0000:0000:0000:0000:0000:0000:0000:0001'), '0:0:0:0::/64');
    assert.equal(clientKey('::1'), '0:0:0:0::/64');
  });
});

describe('loginSlots', () => {
  it('gives each address an eighth of the slots, at least one', () => {
    assert.deepEqual(loginSlots(64), { overall: 64, perAddress: 8 });
    assert.deepEqual(loginSlots(9), { overall: 9, perAddress: 2 });
    assert.deepEqual(loginSlots(1), { overall: 1, perAddress: 1 });
  });
});
