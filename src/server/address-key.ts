/**
 * The address key (SPEC §5): what every per-address limit and the ban list count by. An IPv4
 * address is its own key; an IPv6 address is grouped with its /64, because one host or customer is
 * handed a whole /64 and picks addresses in it at will; IPv4-mapped IPv6 (`::ffff:192.0.2.7`, as a
 * dual-stack listener reports IPv4 clients) is the IPv4 address.
 */
import { isIPv4, isIPv6 } from 'node:net';

/** The peer address as logged: IPv4-mapped IPv6 becomes the IPv4 address, `unknown` when absent. */
export function normalizeAddress(address: string | undefined): string {
  if (!address) return 'unknown';
  if (!isIPv6(address)) return address;
  const groups = ipv6Groups(address);
  return groups && isMapped(groups) ? mappedIpv4(groups) : address;
}

/** The key a normalized address counts under: the IPv4 address, or the IPv6 /64 as `2001:db8:0:1::/64`. */
export function addressKey(address: string): string {
  if (isIPv4(address)) return address;
  const groups = isIPv6(address) ? ipv6Groups(address) : null;
  if (!groups) return address;
  if (isMapped(groups)) return mappedIpv4(groups);
  const prefix = groups.slice(0, 4);
  // Written as `a:b:c:d::/64`, or `a:b::/64` when the trailing groups of the prefix are zero.
  while (prefix.length > 0 && prefix[prefix.length - 1] === 0) prefix.pop();
  return `${prefix.map((g) => g.toString(16)).join(':')}::/64`;
}

/** The eight 16-bit groups of an IPv6 address (zone dropped, embedded IPv4 converted), or null. */
function ipv6Groups(address: string): number[] | null {
  let text = address.split('%')[0]!.toLowerCase();
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const part = (s: string | undefined) => (s ? s.split(':').map((g) => parseInt(g, 16)) : []);
  const head = part(halves[0]);
  const tail = part(halves[1]);
  const fill = halves.length === 2 ? 8 - head.length - tail.length : 0;
  if (fill < 0) return null;
  const groups = [...head, ...new Array<number>(fill).fill(0), ...tail];
  return groups.length === 8 && groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : null;
}

/** ::ffff:a.b.c.d (RFC 4291 §2.5.5.2). */
function isMapped(groups: number[]): boolean {
  return groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff;
}

function mappedIpv4(groups: number[]): string {
  const [hi, lo] = [groups[6]!, groups[7]!];
  return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
}
