/**
 * Reused receive buffers for the client's SSH connection. Node reads a TCP socket into a fresh
 * 64 KiB buffer for every read, so a 512 MiB download allocated 512 MiB of buffers that die at
 * once: page faults on every new buffer, and V8 running a collection every few MiB for them.
 *
 * `receiveSocket(host, port)` opens the connection with Node's `onread` option instead: the
 * kernel copies into a buffer of ours, and the chunk is handed to ssh2 (as a 'data' event, the
 * only way ssh2 reads its socket) synchronously. The same buffer is filled again only when
 * nothing can still refer to the chunk once ssh2 returns, which holds when:
 * - every SSH message decrypted from it was a CHANNEL_WINDOW_ADJUST (numbers only) or a
 *   CHANNEL_DATA for the SFTP channel whose framer copies the bytes before it returns
 *   (direct-reads.ts: `copiesChannelData`); ssh2 passes CHANNEL_DATA on as a view into the chunk;
 * - the decipher is one whose state this module knows (ssh2's AES-GCM, chacha20-poly1305 and
 *   AES-CTR+HMAC bindings), it watched every message (its `_onPayload` is wrapped through an
 *   accessor, so ssh2's key exchange, which replaces it, is watched too), it is the same object
 *   before and after the chunk (a key exchange installs a new one), and it does not hold part
 *   of a packet as a view into the chunk (`_packet`, where a packet whose tag has not arrived
 *   waits);
 * Otherwise the chunk keeps its buffer and the next read gets a new one: the handshake,
 * authentication, replies other than file data and anything unknown cost what they did before.
 * Data that arrives before ssh2 listens is copied and handed over when it does.
 *
 * Contract: call `attach(protocol, sftp)` once the SFTP channel is open; before it, or when the
 * internals are not as described (another ssh2 version), every chunk gets a fresh buffer.
 */
import { connect, type Socket } from 'node:net';
import { copiesChannelData } from './direct-reads.js';

/** Bytes per read: 4 SSH packets of 32 KiB and more per event-loop turn, fewer read calls. */
export const RECEIVE_BYTES = 256 * 1024;

/** SSH_MSG_CHANNEL_WINDOW_ADJUST, SSH_MSG_CHANNEL_DATA. */
const WINDOW_ADJUST = 93;
const CHANNEL_DATA = 94;

/** ssh2's in-place decipher bindings: the only ones whose state is known (`_packet`). */
const KNOWN_DECIPHERS = new Set(['AESGCMDecipherBinding', 'ChaChaPolyDecipherBinding', 'GenericDecipherBinding']);

type OnPayload = (this: unknown, payload: Buffer) => unknown;
interface Decipher {
  _onPayload: OnPayload;
  _packet: Uint8Array | null;
}
interface Protocol {
  _decipher?: unknown;
}
interface SftpChannel {
  incoming?: { id?: unknown };
}

export interface ReceiveCounts {
  /** Chunks read. */
  reads: number;
  /** Reads into a buffer used before. */
  reused: number;
}

export interface ReceiveSocket {
  socket: Socket;
  /** Starts reusing buffers for the file data of this SFTP channel on this protocol. */
  attach(protocol: unknown, sftp: unknown): void;
  readonly counts: ReceiveCounts;
}

export function receiveSocket(host: string, port: number): ReceiveSocket {
  const counts: ReceiveCounts = { reads: 0, reused: 0 };
  let protocol: Protocol | null = null;
  let sftp: SftpChannel | null = null;
  let sftpId = -1;
  /** Deciphers whose messages are watched. */
  const watched = new WeakSet<object>();
  /** Set while ssh2 parses a chunk when a message may keep a view of it. */
  let kept = false;
  let current: Buffer | null = null;
  let reuse = false;
  const pending: Buffer[] = [];

  const classify = (payload: Buffer): void => {
    const type = payload[0];
    if (type === WINDOW_ADJUST) return;
    if (type === CHANNEL_DATA && payload.length >= 5 && payload.readUInt32BE(1) === sftpId && copiesChannelData(sftp)) return;
    kept = true;
  };

  const watch = (d: unknown): boolean => {
    if (typeof d !== 'object' || d === null) return false;
    if (watched.has(d)) return true;
    const dec = d as Decipher;
    if (!KNOWN_DECIPHERS.has(String(d.constructor?.name).replace(/\d+$/, '')) || !('_packet' in dec) || typeof dec._onPayload !== 'function') return false;
    let inner = dec._onPayload;
    const wrapper: OnPayload = function (this: unknown, payload: Buffer) {
      classify(payload);
      return inner.call(this, payload);
    };
    Object.defineProperty(dec, '_onPayload', {
      configurable: true,
      enumerable: true,
      get: () => wrapper,
      set: (fn: OnPayload) => {
        inner = fn;
      },
    });
    watched.add(dec);
    return true;
  };

  // Returns true: keep reading (ssh2 never pauses its socket).
  const onChunk = (nread: number, buf: Uint8Array): boolean => {
    counts.reads++;
    const chunk = Buffer.from(buf.buffer, buf.byteOffset, nread);
    if (socket.listenerCount('data') === 0) {
      pending.push(Buffer.from(chunk));
      reuse = true;
      return true;
    }
    const before = protocol?._decipher;
    const known = protocol !== null && sftpId >= 0 && watch(before);
    kept = false;
    socket.emit('data', chunk);
    const after = protocol?._decipher;
    const held = (after as Decipher | undefined)?._packet;
    reuse = known && !kept && after === before && !(held && held.buffer === buf.buffer);
    return true;
  };

  const next = (): Buffer => {
    if (current && reuse) counts.reused++;
    else current = Buffer.allocUnsafeSlow(RECEIVE_BYTES);
    reuse = false;
    return current;
  };

  const socket = connect({ host, port, onread: { buffer: next, callback: onChunk } });
  // ssh2 starts listening after its crypto set-up: what came before goes to it then, in order.
  socket.on('newListener', (event: string) => {
    if (event === 'data' && pending.length > 0) process.nextTick(() => {
      for (const b of pending.splice(0)) socket.emit('data', b);
    });
  });

  return {
    socket,
    counts,
    attach(p: unknown, s: unknown): void {
      const id = (s as SftpChannel | null)?.incoming?.id;
      if (typeof p !== 'object' || p === null || typeof id !== 'number') return;
      [protocol, sftp, sftpId] = [p as Protocol, s as SftpChannel, id];
    },
  };
}
