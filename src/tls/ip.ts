// IP addresses as the bytes an X.509 iPAddress name holds: 4 for IPv4, 16 for IPv6.
import { isIPv4, isIPv6 } from 'node:net';

/** The network-order bytes of an IPv4 or IPv6 address, or undefined if `text` is neither. */
export function ipBytes(text: string): Buffer | undefined {
  if (isIPv4(text)) return Buffer.from(text.split('.').map(Number));
  // A zone ("fe80::1%eth0") names a local interface; it has no place in a certificate.
  if (!isIPv6(text) || text.includes('%')) return undefined;
  let address = text;
  let tail: number[] = [];
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(address);
  if (dotted) {
    // "::ffff:1.2.3.4": the last 32 bits written as IPv4.
    tail = dotted[1]!.split('.').map(Number);
    address = address.slice(0, -dotted[1]!.length) + '0:0';
  }
  const [head = '', rest] = address.split('::');
  const groups = (part: string) => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const left = groups(head);
  const right = rest === undefined ? [] : groups(rest);
  const words = [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
  const bytes = Buffer.alloc(16);
  words.forEach((word, i) => bytes.writeUInt16BE(word, i * 2));
  if (tail.length) Buffer.from(tail).copy(bytes, 12);
  return bytes;
}
