/**
 * Reused buffers for the SSH packets ssh2 sends (the data path of every transfer, both ends).
 *
 * ssh2's in-place ciphers (AES-GCM, chacha20-poly1305 and AES-CTR with an HMAC, through its
 * native binding) allocate a fresh buffer for every outgoing packet and fill its 4-19 bytes of
 * padding with a separate crypto.randomFillSync call. At 32 KiB per packet that is 16384
 * allocations and random calls per 512 MiB; the allocations are external memory, so V8 also ran
 * a mark-compact every few MiB. A slab holds one packet at a time and the packet handed out
 * covers exactly the bytes ssh2 writes, so nothing of an earlier packet is ever sent.
 *
 * `poolPackets(protocol)` replaces that cipher instance's allocPacket with one that returns the
 * same packet layout in a reused 36 KiB slab, padding taken from a 4 KiB buffer of CSPRNG output
 * (each random byte used once). The cipher encrypts the slab in place and hands it to the socket;
 * the socket write wrapper (cork.ts) gives the slab back through `releasePacket` when the socket
 * has finished with it. A slab is lent to one packet at a time: only a completed write returns
 * it, so one that is never written is simply garbage collected.
 *
 * Contract: the patch is applied only when the cipher's class is one of the three above, its
 * allocPacket still has the source this replacement mirrors (ssh2 1.17), compared after removing
 * what a bundler may change (comments, spacing, parentheses, numbers it appends to names), and it
 * lays out packets of every probed length as this module computes; otherwise ssh2 is left exactly
 * as it is. A key re-exchange installs a new cipher, so callers re-apply on 'handshake'.
 */
import { randomFillSync } from 'node:crypto';

/** Bytes per slab: a 32 KiB channel packet plus SSH framing, padding and tag. */
const SLAB_BYTES = 36 * 1024;
/** Packets smaller than this come from Buffer.allocUnsafe's own pool, as before. */
const MIN_POOLED = 4096;
/** Slabs kept for reuse (the process's share, for all connections together): 4.5 MiB. */
const MAX_FREE = 128;

const free: Buffer[] = [];
/** The ArrayBuffers of slabs currently lent to a packet. */
const lent = new WeakSet<ArrayBuffer>();

const random = Buffer.allocUnsafeSlow(4096);
let randomPos = random.length;

/** How ssh2 lays out a packet for one cipher: padding and what follows the packet. */
export interface Layout {
  /** Cipher block size the padded length is a multiple of. */
  block: number;
  /** Leading bytes not counted in that length (4 when the length field is not encrypted). */
  aad: number;
  /** Authentication tag (MAC) bytes after the packet. */
  tag: number;
}

interface Cipher {
  allocPacket(payloadLen: number): Buffer;
  _encBlockLen?: unknown;
  _aadLen?: unknown;
  _macLen?: unknown;
}

// allocPacket as ssh2 1.17 (lib/protocol/crypto.js) writes it for each class, whitespace removed.
const FIXED_SOURCE = (block: number, tagComment: string): string =>
  `allocPacket(payloadLen){letpktLen=4+1+payloadLen;letpadLen=${block}-((pktLen-4)&(${block}-1));if(padLen<4)padLen+=${block};pktLen+=padLen;` +
  `constpacket=Buffer.allocUnsafe(pktLen+16/*${tagComment}*/);writeUInt32BE(packet,pktLen-4,0);packet[4]=padLen;randomFillSync(packet,5+payloadLen,padLen);returnpacket;}`;
const GENERIC_SOURCE =
  'allocPacket(payloadLen){constblockLen=this._encBlockLen;letpktLen=4+1+payloadLen;letpadLen=blockLen-((pktLen-this._aadLen)&(blockLen-1));' +
  'if(padLen<4)padLen+=blockLen;pktLen+=padLen;constpacket=Buffer.allocUnsafe(pktLen+this._macLen);writeUInt32BE(packet,pktLen-4,0);packet[4]=padLen;' +
  'randomFillSync(packet,5+payloadLen,padLen);returnpacket;}';

/**
 * A source with what esbuild (scripts/bundle-client.mjs) rewrites taken out: comments, spacing,
 * parentheses (it drops redundant ones) and the number it appends to a renamed binding
 * (`randomFillSync2`). What is left still names every operation in order.
 */
export function sourceFingerprint(source: string): string {
  return source
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/\/\/[^\n]*/g, '')
    .replace(/\b(randomFillSync|writeUInt32BE)\d+\b/g, '$1')
    .replace(/[\s()]+/g, '');
}

/** Payload lengths a candidate allocPacket is probed with: every padding case, and large ones. */
const PROBE_LENGTHS = [...Array.from({ length: 40 }, (_, i) => i), 4091, 32768, 32777, 36000, 40000];

