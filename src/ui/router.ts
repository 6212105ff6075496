// The router: the current route from the address bar, and going to one.
// Parsing and addresses are in routes.ts.
import { useEffect, useState } from 'preact/hooks';
import { href, parseRoute, type Route } from './routes';

export { href, type Route } from './routes';

/** Goes to `route` (a new history entry, as a click on a link). */
export function go(route: Route): void {
  location.hash = href(route);
}

/** The current route, following the address bar. */
export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const on = () => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}
