// Instance addresses as the Manager links them (src/ui/app-url.ts).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { appUrl } from '../../src/ui/app-url';

const box = { port: 80, httpsPort: 443 };
const dev = { port: 8080, httpsPort: 8443 };

describe('the address of an instance', () => {
  it('is https on the DNS name when one is set, as the App Installer gives it', () => {
    assert.equal(appUrl('/example.com/app', 'ap.example.com', dev, { protocol: 'http:', hostname: '10.0.0.5' }), 'https://ap.example.com/example.com/app');
    assert.equal(appUrl('/example.com/app', 'fd00::5', box, { protocol: 'https:', hostname: '10.0.0.5' }), 'https://[fd00::5]/example.com/app');
  });

  it('is on the host the page came from, on the apps port of its scheme, without one', () => {
    assert.equal(appUrl('/example.com/app', '', box, { protocol: 'https:', hostname: '10.0.0.5' }), 'https://10.0.0.5/example.com/app');
    assert.equal(appUrl('/example.com/app', '', box, { protocol: 'http:', hostname: 'box.local' }), 'http://box.local/example.com/app');
    assert.equal(appUrl('/x', '', dev, { protocol: 'http:', hostname: '[::1]' }), 'http://[::1]:8080/x');
    assert.equal(appUrl('/x', '', dev, { protocol: 'https:', hostname: '127.0.0.1' }), 'https://127.0.0.1:8443/x');
  });

  it('takes the other scheme when apps do not listen on the page scheme, and gives none when they listen on neither', () => {
    assert.equal(appUrl('/x', '', { port: null, httpsPort: 443 }, { protocol: 'http:', hostname: 'h' }), 'https://h/x');
    assert.equal(appUrl('/x', '', { port: 8080, httpsPort: null }, { protocol: 'https:', hostname: 'h' }), 'http://h:8080/x');
    assert.equal(appUrl('/x', '', { port: null, httpsPort: null }, { protocol: 'http:', hostname: 'h' }), null);
  });
});
