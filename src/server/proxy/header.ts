/**
 * The PROXY protocol header (HAProxy doc/proxy-protocol.txt, versions 1 and 2) as a pure,
 * incremental, bounded parser: feed it the first bytes of a connection as they arrive; it answers
 * "more", "done" (the header and the bytes after it) or "error" (a stable reason). It never holds
 * more than PROXY_V2_MAX_BYTES, and decides as soon as the bytes so far cannot start a valid header
 * (a plain SSH client's "SSH-" fails at its first byte).
 */
import { checkV1, PROXY_V1_MAX_BYTES } from './v1.js';
import { checkV2, PROXY_V2_SIGNATURE, V2_FIXED_BYTES } from './v2.js';

export { PROXY_V1_MAX_BYTES } from './v1.js';
export { PROXY_V2_SIGNATURE } from './v2.js';

/**
 * Largest version 2 header accepted, TLVs included (the format allows 16 + 65535). HAProxy's
 * send-proxy-v2 sends 16 + 12 (IPv4) or 16 + 36 (IPv6) plus the TLVs asked for (unique id <= 128,
 * authority <= 255, SSL details); balancers' own TLVs (AWS, Azure, GCP) add tens of bytes. 4 KiB
 * leaves room for all of that and bounds what a connection can make us buffer.
 */
export const PROXY_V2_MAX_BYTES = 4096;

/** One end of the proxied connection. */
export interface ProxyEndpoint {
  /** Canonical text (util/ip-address.ts formatIp): dotted IPv4, RFC 5952 IPv6, ::ffff:a.b.c.d. */
  address: string;
  port: number;
}

/** A complete, valid header. */
export interface ProxyHeader {
  version: 1 | 2;
  /** LOCAL: the balancer's own connection (a health check); PROXY: relayed for a client. */
  command: 'LOCAL' | 'PROXY';
  /** TCP4/TCP6 carry addresses; UNSPEC (v1 UNKNOWN, v2 LOCAL or an address family we do not use) does not. */
  family: 'TCP4' | 'TCP6' | 'UNSPEC';
  /** The client; null: keep the connection's own endpoints, as the spec says for LOCAL and UNSPEC. */
  source: ProxyEndpoint | null;
  destination: ProxyEndpoint | null;
  /** Bytes the header took on the wire (the SSH stream starts right after). */
  length: number;
}

/** Why a header was refused (stable codes, logged as `reason`). */
export type ProxyHeaderError =
  | 'not-proxy' // does not start with "PROXY " or the version 2 signature
  | 'too-long' // v1 line without CRLF within 107 bytes, or v2 length over the cap
  | 'bad-line' // v1: wrong spacing, characters or line end
  | 'bad-protocol' // v1: not TCP4, TCP6 or UNKNOWN
  | 'bad-address' // v1: an address that is not of the announced family
  | 'bad-port' // v1: not 0..65535 without leading zeros
  | 'bad-version' // v2: version nibble not 2
  | 'bad-command' // v2: command not LOCAL or PROXY
  | 'bad-family' // v2: an address family / transport byte the spec does not define
  | 'bad-length' // v2: too short for the address block of its family
  | 'bad-tlv'; // v2: TLVs that do not exactly fill the rest of the header

/** What the bytes so far amount to, judged on the whole prefix (v1.ts and v2.ts answer this). */
export type HeaderCheck = { kind: 'more' } | { kind: 'error'; reason: ProxyHeaderError } | { kind: 'done'; header: ProxyHeader };

/** What feed() answers. `rest` is what followed the header in the last chunk (a view, not a copy). */
export type ParseStep = { kind: 'more' } | { kind: 'error'; reason: ProxyHeaderError } | { kind: 'done'; header: ProxyHeader; rest: Uint8Array };

const V1_FIRST = 0x50; // 'P'
const V2_FIRST = 0x0d;

