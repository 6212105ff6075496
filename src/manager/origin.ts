// The Manager lives on an origin of its own (its own ports), so nothing an app
// serves ever runs where the Manager's API answers with its cookie. The apps'
// listeners only point there: these helpers build that pointer without
// trusting the request's Host header further than a host name.

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
