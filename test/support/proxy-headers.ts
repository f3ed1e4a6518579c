/**
 * Builds PROXY protocol headers for tests, byte for byte as doc/proxy-protocol.txt lays them out
 * (and as HAProxy's make_proxy_line_v1 / make_proxy_line_v2 write them).
 */
import { PROXY_V2_SIGNATURE } from '../../src/server/proxy/header.js';
import { parseIp } from '../../src/util/ip-address.js';

/** One TLV: type and value. */
export interface Tlv {
  type: number;
  value: Uint8Array;
}

/** What a v2 header carries; raw fields may be set to anything to build bad headers. */
export interface V2Spec {
  /** ver_cmd byte (default 0x21: version 2, PROXY). */
  verCmd?: number;
  /** fam byte (default 0x11 TCP over IPv4). */
  fam?: number;
  source?: string;
  destination?: string;
  sourcePort?: number;
  destinationPort?: number;
  tlvs?: Tlv[];
  /** Bytes after the fixed 16 instead of addresses + TLVs. */
  block?: Uint8Array;
  /** Length field instead of the block's length. */
  length?: number;
}

/** A version 2 header. */
export function v2Header(spec: V2Spec = {}): Buffer {
  const fam = spec.fam ?? 0x11;
  const block = spec.block ?? Buffer.concat([addressBlock(fam, spec), ...(spec.tlvs ?? []).map(tlvBytes)]);
  const fixed = Buffer.alloc(16);
  fixed.set(PROXY_V2_SIGNATURE, 0);
  fixed[12] = spec.verCmd ?? 0x21;
  fixed[13] = fam;
  fixed.writeUInt16BE(spec.length ?? block.length, 14);
  return Buffer.concat([fixed, block]);
}

function addressBlock(fam: number, spec: V2Spec): Buffer {
  const v6 = fam >> 4 === 2;
  if (fam >> 4 !== 1 && !v6) return Buffer.alloc(fam >> 4 === 3 ? 216 : 0);
  const src = ipBytes(spec.source ?? (v6 ? '2001:db8::7' : '203.0.113.7'), v6);
  const dst = ipBytes(spec.destination ?? (v6 ? '2001:db8::1' : '192.0.2.1'), v6);
  const ports = Buffer.alloc(4);
  ports.writeUInt16BE(spec.sourcePort ?? 54321, 0);
  ports.writeUInt16BE(spec.destinationPort ?? 2222, 2);
  return Buffer.concat([src, dst, ports]);
}

function ipBytes(text: string, v6: boolean): Buffer {
  const b = parseIp(text);
  if (!b || (b.length === 16) !== v6) throw new Error(`bad test address ${text}`);
  return Buffer.from(b);
}

/** A TLV's wire bytes: type, 16-bit length, value. */
export function tlvBytes(t: Tlv): Buffer {
  const head = Buffer.from([t.type, t.value.length >> 8, t.value.length & 0xff]);
  return Buffer.concat([head, t.value]);
}

/** A version 1 line. */
export function v1Header(family: 'TCP4' | 'TCP6', src: string, dst: string, sport: number, dport: number): Buffer {
  return Buffer.from(`PROXY ${family} ${src} ${dst} ${sport} ${dport}\r\n`, 'latin1');
}