/** Parses one connection's header from successive chunks; one instance per connection. */
export class ProxyHeaderParser {
  private acc = new Uint8Array(PROXY_V1_MAX_BYTES);
  private have = 0;
  private decision: { kind: 'error'; reason: ProxyHeaderError } | { kind: 'done'; header: ProxyHeader } | null = null;

  /** maxV2Bytes: the cap on a whole version 2 header (at least 16). */
  constructor(private readonly maxV2Bytes: number = PROXY_V2_MAX_BYTES) {}

  /** Bytes taken from the input so far (never more than the cap of the header's version). */
  get consumed(): number {
    return this.have;
  }

  /**
   * Takes the next chunk. Once decided, the same decision is returned again (for `done`, `rest` is
   * then the whole chunk: everything after the header).
   */
  feed(chunk: Uint8Array): ParseStep {
    if (this.decision) return this.decision.kind === 'done' ? { ...this.decision, rest: chunk } : this.decision;
    let offset = 0;
    for (;;) {
      const take = Math.min(chunk.length - offset, this.wanted() - this.have);
      this.append(chunk.subarray(offset, offset + take));
      offset += take;
      const check = this.check();
      if (check.kind === 'more') {
        if (offset < chunk.length) continue; // the wanted size grew (v2 length now known)
        return check;
      }
      this.decision = check;
      if (check.kind === 'error') return check;
      // Bytes past the header were copied from this chunk only: earlier feeds ended before it.
      return { ...check, rest: chunk.subarray(offset - (this.have - check.header.length)) };
    }
  }

  /** How many bytes the parser wants in total before it can say more. */
  private wanted(): number {
    if (this.have === 0) return 1;
    if (this.acc[0] !== V2_FIRST) return PROXY_V1_MAX_BYTES; // v1 ends at the first CRLF: scan up to its cap
    if (this.have < V2_FIXED_BYTES) return V2_FIXED_BYTES;
    const total = V2_FIXED_BYTES + ((this.acc[14]! << 8) | this.acc[15]!);
    return Math.min(total, this.maxV2Bytes);
  }

  private check(): HeaderCheck {
    if (this.have === 0) return { kind: 'more' };
    const bytes = this.acc.subarray(0, this.have);
    if (bytes[0] === V1_FIRST) return checkV1(bytes);
    if (bytes[0] === V2_FIRST) return checkV2(bytes, this.maxV2Bytes);
    return { kind: 'error', reason: 'not-proxy' };
  }

  private append(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    if (this.have + bytes.length > this.acc.length) {
      const grown = new Uint8Array(Math.max(this.have + bytes.length, Math.min(this.acc.length * 2, this.maxV2Bytes)));
      grown.set(this.acc.subarray(0, this.have));
      this.acc = grown;
    }
    this.acc.set(bytes, this.have);
    this.have += bytes.length;
  }
}

/** Parses a header from bytes already at hand (one feed of a fresh parser). */
export function parseProxyHeader(bytes: Uint8Array, maxV2Bytes: number = PROXY_V2_MAX_BYTES): ParseStep {
  return new ProxyHeaderParser(maxV2Bytes).feed(bytes);
}

/**
 * For connections from addresses that may not send a header: true once `prefix` (the first bytes
 * received) is the start of a PROXY header ("PROXY " or the 12-byte v2 signature), false once it
 * cannot be, undefined while it is too short to tell.
 */
export function startsWithProxySignature(prefix: Uint8Array): boolean | undefined {
  const sig = prefix[0] === V1_FIRST ? V1_SIGNATURE : prefix[0] === V2_FIRST ? PROXY_V2_SIGNATURE : null;
  if (!sig) return prefix.length === 0 ? undefined : false;
  const n = Math.min(prefix.length, sig.length);
  for (let i = 0; i < n; i++) if (prefix[i] !== sig[i]) return false;
  return n === sig.length ? true : undefined;
}

const V1_SIGNATURE = new TextEncoder().encode('PROXY ');
