// Hash routes, so every page has an address and a reload keeps it. A route
// is parsed once into data; pages never slice the hash themselves. Pure (no
// DOM, no Preact): unit-tested in Node (test/ui/routes.test.ts).

export type Route =
  | { readonly page: 'home' }
  | { readonly page: 'instance'; readonly id: string }
  | { readonly page: 'service'; readonly name: string }
  | { readonly page: 'settings' | 'replication' | 'store' | 'system' | 'diagnostics' | 'password' | 'tokens' | 'boot' | 'rescue-log' | 'new' };

const FIXED = new Set(['settings', 'replication', 'store', 'system', 'diagnostics', 'password', 'tokens', 'boot', 'rescue-log', 'new'] as const);

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
  for (const page of FIXED) if (first === page && rest.length === 0) return { page };
  return { page: 'home' };
}

/** The address of a route, for links and for moving on after an action. */
export function href(route: Route): string {
  if (route.page === 'home') return '#/';
  if (route.page === 'instance') return `#/instance/${encodeURIComponent(route.id)}`;
  if (route.page === 'service') return `#/service/${encodeURIComponent(route.name)}`;
  return `#/${route.page}`;
}
