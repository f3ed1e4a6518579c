/**
 * PROXY protocol version 2 (doc/proxy-protocol.txt §2.2): a 16-byte binary prefix (signature,
 * version and command, family and transport, length) and `length` more bytes: the address block,
 * then TLVs, which Coffer skips. Judged on the bytes received so far, so a wrong byte is refused
 * as soon as it arrives.
 */
import { formatIp } from '../../util/ip-address.js';
import type { HeaderCheck, ProxyEndpoint, ProxyHeader } from './header.js';

/** The 12 bytes every version 2 header starts with (the 5th is NUL: never a C string). */
export const PROXY_V2_SIGNATURE = Uint8Array.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

/** Signature, version/command, family/transport, 16-bit length. */
export const V2_FIXED_BYTES = 16;

const CMD_LOCAL = 0x0;
const CMD_PROXY = 0x1;
const TLV_HEADER = 3; // type, 16-bit length

/**
 * Family/transport bytes the spec defines, with the size of their address block. Only TCP over
 * IPv4 (0x11) and IPv6 (0x21) carry a client for us; UNSPEC, UDP and UNIX are served with the
 * connection's own address, as the spec asks of receivers that do not implement them ("falls back
 * to the UNSPEC mode"). Any other byte "must be rejected as invalid".
 */
const FAMILIES = new Map<number, number>([
  [0x00, 0], // UNSPEC
  [0x11, 12], // TCP over IPv4: 2 x 4 bytes + 2 ports
  [0x12, 12], // UDP over IPv4
  [0x21, 36], // TCP over IPv6: 2 x 16 bytes + 2 ports
  [0x22, 36], // UDP over IPv6
  [0x31, 216], // UNIX stream: 2 x 108 bytes
  [0x32, 216], // UNIX datagram
]);

/** Judges `b` (the bytes so far, starting with 0x0D) as the start of a v2 header of at most maxBytes. */
export function checkV2(b: Uint8Array, maxBytes: number): HeaderCheck {
  const sigLen = Math.min(b.length, PROXY_V2_SIGNATURE.length);
  for (let i = 0; i < sigLen; i++) if (b[i] !== PROXY_V2_SIGNATURE[i]) return { kind: 'error', reason: 'not-proxy' };
  if (b.length < 13) return { kind: 'more' };
  // The version nibble "must always be sent as \x2 and the receiver must only accept this value".
  if (b[12]! >> 4 !== 2) return { kind: 'error', reason: 'bad-version' };
  const command = b[12]! & 0x0f;
  if (command !== CMD_LOCAL && command !== CMD_PROXY) return { kind: 'error', reason: 'bad-command' };
  if (b.length < 14) return { kind: 'more' };
  const blockSize = FAMILIES.get(b[13]!);
  if (blockSize === undefined) return { kind: 'error', reason: 'bad-family' };
  if (b.length < V2_FIXED_BYTES) return { kind: 'more' };
  const total = V2_FIXED_BYTES + ((b[14]! << 8) | b[15]!);
  if (total > maxBytes) return { kind: 'error', reason: 'too-long' };
  // LOCAL: "discard the protocol block including the family": its length may be anything.
  if (command === CMD_PROXY && total - V2_FIXED_BYTES < blockSize) return { kind: 'error', reason: 'bad-length' };
  if (b.length < total) return { kind: 'more' };
  return decide(b.subarray(0, total), command, b[13]!, blockSize);
}

/** The whole header is here: build it (and check that the TLVs tile what follows the addresses). */
function decide(h: Uint8Array, command: number, family: number, blockSize: number): HeaderCheck {
  const base = { version: 2 as const, length: h.length };
  if (command === CMD_LOCAL) return done({ ...base, command: 'LOCAL', family: 'UNSPEC', source: null, destination: null });
  if (family !== 0x11 && family !== 0x21) return done({ ...base, command: 'PROXY', family: 'UNSPEC', source: null, destination: null });
  // HAProxy's own receiver (conn_recv_proxy) refuses TLVs that overrun the header; so do we.
  if (!tlvsTile(h, V2_FIXED_BYTES + blockSize)) return { kind: 'error', reason: 'bad-tlv' };
  const addrLen = family === 0x11 ? 4 : 16;
  const at = V2_FIXED_BYTES;
  const ports = at + 2 * addrLen;
  const end = (addr: number, port: number): ProxyEndpoint => ({
    address: formatIp(h.slice(addr, addr + addrLen)),
    port: (h[port]! << 8) | h[port + 1]!,
  });
  return done({
    ...base,
    command: 'PROXY',
    family: family === 0x11 ? 'TCP4' : 'TCP6',
    source: end(at, ports),
    destination: end(at + addrLen, ports + 2),
  });
}

/** True when TLVs from `from` to the end fit exactly: each a 3-byte head and its stated length. */
function tlvsTile(h: Uint8Array, from: number): boolean {
  let at = from;
  while (at < h.length) {
    if (at + TLV_HEADER > h.length) return false;
    at += TLV_HEADER + ((h[at + 1]! << 8) | h[at + 2]!);
  }
  return at === h.length;
}

function done(header: ProxyHeader): HeaderCheck {
  return { kind: 'done', header };
}
