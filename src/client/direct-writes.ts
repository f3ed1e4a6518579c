/**
 * Uploads without ssh2's per-request buffer. ssh2's sftp.write allocates a fresh buffer for every
 * WRITE (header and 255 KiB of data), copies the data in, and keeps it queued until the channel
 * window lets it out: an allocation, a copy and page faults per request, and V8 collecting 512 MiB
 * of dead buffers per 512 MiB uploaded.
 *
 * A `RequestWriter` owns a few reusable request buffers (slots). The caller reads the file straight
 * into a slot's data area, then `send()` writes the WRITE header in front and hands the request to
 * the channel in packet-sized pieces as the window allows, exactly as ssh2's own queue does, with
 * the request registered in ssh2's `_requests` so its STATUS reply completes it as usual. The
 * channel copies each piece into an SSH packet at once, so a slot is free again as soon as the
 * whole request has been given to the channel; requests that wait for window keep their slot.
 *
 * The WRITE header is the codec's (sftp/packets/write.ts encodeWriteHeader), written in place.
 *
 * Contract: the channel's byte stream is never cut inside a request, ours or ssh2's (see Gate).
 * Our requests leave in the order they were sent, after anything ssh2 had queued when they were
 * sent; a request ssh2 is given while ours wait for window may overtake those not yet started.
 * Used only when the SFTP object has the internals this relies on (ssh2 1.x) and the chunk fits
 * ssh2's maximum write; otherwise every send goes through sftp.write, which copies the slot.
 */
import type { SFTPWrapper } from 'ssh2';
import { encodeWriteHeader, writeHeaderLength } from '../sftp/packets/write.js';

const MAX_REQID = 2 ** 32 - 1;

/** A reusable request buffer; the caller fills `data` (chunk bytes) from the start. */
export interface WriteSlot {
  readonly data: Buffer;
}

interface Slot extends WriteSlot {
  /** The whole request: header space, then data (which starts 16-byte aligned). */
  readonly buf: Buffer;
}

interface Ssh2SftpInternals {
  _requests: Record<number, { cb?: (err?: Error | null) => void } | undefined>;
  _writeReqid: number;
  _maxWriteLen: number;
  _buffer: unknown[];
  _waitWindow: boolean;
  _chunkcb: (() => void) | undefined;
  _protocol: { channelData(id: number, data: Buffer): void };
  outgoing: { id: number; window: number; packetSize: number; state: string };
}

/** A request that has not left whole yet. */
interface Queued {
  payload: Buffer;
  sent: number;
  /** Called once the whole request has been given to the channel. */
  done(): void;
}

/**
 * The order of one SFTP channel's outgoing requests, shared by every RequestWriter on it. ssh2 asks
 * to be called on a window adjust by setting `_chunkcb`; that property becomes an accessor here, so
 * ssh2's callback (its queue's drain) and ours are both kept and run in an order that never cuts
 * into a request: ours that has started leaving is finished first, then ssh2's queue, then ours.
 */
class Gate {
  private readonly queue: Queued[] = [];
  private ssh2Cb: (() => void) | undefined;

  constructor(readonly s: Ssh2SftpInternals) {
    this.ssh2Cb = s._chunkcb;
    Object.defineProperty(s, '_chunkcb', {
      configurable: true,
      enumerable: true,
      get: () => (this.queue.length > 0 ? this.onWindow : this.ssh2Cb),
      set: (cb: (() => void) | undefined) => {
        this.ssh2Cb = cb;
      },
    });
  }

  enqueue(q: Queued): void {
    this.queue.push(q);
    if (this.queue.length === 1 && this.s._buffer.length === 0) this.drain(Infinity);
    // Queued behind ssh2's requests or ours, all waiting for window.
    else this.s._waitWindow = true;
  }

  /** Sends queued requests (at most `count` whole ones) while the window allows. */
  private drain(count: number): void {
    const out = this.s.outgoing;
    while (count > 0 && this.queue.length > 0 && out.state === 'open' && out.window > 0) {
      const q = this.queue[0]!;
      while (q.sent < q.payload.length && out.window > 0) {
        const n = Math.min(q.payload.length - q.sent, out.window, out.packetSize);
        out.window -= n;
        this.s._protocol.channelData(out.id, q.sent === 0 && n === q.payload.length ? q.payload : q.payload.subarray(q.sent, q.sent + n));
        q.sent += n;
      }
      if (q.sent < q.payload.length) break;
      this.queue.shift();
      count--;
      q.done();
    }
    // A channel that is no longer open fails its requests through ssh2 (cleanupRequests).
    if (this.queue.length > 0 && out.state === 'open' && out.window === 0) this.s._waitWindow = true;
  }

