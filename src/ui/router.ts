// The router: the current route from the address bar, and going to one.
// Parsing and addresses are in routes.ts. A page with unsaved work may guard
// leaving it: Back, Forward or a typed address then ask first.
import { useEffect, useState } from 'preact/hooks';
import { href, parseRoute, type Route } from './routes';

export { href, type Route } from './routes';

/** Asked before the address moves to another route; resolving false keeps the page (and puts its address back). */
type LeaveGuard = (to: Route) => Promise<boolean>;
let guard: LeaveGuard | null = null;

/** Guards leaving the current page with `ask` until the returned function is called. */
export function guardLeaving(ask: LeaveGuard): () => void {
  guard = ask;
  return () => {
    if (guard === ask) guard = null;
  };
}

/** Goes to `route` (a new history entry, as a click on a link). */
export function go(route: Route): void {
  location.hash = href(route);
}

/** The current route, following the address bar. */
export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const on = async (e: HashChangeEvent) => {
      const to = parseRoute(location.hash);
      const from = new URL(e.oldURL).hash;
      const ask = guard;
      if (ask && href(to) !== href(parseRoute(from))) {
        // This page's address back while it asks (replaced: no history entry is added).
        history.replaceState(history.state, '', from || '#/');
        if (!(await ask(to))) return;
        guard = null;
        location.hash = href(to);
        return;
      }
      setRoute(to);
    };
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}
