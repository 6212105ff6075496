// The Manager's origin and session policy, a leaf that the webserver (the
// transport) and the Manager (its API and event socket) both follow:
// - the Manager lives on an origin of its own (its own ports), so nothing an
//   app serves ever runs where the Manager's API answers with its cookie; the
//   apps' listeners only point there (managerUrl), trusting the request's
//   Host header no further than a host name;
// - its session rides in one cookie (COOKIE, on /manager, HttpOnly,
//   SameSite=Strict, Secure over HTTPS), which an app may never set;
// - a request from a browser is the Manager's own when its Origin names this
//   very scheme, host and port (the apps' origin differs only in the port).

/** Where the admin API is served over HTTP, on the Manager's listeners only. */
export const API_PREFIX = '/manager/api';
/** The Manager's session cookie. */
export const COOKIE = 'ap_session';

/** A host name or address from a Host header (its port dropped), or null when the header is not one we may echo. */
export function hostOf(header: string): string | null {
  // DNS name or IPv4, or an IPv6 literal in brackets; an optional port. Nothing else (no CR/LF, spaces, "@", "/").
  const match = /^(\[[0-9A-Fa-f:.]{2,45}\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252}[A-Za-z0-9])?)(?::\d{1,5})?$/.exec(header);
  return match ? match[1]! : null;
}

/** How an address we listen on is written in a URL ("localhost" for all addresses). */
export function urlHost(address: string): string {
  if (address === '::' || address === '0.0.0.0' || address === '') return 'localhost';
  return address.includes(':') ? `[${address}]` : address;
}

/**
 * The Manager's URL for a browser that asked the apps' listener: the host it
 * asked for (when the Host header is a plain host name or address; otherwise
 * the listening address), the Manager's port, the same scheme.
 */
export function managerUrl(hostHeader: string, listenAddress: string, secure: boolean, port: number, path = '/manager/'): string {
  const host = hostOf(hostHeader) ?? urlHost(listenAddress);
  return `${secure ? 'https' : 'http'}://${host}:${port}${path}`;
}

/** Whether the Origin header names this very site (scheme, host and port). */
export function sameOrigin(incoming: { readonly origin: string; readonly host: string; readonly secure: boolean }): boolean {
  return incoming.origin === `${incoming.secure ? 'https' : 'http'}://${incoming.host}`;
}

function cookieValues(header: string, name: string): string[] {
  const values: string[] = [];
  for (const part of header.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name && v.join('=')) values.push(v.join('='));
  }
  return values;
}

/**
 * The session cookie's value: the first one that names a live session. A page
 * of an app on this host may set a cookie of the same name on a longer path
 * (cookies do not tell ports apart), which the browser sends first; it must
 * not log the administrator out.
 */
export function sessionToken(header: string, sessions: { peek(token: string): unknown }): string | null {
  const values = cookieValues(header, COOKIE);
  return values.find((value) => sessions.peek(value) !== null) ?? values[0] ?? null;
}

/** The Set-Cookie value that sets (or, with `clear`, ends) the session cookie. */
export function sessionCookie(token: string, secure: boolean, clear = false): string {
  return `${COOKIE}=${token}; Path=/manager; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}${clear ? '; Max-Age=0' : ''}`;
}
