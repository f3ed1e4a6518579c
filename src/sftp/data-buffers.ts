/**
 * Reused buffers for large DATA replies and for large request packets. A download answers every 255 KiB READ with a 255 KiB
 * reply; a fresh buffer for each made garbage collection a fifth of the server's CPU in the bench.
 * A buffer goes back to the pool only from the channel's write callback, which ssh2 calls once it
 * has copied every byte into its own packets, so a buffer is never reused while still in use.
 */
import { MAX_MESSAGE_LENGTH, MAX_READ_WRITE_LENGTH } from './constants.js';
import { allocDataReply, DATA_HEADER_LENGTH } from './packets/data.js';

const POOLED_SIZE = DATA_HEADER_LENGTH + MAX_READ_WRITE_LENGTH;
/** Reads smaller than this get a buffer of their own (pooling them would waste memory). */
const MIN_POOLED_READ = 64 * 1024;
/** Free buffers kept for the whole process (8 MiB). */
const MAX_FREE = 32;

const free: Buffer[] = [];
const pooled = new WeakSet<ArrayBufferLike>();

/** A buffer for a DATA reply of up to `maxData` bytes (see allocDataReply). */
export function takeDataBuffer(maxData: number): Buffer {
  if (maxData < MIN_POOLED_READ || maxData > MAX_READ_WRITE_LENGTH) return allocDataReply(maxData);
  const buf = free.pop();
  if (buf) return buf;
  const fresh = Buffer.allocUnsafeSlow(POOLED_SIZE);
  pooled.add(fresh.buffer);
  return fresh;
}

/** True when `reply` lives in a pooled buffer (give it back with recycleDataBuffer once sent). */
export function isPooled(reply: Buffer): boolean {
  return pooled.has(reply.buffer);
}

/** Returns a pooled reply's buffer; call once, after the channel has consumed the reply. */
export function recycleDataBuffer(reply: Buffer): void {
  if (free.length < MAX_FREE && isPooled(reply)) free.push(Buffer.from(reply.buffer, 0, POOLED_SIZE));
}

/**
 * Request packets: an upload sends 255 KiB WRITEs that arrive in 32 KiB SSH packets, so the framer
 * assembles each in a buffer of its own. Fresh buffers for those (half a GiB of them for a 512 MiB
 * upload) kept V8 busy with mark-compacts forced by external memory: a fifth of the server's CPU.
 * The session gives a WRITE's packet back once the write has completed (nothing holds a view of it
 * then); packets it never gives back are simply collected.
 */
const MIN_POOLED_PACKET = 64 * 1024;
const packetFree: Buffer[] = [];
const packetPooled = new WeakSet<ArrayBufferLike>();

/** A buffer for a packet of `length` bytes, pooled when large (give it back with recyclePacketBuffer). */
export function takePacketBuffer(length: number): Buffer {
  if (length < MIN_POOLED_PACKET || length > MAX_MESSAGE_LENGTH) return Buffer.allocUnsafe(length);
  let buf = packetFree.pop();
  if (!buf) {
    buf = Buffer.allocUnsafeSlow(MAX_MESSAGE_LENGTH);
    packetPooled.add(buf.buffer);
  }
  return buf.subarray(0, length);
}

/** Returns a packet from takePacketBuffer once nothing uses it or any view of it; others are ignored. */
export function recyclePacketBuffer(payload: Buffer): void {
  if (packetFree.length < MAX_FREE && packetPooled.has(payload.buffer)) packetFree.push(Buffer.from(payload.buffer, 0, MAX_MESSAGE_LENGTH));
}
