/**
 * Downloads without ssh2's per-reply buffer. ssh2's SFTP client assembles every reply that spans
 * channel packets (each 255 KiB DATA reply spans eight) in a freshly allocated buffer, then copies
 * the data into the buffer the READ was given: two copies and an allocation per reply, and V8
 * collecting 512 MiB of dead buffers per 512 MiB downloaded.
 *
 * `directReads(sftp)` frames the channel's bytes itself. A DATA reply whose request has a buffer
 * (every sftp.read(handle, buf, ...)) and whose length fields agree is copied from the incoming
 * chunks straight into that buffer, and the request completed exactly as ssh2's DATA handler
 * does (removed from `_requests`, then `cb(undefined, buffer, length)`). Every other packet is
 * handed to ssh2's own parser whole, so its handling (and its errors) are unchanged.
 *
 * Contract: applied only when the SFTP object has the internals this relies on (ssh2 1.x: push,
 * _requests, _maxInPktLen); otherwise ssh2 is left as it is. A length field ssh2 would reject
 * (0, or over its maximum) is passed to ssh2 unparsed, which ends the session as before.
 * The DATA header is read by the codec (sftp/packets/data.ts), as the server writes it.
 */
import { DATA_HEADER_LENGTH as HEAD, dataReplyLength, messageId } from '../sftp/packets/data.js';

interface ReadRequest {
  cb?: (err: Error | undefined, buf: Buffer, nb: number) => void;
  buffer?: Buffer;
}

interface Ssh2Sftp {
  push(data: Buffer | null): unknown;
  _requests: Record<number, ReadRequest | undefined>;
  _maxInPktLen: number;
}

/** The framer installed on each SFTP object. */
const framers = new WeakMap<object, DirectFramer>();

/** Installs the framer on ssh2's SFTP object; false when its internals are not as expected. */
export function directReads(sftp: unknown): boolean {
  const s = sftp as Partial<Ssh2Sftp> | null;
  if (!s || typeof s.push !== 'function' || typeof s._requests !== 'object' || s._requests === null || typeof s._maxInPktLen !== 'number') return false;
  if (Object.prototype.hasOwnProperty.call(s, 'push')) return true; // already installed
  const framer = new DirectFramer(s as Ssh2Sftp, s.push.bind(s));
  s.push = (data: Buffer | null) => (data === null ? framer.end() : framer.feed(data));
  framers.set(s, framer);
  return true;
}

/**
 * True when the channel bytes handed to this SFTP object's push are copied before push returns,
 * never kept: its framer is installed and has not switched to passing bytes to ssh2 as they come.
 */
export function copiesChannelData(sftp: unknown): boolean {
  const framer = typeof sftp === 'object' && sftp !== null ? framers.get(sftp) : undefined;
  return framer !== undefined && !framer.passingThrough;
}

/** Exported for tests: the framer over one SFTP object. */
export class DirectFramer {
  /** The packet's first HEAD bytes (length field included) while they arrive. */
  private readonly head = Buffer.allocUnsafe(HEAD);
  private headLen = 0;
  /** Bytes after the length field (pktLen) of the current packet, once known. */
  private pktLen = 0;
  /** Fast path: the request being filled, and how many data bytes it has. */
  private req: ReadRequest | null = null;
  private id = 0;
  private dataLen = 0;
  private dataPos = 0;
  /** Slow path: the whole packet, assembled for ssh2. */
  private whole: Buffer | null = null;
  private wholePos = 0;
  /** After a length ssh2 rejects, everything goes to ssh2 as it comes. */
  private passthrough = false;

  constructor(
    private readonly sftp: Ssh2Sftp,
    private readonly push: (data: Buffer | null) => unknown,
  ) {}

  end(): unknown {
    return this.push(null);
  }

  /** True once bytes go to ssh2 as they come (which may keep them): after a length it rejects. */
  get passingThrough(): boolean {
    return this.passthrough;
  }

  feed(chunk: Buffer): unknown {
    if (this.passthrough) return this.push(chunk);
    let p = 0;
    while (p < chunk.length) {
      if (this.req) p = this.fillData(chunk, p);
      else if (this.whole) p = this.fillWhole(chunk, p);
      else p = this.readHead(chunk, p);
      if (this.passthrough) return p < chunk.length ? this.push(chunk.subarray(p)) : undefined;
    }
    return undefined;
  }

  // Collects the length field and, for packets long enough, type, id and data length.
  private readHead(chunk: Buffer, p: number): number {
    if (this.headLen < 4) {
      const n = Math.min(4 - this.headLen, chunk.length - p);
      chunk.copy(this.head, this.headLen, p, p + n);
      this.headLen += n;
      p += n;
      if (this.headLen < 4) return p;
      this.pktLen = this.head.readUInt32BE(0);
      if (this.pktLen === 0 || this.pktLen > this.sftp._maxInPktLen) {
        // ssh2 rejects it: give it the length bytes and what follows, untouched.
        this.passthrough = true;
        this.push(Buffer.from(this.head.subarray(0, 4)));
        this.headLen = 0;
        return p;
      }
    }
    const want = Math.min(HEAD, 4 + this.pktLen);
    const n = Math.min(want - this.headLen, chunk.length - p);
    chunk.copy(this.head, this.headLen, p, p + n);
    this.headLen += n;
    p += n;
    if (this.headLen < want) return p;
    this.decide();
    return p;
  }

  // With the head in hand: straight into the READ's buffer, or the whole packet to ssh2.
  private decide(): void {
    const h = this.head;
    const dataLen = this.headLen === HEAD ? dataReplyLength(h) : -1;
    if (dataLen >= 0) {
      const id = messageId(h);
      const req = this.sftp._requests[id];
      if (req && typeof req.cb === 'function' && Buffer.isBuffer(req.buffer) && dataLen <= req.buffer.length) {
        [this.req, this.id, this.dataLen, this.dataPos] = [req, id, dataLen, 0];
        if (dataLen === 0) this.completeData();
        return;
      }
    }
    this.whole = Buffer.allocUnsafe(4 + this.pktLen);
    h.copy(this.whole, 0, 0, this.headLen);
    this.wholePos = this.headLen;
    if (this.wholePos === this.whole.length) this.completeWhole();
  }

  private fillData(chunk: Buffer, p: number): number {
    const n = Math.min(this.dataLen - this.dataPos, chunk.length - p);
    chunk.copy(this.req!.buffer!, this.dataPos, p, p + n);
    this.dataPos += n;
    if (this.dataPos === this.dataLen) this.completeData();
    return p + n;
  }

  private fillWhole(chunk: Buffer, p: number): number {
    const whole = this.whole!;
    const n = Math.min(whole.length - this.wholePos, chunk.length - p);
    chunk.copy(whole, this.wholePos, p, p + n);
    this.wholePos += n;
    if (this.wholePos === whole.length) this.completeWhole();
    return p + n;
  }

  // As ssh2's DATA handler: the request leaves the table, then its callback runs.
  private completeData(): void {
    const req = this.req!;
    const nb = this.dataLen;
    this.req = null;
    this.headLen = 0;
    delete this.sftp._requests[this.id];
    req.cb!(undefined, req.buffer!, nb);
  }

  private completeWhole(): void {
    const whole = this.whole!;
    this.whole = null;
    this.headLen = 0;
    this.push(whole);
  }
}
