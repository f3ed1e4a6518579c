/**
 * IP addresses as bytes and as canonical text. node:net's isIP decides what text is an address;
 * zone ids (`fe80::1%eth0`) are refused, since nothing Coffer compares or logs has one.
 */
import { isIP } from 'node:net';

/** Longest address text accepted: IPv6 in full with a dotted IPv4 tail. */
const MAX_TEXT = 45;

/** The 4 (IPv4) or 16 (IPv6) bytes of `text`, or null when it is not an address. */
export function parseIp(text: string): Uint8Array | null {
  if (text.length > MAX_TEXT || text.includes('%')) return null;
  const kind = isIP(text);
  if (kind === 4) return Uint8Array.from(text.split('.'), Number);
  if (kind === 6) return parseIPv6(text);
  return null;
}

/** Expands IPv6 text (already validated by isIP) into 16 bytes. */
function parseIPv6(text: string): Uint8Array {
  const out = new Uint8Array(16);
  let t = text;
  let tail: number[] | null = null;
  if (t.includes('.')) {
    const cut = t.lastIndexOf(':') + 1;
    tail = t.slice(cut).split('.').map(Number);
    t = `${t.slice(0, cut)}0:0`; // the dotted tail takes the place of the last two groups
  }
  const [head = '', rest] = t.split('::');
  const front = head === '' ? [] : head.split(':');
  const back = rest === undefined || rest === '' ? [] : rest.split(':');
  const groups = [...front, ...Array<string>(8 - front.length - back.length).fill('0'), ...back];
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    out[2 * i] = v >> 8;
    out[2 * i + 1] = v & 0xff;
  });
  if (tail) out.set(tail, 12);
  return out;
}

/** True for ::ffff:a.b.c.d, an IPv4 address as a dual-stack socket reports it. */
export function isIPv4Mapped(bytes: Uint8Array): boolean {
  if (bytes.length !== 16) return false;
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false;
  return bytes[10] === 0xff && bytes[11] === 0xff;
}

/** The IPv4 bytes of an IPv4-mapped IPv6 address; any other address unchanged. */
export function unmapIPv4(bytes: Uint8Array): Uint8Array {
  return isIPv4Mapped(bytes) ? bytes.subarray(12) : bytes;
}

/**
 * Canonical text: dotted IPv4; IPv6 as RFC 5952 §4 says (lower case, no leading zeros, the longest
 * run of two or more zero groups as `::`, the first of equal runs), and IPv4-mapped addresses as
 * `::ffff:a.b.c.d` (§5), which is what Node reports for them and what bans.ts normalizes.
 */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return bytes.join('.');
  if (isIPv4Mapped(bytes)) return `::ffff:${bytes.subarray(12).join('.')}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  let best = -1;
  let bestLen = 1; // a single zero group is never shortened (§4.2.2)
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(':');
  if (best < 0) return hex(groups);
  return `${hex(groups.slice(0, best))}::${hex(groups.slice(best + bestLen))}`;
}

/** `text` in canonical form (see formatIp), or null when it is not an address. */
export function canonicalIp(text: string): string | null {
  const bytes = parseIp(text);
  return bytes ? formatIp(bytes) : null;
}
