// Instance trace flags: a bitmask with the vendor's bit order (the seed's list,
// DESIGN.md), so values move between the vendor's box and ours unchanged.
// Bits above 31 exist (Alarm client, Webserver): values are plain numbers,
// exact up to 2^53, never 32-bit integers.

export const TRACE_FLAGS = [
  ['App', 0x1], ['Database', 0x2], ['DB files', 0x4], ['DNS', 0x8], ['Ethernet', 0x10], ['File', 0x20], ['Files', 0x40],
  ['HTTP client', 0x80], ['HTTP file', 0x100], ['Process', 0x200], ['TLS', 0x400], ['TCP', 0x800], ['LDS', 0x1000],
  ['Webserver traffic', 0x2000], ['WebSocket client', 0x4000], ['App WebSocket', 0x8000], ['WebDAV service', 0x10000],
  ['Command', 0x20000], ['Config', 0x40000], ['Time', 0x80000], ['SMTP', 0x100000], ['UDP', 0x200000], ['DTLS', 0x400000],
  ['Media', 0x800000], ['Media channel', 0x1000000], ['ICE', 0x2000000], ['TURN', 0x4000000], ['AppSharing', 0x8000000],
  ['Audio', 0x10000000], ['Video', 0x20000000], ['Browser', 0x40000000], ['AppProxy', 0x80000000],
  ['Alarm client', 0x100000000], ['Webserver', 0x200000000],
] as const;

export type TraceFlag = (typeof TRACE_FLAGS)[number][0];

const BY_NAME = new Map<string, number>(TRACE_FLAGS.map(([name, bit]) => [name.toLowerCase(), bit]));
/** Every known bit set. */
export const ALL_TRACE_BITS = TRACE_FLAGS.reduce((all, [, bit]) => all + bit, 0);
/** The default: App | App WebSocket. */
export const DEFAULT_TRACE_FLAGS = 0x1 + 0x8000;

/** The mask for a list of flag names (case-insensitive), or for a number; throws naming the bad part. */
export function parseTraceFlags(value: number | readonly string[]): number {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0 || value > ALL_TRACE_BITS || !onlyKnownBits(value)) {
      throw new Error(`trace flags ${value} hold bits that are not trace flags (known: 0 to 0x${ALL_TRACE_BITS.toString(16)})`);
    }
    return value;
  }
  let mask = 0;
  for (const name of value) {
    const bit = BY_NAME.get(String(name).toLowerCase());
    if (bit === undefined) throw new Error(`unknown trace flag "${name}" (known: ${TRACE_FLAGS.map(([n]) => n).join(', ')})`);
    if (!hasBit(mask, bit)) mask += bit;
  }
  return mask;
}

/** The names of the flags set in `mask`, in the vendor's order. */
export function traceFlagNames(mask: number): TraceFlag[] {
  return TRACE_FLAGS.filter(([, bit]) => hasBit(mask, bit)).map(([name]) => name);
}

/** Bit test that works above 2^31 (JavaScript's & is 32-bit). */
export function hasBit(mask: number, bit: number): boolean {
  return Math.floor(mask / bit) % 2 === 1;
}

function onlyKnownBits(value: number): boolean {
  let rest = value;
  for (const [, bit] of TRACE_FLAGS) if (hasBit(value, bit)) rest -= bit;
  return rest === 0;
}
