import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setsManagerCookie } from '../../src/webserver/proxy';

describe("an app's response headers", () => {
  it("may not set the Manager's session cookie, however written", () => {
    for (const [name, value] of [
      ['Set-Cookie', 'ap_session=x; Path=/manager; HttpOnly'],
      ['set-cookie', ' ap_session =x'],
      ['SET-COOKIE', 'theme=dark; Expires=Wed, 21 Oct 2026 07:28:00 GMT, ap_session=x; Path=/manager'],
      ['set-cookie', 'AP_SESSION=x'],
    ]) {
      assert.equal(setsManagerCookie(name!, value!), true, value);
    }
  });

  it('keeps its own cookies and other headers', () => {
    assert.equal(setsManagerCookie('set-cookie', 'theme=dark; Expires=Wed, 21 Oct 2026 07:28:00 GMT; Path=/'), false);
    assert.equal(setsManagerCookie('set-cookie', 'my_ap_session=1'), false);
    assert.equal(setsManagerCookie('x-note', 'ap_session=1'), false);
  });
});
