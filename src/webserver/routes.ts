// The route table: URL path prefix → instance. Matching is case-sensitive (as
// on the vendor's box) and on whole path segments; the longest prefix wins.
// /manager/ is the supervisor's own and never an instance's.

export interface Route {
  /** "/example.com/app": starts with "/", no trailing "/". */
  readonly prefix: string;
  /** name@domain */
  readonly instance: string;
  readonly service: string;
  /** Body limit for this route, or null for the server's default. */
  readonly maxBodyBytes: number | null;
  /** The instance's domain (AppLoginResult carries it) and password (the PBX login checks it). */
  readonly domain: string;
  readonly password: string;
}

export class RouteTable {
  private readonly byPrefix = new Map<string, Route>();

  constructor(routes: readonly Route[] = []) {
    for (const route of routes) {
      if (!route.prefix.startsWith('/') || route.prefix.endsWith('/') || route.prefix.includes('//')) {
        throw new Error(`route prefix "${route.prefix}" must start with "/" and have no empty segment or trailing "/"`);
      }
      if (route.prefix === '/manager' || route.prefix.startsWith('/manager/')) throw new Error(`route prefix ${route.prefix} is the Manager's`);
      if (this.byPrefix.has(route.prefix)) throw new Error(`route prefix ${route.prefix} is used twice`);
      this.byPrefix.set(route.prefix, route);
    }
  }

  get size(): number {
    return this.byPrefix.size;
  }

  /** The route for `path` (no query), or null. One map lookup per path segment. */
  match(path: string): Route | null {
    if (this.byPrefix.size === 0) return null;
    for (let end = path.length; end > 0; end = path.lastIndexOf('/', end - 1)) {
      const route = this.byPrefix.get(end === path.length ? path : path.slice(0, end));
      if (route) return route;
    }
    return null;
  }
}
