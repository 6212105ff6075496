// Hash routes, so every page has an address and a reload keeps it. A route
// is parsed once into data; pages never slice the hash themselves. Pure (no
// DOM, no Preact): unit-tested in Node (test/ui/routes.test.ts).

/** The sections of Settings, one page each, in the order of the menu; the first is what #/settings opens. */
export const SETTINGS_SECTIONS = ['general', 'alarms', 'smtp', 'security', 'backups', 'update', 'power', 'logs', 'installer', 'replication', 'letsencrypt', 'access-domains'] as const;
export type SettingsSection = (typeof SETTINGS_SECTIONS)[number];

export type Route =
  | { readonly page: 'home' }
  | { readonly page: 'instance'; readonly id: string }
  | { readonly page: 'service'; readonly name: string }
  | { readonly page: 'settings'; readonly section: SettingsSection }
  | { readonly page: 'replication' | 'store' | 'system' | 'diagnostics' | 'password' | 'tokens' | 'boot' | 'rescue-log' | 'new' };

const FIXED = new Set(['replication', 'store', 'system', 'diagnostics', 'password', 'tokens', 'boot', 'rescue-log', 'new'] as const);

/** The route for a hash such as "#/instance/web1%40example.com"; anything unknown is home, as before. */
export function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#/, '').split('/').filter((p, i) => i > 0 || p !== '');
  const [first, ...rest] = parts;
  let tail: string;
  try {
    tail = decodeURIComponent(rest.join('/'));
  } catch {
    // A mangled escape in a typed-in address: home, not a crashed page.
    return { page: 'home' };
  }
  if (first === 'instance' && tail) return { page: 'instance', id: tail };
  if (first === 'service' && tail) return { page: 'service', name: tail };
  // #/settings alone (the address before there were sections) opens the first.
  if (first === 'settings' && rest.length <= 1) {
    const section = SETTINGS_SECTIONS.find((s) => s === (rest[0] || SETTINGS_SECTIONS[0]));
    if (section) return { page: 'settings', section };
  }
  for (const page of FIXED) if (first === page && rest.length === 0) return { page };
  return { page: 'home' };
}

/** The address of a route, for links and for moving on after an action. */
export function href(route: Route): string {
  if (route.page === 'home') return '#/';
  if (route.page === 'instance') return `#/instance/${encodeURIComponent(route.id)}`;
  if (route.page === 'service') return `#/service/${encodeURIComponent(route.name)}`;
  if (route.page === 'settings') return `#/settings/${route.section}`;
  return `#/${route.page}`;
}
