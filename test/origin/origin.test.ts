import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { COOKIE, hostOf, managerUrl, sameOrigin, sessionCookie, sessionToken } from '../../src/origin';

describe("the Manager's origin", () => {
  it('takes a host name or address from the Host header, and nothing else', () => {
    assert.equal(hostOf('box.example.com'), 'box.example.com');
    assert.equal(hostOf('box.example.com:8080'), 'box.example.com');
    assert.equal(hostOf('192.0.2.7:80'), '192.0.2.7');
    assert.equal(hostOf('[fd00::2]:443'), '[fd00::2]');
    for (const bad of ['', 'a b', 'evil.example/x', 'user@evil.example', 'evil.example\r\nSet-Cookie: x=1', 'fd00::2', 'evil.example:80:80', '-x', 'x-', `${'a'.repeat(300)}.example`]) {
      assert.equal(hostOf(bad), null, JSON.stringify(bad));
    }
  });

  it("points to the Manager's port with the same scheme, on the asked host or the listening address", () => {
    assert.equal(managerUrl('box.example.com:80', '::', false, 8080), 'http://box.example.com:8080/manager/');
    assert.equal(managerUrl('box.example.com', '::', true, 8443), 'https://box.example.com:8443/manager/');
    assert.equal(managerUrl('bad host', '::', false, 8080), 'http://localhost:8080/manager/');
    assert.equal(managerUrl('', '192.0.2.7', false, 8080, '/manager/api/'), 'http://192.0.2.7:8080/manager/api/');
    assert.equal(managerUrl('x\r\n', 'fd00::2', true, 8443), 'https://[fd00::2]:8443/manager/');
  });

  it("tells the apps' port of the same host from the Manager's own origin", () => {
    const manager = { host: 'box.example.com:8080', secure: false };
    assert.equal(sameOrigin({ ...manager, origin: 'http://box.example.com:8080' }), true);
    assert.equal(sameOrigin({ ...manager, origin: 'http://box.example.com' }), false);
    assert.equal(sameOrigin({ ...manager, origin: 'http://box.example.com:80' }), false);
    assert.equal(sameOrigin({ ...manager, origin: 'https://box.example.com:8080' }), false);
    assert.equal(sameOrigin({ ...manager, origin: 'null' }), false);
  });

  it("finds the live session among cookies of the same name (one an app's page may have set)", () => {
    const auth = { peek: (token: string | null) => (token === 'live' ? ({} as never) : null) };
    assert.equal(sessionToken('ap_session=shadow; other=1; ap_session=live', auth), 'live');
    assert.equal(sessionToken('ap_session=stale', auth), 'stale');
    assert.equal(sessionToken('other=1', auth), null);
  });
});

describe("the Manager's session cookie", () => {
  it('is HttpOnly and SameSite=Strict on /manager, Secure only over HTTPS, and ended with Max-Age=0', () => {
    assert.equal(sessionCookie('t0k', false), `${COOKIE}=t0k; Path=/manager; HttpOnly; SameSite=Strict`);
    assert.equal(sessionCookie('t0k', true), `${COOKIE}=t0k; Path=/manager; HttpOnly; SameSite=Strict; Secure`);
    assert.equal(sessionCookie('', true, true), `${COOKIE}=; Path=/manager; HttpOnly; SameSite=Strict; Secure; Max-Age=0`);
  });
});