  private readonly onWindow = (): void => {
    if (this.queue[0]?.sent) this.drain(1);
    if (this.queue[0]?.sent) return; // still inside that request: more window first
    const ssh2Cb = this.ssh2Cb;
    this.ssh2Cb = undefined;
    // ssh2's drain is a method of the SFTP object; it sets _chunkcb again if it cannot finish.
    ssh2Cb?.call(this.s);
    if (this.s._buffer.length > 0) {
      this.s._waitWindow = true;
      return;
    }
    this.drain(Infinity);
  };
}

const gates = new WeakMap<object, Gate>();

/** Builds WRITE requests in reusable slots and sends them on one handle (see the file comment). */
export class RequestWriter {
  private readonly free: Slot[] = [];
  private readonly head: number;
  /** Null when ssh2's internals are not as expected: every send goes through sftp.write. */
  private readonly gate: Gate | null = null;

  constructor(
    private readonly sftp: SFTPWrapper,
    private readonly handle: Buffer,
    chunk: number,
    /** Data bytes a slot holds: `chunk`, or less when the whole upload is smaller. */
    private readonly slotBytes = chunk,
  ) {
    this.head = writeHeaderLength(handle.length);
    if (usable(sftp, chunk)) {
      this.gate = gates.get(sftp) ?? new Gate(sftp as unknown as Ssh2SftpInternals);
      gates.set(sftp, this.gate);
    }
  }

  /** True when sends bypass sftp.write (exposed for tests). */
  get direct(): boolean {
    return this.gate !== null;
  }

  /** A free slot (a new one when all are in use). */
  acquire(): WriteSlot {
    const slot = this.free.pop();
    if (slot) return slot;
    // Data at an aligned offset: V8 copies between differently aligned buffers (the hash ring is
    // shared memory) byte by byte, four times slower.
    const lead = (16 - (this.head % 16)) % 16;
    const buf = Buffer.allocUnsafe(lead + this.head + this.slotBytes).subarray(lead);
    const fresh: Slot = { buf, data: buf.subarray(this.head) };
    return fresh;
  }

  /** Gives back a slot that was not sent. */
  release(slot: WriteSlot): void {
    this.free.push(slot as Slot);
  }

  /**
   * Sends a WRITE of the first `len` bytes of the slot's data at `position`; `cb` gets the
   * server's answer like sftp.write's callback. The slot returns to the pool once it has left.
   */
  send(wslot: WriteSlot, len: number, position: number, cb: (err?: Error | null) => void): void {
    const slot = wslot as Slot;
    if (!this.gate) {
      this.sftp.write(this.handle, slot.buf, this.head, len, position, cb);
      this.free.push(slot);
      return;
    }
    const s = this.gate.s;
    const buf = slot.buf;
    const reqid = (s._writeReqid = (s._writeReqid + 1) & MAX_REQID);
    encodeWriteHeader(buf, reqid >>> 0, this.handle, position, len);
    s._requests[reqid] = { cb };
    this.gate.enqueue({ payload: buf.subarray(0, this.head + len), sent: 0, done: () => this.free.push(slot) });
  }
}

/** True when RequestWriter can send `chunk`-byte writes on this SFTP object itself. */
export function usable(sftp: unknown, chunk: number): boolean {
  const s = sftp as Partial<Ssh2SftpInternals> | null;
  return (
    !!s &&
    typeof s._requests === 'object' &&
    s._requests !== null &&
    typeof s._writeReqid === 'number' &&
    typeof s._maxWriteLen === 'number' &&
    chunk <= s._maxWriteLen &&
    Array.isArray(s._buffer) &&
    typeof s._protocol?.channelData === 'function' &&
    typeof s.outgoing?.window === 'number' &&
    typeof s.outgoing.packetSize === 'number'
  );
}
