/**
 * The in-process stand-in for ssh2's channel: a Duplex whose readable side carries the client's
 * bytes to the session (push) and whose writable side receives the session's replies. Replies are
 * framed and decoded as they arrive, before the write callback (DATA replies live in pooled
 * buffers that the server reuses once the callback ran). A small writable high-water mark and
 * delayed callbacks make the session see back-pressure ('drain').
 */
import { Duplex } from 'node:stream';
import { decodeReply, type SftpReply } from '../../src/sftp/packets/packet.js';

/** How the channel behaves. */
export interface ChannelOptions {
  /** writableHighWaterMark: small values make write() return false often. */
  highWaterMark: number;
  /** Call each write's callback on a later turn (a slow peer). */
  slowWrites: boolean;
}

/** One reply as received: the raw payload and its decoding (or the decoding error). */
export interface ReceivedReply {
  payload: Buffer;
  reply: SftpReply | null;
  error: string | null;
}

/** The session's side of the fake channel. */
export class FuzzChannel extends Duplex {
  readonly replies: ReceivedReply[] = [];
  /** Every exit(status) the session called. */
  readonly exits: number[] = [];
  /** The session called end() on its side. */
  serverEnded = false;
  /** Bytes that do not (yet) form a whole reply. */
  private partial: Buffer = Buffer.alloc(0);
  private waiters: Array<() => void> = [];

  constructor(private readonly opts: ChannelOptions) {
    super({ writableHighWaterMark: opts.highWaterMark, allowHalfOpen: true });
    this.once('close', () => this.notify());
  }

  override _read(): void {}

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.collect(chunk);
    this.notify();
    if (this.opts.slowWrites) setImmediate(cb);
    else cb();
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.serverEnded = true;
    this.notify();
    cb();
  }

  /** ssh2's ServerChannel.exit(status), which the session calls at a clean end. */
  exit(status: number): void {
    this.exits.push(status);
  }

  /** Client bytes to the session (ignored once the channel is destroyed). */
  send(bytes: Buffer): void {
    if (!this.destroyed && !this.readableEnded) this.push(bytes);
  }

  /** The client's EOF. */
  sendEof(): void {
    if (!this.destroyed) this.push(null);
  }

  /** Resolves when `done()` holds (checked after every reply and at close), or after `ms`. */
  async until(done: () => boolean, ms: number): Promise<boolean> {
    if (done()) return true;
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish(false), ms);
      const check = (): void => {
        if (done()) finish(true);
      };
      const finish = (ok: boolean): void => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((l) => l !== check);
        resolve(ok);
      };
      this.waiters.push(check);
    });
  }

  private notify(): void {
    for (const l of [...this.waiters]) l();
  }

  private collect(chunk: Buffer): void {
    let buf = this.partial.length === 0 ? chunk : Buffer.concat([this.partial, chunk]);
    while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
      const len = buf.readUInt32BE(0);
      // Copied: the server may reuse the memory of a DATA reply once the write callback ran.
      const payload = Buffer.from(buf.subarray(4, 4 + len));
      this.replies.push(decodeOne(payload));
      buf = buf.subarray(4 + len);
    }
    this.partial = Buffer.from(buf);
  }

  /** Bytes left over that never formed a whole reply. */
  get leftover(): number {
    return this.partial.length;
  }
}

function decodeOne(payload: Buffer): ReceivedReply {
  try {
    return { payload, reply: decodeReply(payload), error: null };
  } catch (err) {
    return { payload, reply: null, error: String((err as Error).message) };
  }
}