/** True when `original` lays out every probed packet as allocPacket(layout) does. */
function sameLayout(original: (payloadLen: number) => unknown, layout: Layout): boolean {
  for (const n of PROBE_LENGTHS) {
    const want = shape(layout, n);
    const got = original(n);
    if (!Buffer.isBuffer(got) || got.length !== want.total || got.readUInt32BE(0) !== want.pktLen - 4 || got[4] !== want.padLen) return false;
  }
  return true;
}

/** The in-place ciphers: their allocPacket source, and the layout of one instance. */
const CIPHERS: Record<string, { source: string; layout(c: Cipher): Layout | null }> = {
  AESGCMCipherBinding: { source: FIXED_SOURCE(16, 'authTag'), layout: () => ({ block: 16, aad: 4, tag: 16 }) },
  ChaChaPolyCipherBinding: { source: FIXED_SOURCE(8, 'MAC'), layout: () => ({ block: 8, aad: 4, tag: 16 }) },
  // aes*-ctr with an HMAC (what OpenSSH, PuTTY and curl negotiate by default): encrypted and
  // MACed in place too; the block size, MAC length and ETM come from the instance.
  GenericCipherBinding: {
    source: GENERIC_SOURCE,
    layout: (c) => {
      const [block, aad, tag] = [c._encBlockLen, c._aadLen, c._macLen];
      const ok = typeof block === 'number' && [8, 16].includes(block) && (aad === 0 || aad === 4) && typeof tag === 'number' && tag >= 0 && tag <= 64;
      return ok ? { block, aad: aad as number, tag } : null;
    },
  },
};

/** The packet ssh2 would allocate, in a pooled slab when it fits. */
export function allocPacket(layout: Layout, payloadLen: number): Buffer {
  const { pktLen, padLen, total } = shape(layout, payloadLen);
  let packet: Buffer;
  if (total < MIN_POOLED || total > SLAB_BYTES) packet = Buffer.allocUnsafe(total);
  else {
    const slab = free.pop() ?? Buffer.allocUnsafeSlow(SLAB_BYTES);
    lent.add(slab.buffer as ArrayBuffer);
    packet = slab.subarray(0, total);
  }
  packet.writeUInt32BE(pktLen - 4, 0);
  packet[4] = padLen;
  if (randomPos + padLen > random.length) {
    randomFillSync(random);
    randomPos = 0;
  }
  random.copy(packet, 5 + payloadLen, randomPos, randomPos + padLen);
  randomPos += padLen;
  return packet;
}

/** SSH packet length (length field included), padding length and buffer size for a payload. */
function shape(layout: Layout, payloadLen: number): { pktLen: number; padLen: number; total: number } {
  let pktLen = 4 + 1 + payloadLen;
  let padLen = layout.block - ((pktLen - layout.aad) & (layout.block - 1));
  if (padLen < 4) padLen += layout.block;
  pktLen += padLen;
  return { pktLen, padLen, total: pktLen + layout.tag };
}

/**
 * Called by the socket write wrapper when a write of `buf` completed: a pooled slab is free
 * again. Anything else (or a slab not lent) is ignored.
 */
export function releasePacket(buf: Uint8Array): void {
  const ab = buf.buffer as ArrayBuffer;
  if (buf.byteOffset !== 0 || !lent.delete(ab)) return;
  if (free.length < MAX_FREE) free.push(Buffer.from(ab, 0, SLAB_BYTES));
}

/** True when `buf` is a pooled packet currently lent out (the socket must release it). */
export function isPooledPacket(buf: unknown): buf is Buffer {
  return Buffer.isBuffer(buf) && buf.byteOffset === 0 && buf.buffer.byteLength === SLAB_BYTES && lent.has(buf.buffer as ArrayBuffer);
}

/**
 * Pools the packets of the cipher ssh2's Protocol object currently sends with. Returns true when
 * it did, false when the cipher is one it does not know (left untouched).
 */
export function poolPackets(protocol: unknown): boolean {
  const cipher = (protocol as { _cipher?: Cipher } | undefined)?._cipher;
  if (!cipher || typeof cipher.allocPacket !== 'function') return false;
  // A bundler renaming a class on a clash appends a number (AESGCMCipherBinding2).
  const known = CIPHERS[String(cipher.constructor?.name).replace(/\d+$/, '')];
  if (!known || !Object.prototype.hasOwnProperty.call(Object.getPrototypeOf(cipher), 'allocPacket')) return false;
  if (Object.prototype.hasOwnProperty.call(cipher, 'allocPacket')) return true; // already pooled
  if (sourceFingerprint(cipher.allocPacket.toString()) !== sourceFingerprint(known.source)) return false;
  const layout = known.layout(cipher);
  if (!layout || !sameLayout(cipher.allocPacket.bind(cipher), layout)) return false;
  cipher.allocPacket = (payloadLen: number) => allocPacket(layout, payloadLen);
  return true;
}

/** Counts for tests: slabs waiting for reuse. */
export function freeSlabs(): number {
  return free.length;
}
