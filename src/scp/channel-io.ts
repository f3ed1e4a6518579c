/**
 * Reading and writing an scp channel with bounded memory. The reader keeps at most `highWater`
 * bytes queued: past that it pauses the channel, so ssh2 stops opening the client's window until
 * the sink has written what it holds to disk. The writer waits for 'drain' whenever the channel
 * says it is full, so a client that never reads cannot make the server buffer a file.
 */
import type { Readable, Writable } from 'node:stream';
import { ScpProtocolError } from './records.js';

/** The channel closed (or the session ended) before the protocol was done. */
export class ScpConnectionLost extends Error {
  constructor() {
    super('lost connection');
  }
}

/** A client's answer to a record or a file: ok, or its error line. */
export type ScpResponse = { ok: true } | { ok: false; fatal: boolean; message: string };

/** Pull-style reads from a channel: bytes, lines and blocks, with back-pressure. */
export class ScpReader {
  private readonly chunks: Buffer[] = [];
  private head = 0;
  private queued = 0;
  private ended = false;
  private paused = false;
  private wake: (() => void) | null = null;

  constructor(
    private readonly stream: Readable,
    private readonly highWater = 512 * 1024,
  ) {
    stream.on('data', this.onData);
    stream.on('end', this.onEnd);
    stream.on('close', this.onEnd);
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.ended || chunk.length === 0) return;
    this.chunks.push(chunk);
    this.queued += chunk.length;
    if (this.queued >= this.highWater && !this.paused) {
      this.paused = true;
      this.stream.pause();
    }
    this.notify();
  };

  private readonly onEnd = (): void => {
    this.ended = true;
    this.notify();
  };

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  /** Stops reading: queued bytes are dropped and every later read sees the end of input. */
  close(): void {
    this.stream.off('data', this.onData);
    this.stream.off('end', this.onEnd);
    this.stream.off('close', this.onEnd);
    this.chunks.length = 0;
    this.queued = 0;
    this.onEnd();
  }

  /** Resolves true once a byte is queued, false at the end of input. */
  private async available(): Promise<boolean> {
    while (this.queued === 0 && !this.ended) await new Promise<void>((resolve) => (this.wake = resolve));
    return this.queued > 0;
  }

  /** Takes `n` bytes (at most the rest of the first chunk) off the queue. */
  private take(n: number): Buffer {
    const chunk = this.chunks[0]!;
    const out = chunk.subarray(this.head, this.head + n);
    this.head += out.length;
    this.queued -= out.length;
    if (this.head >= chunk.length) {
      this.chunks.shift();
      this.head = 0;
    }
    if (this.paused && this.queued < this.highWater / 2) {
      this.paused = false;
      this.stream.resume();
    }
    return out;
  }

  /** One byte, or null at the end of input. */
  async readByte(): Promise<number | null> {
    if (!(await this.available())) return null;
    return this.take(1)[0]!;
  }

  /**
   * The bytes up to the next newline (not included), or null at the end of input before any byte.
   * Throws ScpProtocolError past `max` bytes and ScpConnectionLost when the input ends mid-line.
   */
  async readLine(max: number): Promise<Buffer | null> {
    const parts: Buffer[] = [];
    let length = 0;
    for (;;) {
      if (!(await this.available())) {
        if (parts.length === 0) return null;
        throw new ScpConnectionLost();
      }
      const chunk = this.chunks[0]!;
      const nl = chunk.indexOf(0x0a, this.head);
      const stop = nl < 0 ? chunk.length : nl;
      length += stop - this.head;
      if (length >= max) throw new ScpProtocolError('record too long');
      parts.push(this.take(stop - this.head));
      if (nl >= 0) {
        this.take(1);
        return parts.length === 1 ? parts[0]! : Buffer.concat(parts, length);
      }
    }
  }

  /** Up to `max` bytes (whatever is queued, at least one), or null at the end of input. */
  async read(max: number): Promise<Buffer | null> {
    if (!(await this.available())) return null;
    const first = this.take(Math.min(max, this.chunks[0]!.length - this.head));
    if (first.length === max || this.queued === 0) return first;
    const parts = [first];
    let length = first.length;
    while (length < max && this.queued > 0) {
      const part = this.take(Math.min(max - length, this.chunks[0]!.length - this.head));
      parts.push(part);
      length += part.length;
    }
    return Buffer.concat(parts, length);
  }

  /**
   * A client's status byte and, for \x01/\x02, the rest of its line. Any other byte throws
   * ScpProtocolError, as OpenSSH's response() exits on it: the stream is out of step (a file sent
   * longer than its C record said), and reading on would take its data for records.
   */
  async readResponse(): Promise<ScpResponse> {
    const first = await this.readByte();
    if (first === null) throw new ScpConnectionLost();
    if (first === 0) return { ok: true };
    if (first !== 1 && first !== 2) throw new ScpProtocolError(`expected a status byte, got 0x${first.toString(16).padStart(2, '0')}`);
    const rest = (await this.readLine(2048)) ?? Buffer.alloc(0);
    return { ok: false, fatal: first === 2, message: rest.toString('utf8') };
  }
}

/** Writes to a channel, waiting while it is full; fails with ScpConnectionLost once it closed. */
export class ScpWriter {
  private closed = false;
  private wake: (() => void) | null = null;

  constructor(private readonly stream: Writable) {
    stream.on('drain', this.onDrain);
    stream.on('close', this.onClose);
  }

  private readonly onDrain = (): void => {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  };

  private readonly onClose = (): void => {
    this.closed = true;
    this.onDrain();
  };

  /** Marks the writer closed (the session ends): a write waiting for room fails. */
  close(): void {
    this.stream.off('drain', this.onDrain);
    this.stream.off('close', this.onClose);
    this.onClose();
  }

  /** Writes `data`; resolves once the channel can take more. */
  async write(data: Buffer | string): Promise<void> {
    if (this.closed || this.stream.writableEnded || this.stream.destroyed) throw new ScpConnectionLost();
    if (this.stream.write(data)) return;
    await new Promise<void>((resolve) => (this.wake = resolve));
    if (this.closed) throw new ScpConnectionLost();
  }
}
