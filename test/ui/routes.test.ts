// The Manager's hash routes as data (src/ui/routes.ts): every address the
// pages link to reads back as the page it names; anything else is home.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { href, parseRoute, SETTINGS_SECTIONS, type Route } from '../../src/ui/routes';

describe('the Manager UI router', () => {
  it('reads every page back from the address it links to', () => {
    const routes: Route[] = [
      { page: 'home' },
      { page: 'instance', id: 'web1@example.com' },
      { page: 'instance', id: 'a/b c%d' },
      { page: 'service', name: 'echo' },
      ...SETTINGS_SECTIONS.map((section) => ({ page: 'settings', section }) as const),
      { page: 'replication' },
      { page: 'store' },
      { page: 'system' },
      { page: 'diagnostics' },
      { page: 'password' },
      { page: 'tokens' },
      { page: 'boot' },
      { page: 'rescue-log' },
      { page: 'new' },
    ];
    for (const route of routes) assert.deepEqual(parseRoute(href(route)), route, href(route));
  });

  it('reads the addresses people have bookmarked', () => {
    assert.deepEqual(parseRoute('#/instance/web1%40example.com'), { page: 'instance', id: 'web1@example.com' });
    assert.deepEqual(parseRoute('#/instance/web1@example.com'), { page: 'instance', id: 'web1@example.com' });
    assert.deepEqual(parseRoute(''), { page: 'home' });
    assert.deepEqual(parseRoute('#/'), { page: 'home' });
    // Settings was one page: its old address opens the first section.
    assert.deepEqual(parseRoute('#/settings'), { page: 'settings', section: 'general' });
    assert.deepEqual(parseRoute('#/settings/'), { page: 'settings', section: 'general' });
    assert.deepEqual(parseRoute('#/settings/smtp'), { page: 'settings', section: 'smtp' });
    // The System area's pages, linked from the System page.
    assert.deepEqual(parseRoute('#/boot'), { page: 'boot' });
    assert.deepEqual(parseRoute('#/rescue-log'), { page: 'rescue-log' });
  });

  it('takes an unknown or broken address as home, never a broken page', () => {
    for (const hash of ['#/nowhere', '#/settings/more', '#/settings/smtp/more', '#/settings/SMTP', '#/settings/constructor', '#/instance/', '#/instance/%E0%A4%A', '#/service']) assert.deepEqual(parseRoute(hash), { page: 'home' }, hash);
  });
});
