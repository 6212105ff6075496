// Who may read /manager/metrics. It names every instance, so it is not for
// everyone: the box itself (loopback) always; others only when the
// metricsAccess setting says so (with a bearer token, or open to all).
import { createHash, timingSafeEqual } from 'node:crypto';
import { BlockList, isIPv6 } from 'node:net';

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** Whether `address` (as a socket reports it: IPv4, IPv6, IPv4-mapped IPv6) is this box's loopback. */
export function isLoopback(address: string): boolean {
  try {
    // BlockList matches "::ffff:127.0.0.1" against the IPv4 subnet too.
    return LOOPBACK.check(address, isIPv6(address) ? 'ipv6' : 'ipv4');
  } catch {
    return false;
  }
}

/** Whether a request for the metrics from `remote` with this Authorization header is served (`access`: the metricsAccess setting). */
export function metricsAllowed(remote: string, authorization: string, access: string, token: string): boolean {
  if (isLoopback(remote) || access === 'open') return true;
  if (access !== 'token' || token === '') return false;
  const match = /^Bearer +(\S+) *$/i.exec(authorization);
  if (!match) return false;
  // Hashes have one length, so the comparison takes the same time whatever was sent.
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(match[1]!), digest(token));
}
