/**
 * Address blocks as operators write them (`127.0.0.1`, `10.0.0.0/8`, `::1`, `fd00::/8`) and the
 * test "is this peer in one of them". IPv4-mapped IPv6 (`::ffff:10.1.2.3`), on either side, is
 * taken as the IPv4 address it carries: a dual-stack listener reports IPv4 peers that way, and
 * `10.0.0.0/8` must cover them.
 */
import { formatIp, parseIp, unmapIPv4 } from './ip-address.js';

/** One block: the network's bytes (4 or 16) and how many leading bits must match. */
export interface CidrBlock {
  bytes: Uint8Array;
  prefix: number;
}

/** Parses one entry; an address alone is a block of one. Host bits set are refused (a typo, likely). */
export function parseCidr(entry: string): CidrBlock | { problem: string } {
  const text = entry.trim();
  const slash = text.indexOf('/');
  const raw = parseIp(slash < 0 ? text : text.slice(0, slash));
  if (!raw) return { problem: 'is not an IP address or CIDR block' };
  let prefix = raw.length * 8;
  if (slash >= 0) {
    const p = text.slice(slash + 1);
    if (!/^(0|[1-9]\d{0,2})$/.test(p) || Number(p) > prefix) return { problem: `has a bad prefix length (0 to ${prefix})` };
    prefix = Number(p);
  }
  let bytes = raw;
  if (raw.length === 16 && unmapIPv4(raw).length === 4 && prefix >= 96) {
    bytes = unmapIPv4(raw);
    prefix -= 96;
  }
  const network = masked(bytes, prefix);
  if (!equalBytes(network, bytes)) return { problem: `has host bits set (did you mean ${formatIp(network)}/${prefix}?)` };
  return { bytes: network, prefix };
}

/** True when `entry` would be refused by parseCidr. */
export function isCidrProblem(v: CidrBlock | { problem: string }): v is { problem: string } {
  return 'problem' in v;
}

/** A list of blocks, asked whether it holds a peer address. */
export class CidrList {
  private constructor(private readonly blocks: readonly CidrBlock[]) {}

  /** Builds the list; throws on an entry parseCidr refuses (settings are validated before this). */
  static parse(entries: readonly string[]): CidrList {
    return new CidrList(
      entries.map((e) => {
        const b = parseCidr(e);
        if (isCidrProblem(b)) throw new Error(`'${e}' ${b.problem}`);
        return b;
      }),
    );
  }

  /** Number of blocks (0: the list holds nothing). */
  get size(): number {
    return this.blocks.length;
  }

  /** True when `address` (text as Node reports peers) is inside one of the blocks. */
  contains(address: string | undefined): boolean {
    if (!address || this.blocks.length === 0) return false;
    const raw = parseIp(address);
    if (!raw) return false;
    const bytes = unmapIPv4(raw);
    return this.blocks.some((b) => b.bytes.length === bytes.length && prefixMatches(b.bytes, bytes, b.prefix));
  }
}

function prefixMatches(a: Uint8Array, b: Uint8Array, bits: number): boolean {
  const whole = bits >> 3;
  for (let i = 0; i < whole; i++) if (a[i] !== b[i]) return false;
  const rest = bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (a[whole]! & mask) === (b[whole]! & mask);
}

function masked(bytes: Uint8Array, bits: number): Uint8Array {
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, bits - 8 * i));
    out[i] = bytes[i]! & ((0xff << (8 - keep)) & 0xff);
  }
  return out;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
