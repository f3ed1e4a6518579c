/**
 * The pipelined data loops (OpenSSH sftp-client.c do_download/do_upload): up to `inflight`
 * READ or WRITE requests of `chunk` bytes outstanding on one handle, bytes hashed in file order
 * while they stream, and a contiguous "highwater" so an interrupted transfer leaves a part file
 * that holds only data known to be right. ssh2-sftp-client's fastGet/fastPut cannot do this: they
 * always start at offset 0 and open the target with 'w'.
 */
import type { FileHandle } from 'node:fs/promises';
import type { SFTPWrapper } from 'ssh2';
import { RequestWriter, type WriteSlot } from './direct-writes.js';
import { ClientError, InterruptedError } from './errors.js';

/** What both directions need. */
export interface RangeJob {
  sftp: SFTPWrapper;
  /** The remote file's SFTP handle. */
  handle: Buffer;
  /** The local file (read for uploads, written for downloads). */
  local: FileHandle;
  /** First byte to move (the resume offset) and the end (the file size). */
  start: number;
  end: number;
  chunk: number;
  inflight: number;
  /** Fed with every byte from `start` on, in order; null with --no-verify. */
  hash: { update(data: Buffer): unknown } | null;
  /** Called with the contiguous byte count moved so far (from 0, not from start). */
  onProgress(done: number): void;
  signal?: AbortSignal | undefined;
  /** The connection's lost signal: the loop stops at once, not waiting for replies that will never come. */
  lost?: AbortSignal | undefined;
}

/** A transfer that stopped early; `highwater` is the end of the data known to be complete. */
export class TransferStopped extends ClientError {
  constructor(
    override readonly cause: Error,
    readonly highwater: number,
  ) {
    super(cause instanceof ClientError ? cause.code : 'COFFER_TRANSFER', cause.message);
  }
}

/** How long to wait for outstanding replies after a failure before giving up on them. */
const SETTLE_MS = 10_000;

/** Shared bookkeeping: outstanding requests, the first failure, settling, abort. */
abstract class Pipeline {
  protected outstanding = 0;
  protected failure: Error | null = null;
  protected next: number;
  private finish!: { resolve(v: number): void; reject(e: Error): void };
  private settleTimer: NodeJS.Timeout | undefined;
  /** The connection dropped: outstanding requests will never be answered. */
  private abandoned = false;
  private readonly onAbort = () => this.fail(new InterruptedError());
  private readonly onLost = () => {
    this.abandoned = true;
    // The loss explains the requests ssh2 failed as it closed ("No response from server").
    if (!(this.failure instanceof InterruptedError)) this.failure = this.job.lost!.reason as Error;
    this.fail(this.failure);
  };

  constructor(protected readonly job: RangeJob) {
    this.next = job.start;
  }

  /** Resolves with `end` when every byte is done; rejects with TransferStopped. */
  run(): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      this.finish = { resolve, reject };
      if (this.job.lost?.aborted) return this.onLost();
      if (this.job.signal?.aborted) return this.fail(new InterruptedError());
      this.job.signal?.addEventListener('abort', this.onAbort, { once: true });
      this.job.lost?.addEventListener('abort', this.onLost, { once: true });
      this.pump();
    }).finally(() => {
      this.job.signal?.removeEventListener('abort', this.onAbort);
      this.job.lost?.removeEventListener('abort', this.onLost);
      clearTimeout(this.settleTimer);
    });
  }

  /** Contiguous bytes complete. */
  protected abstract get highwater(): number;
  /** Issues requests while there is room. */
  protected abstract pump(): void;
  /** True while local work (reads or writes) is still under way. */
  protected abstract get localBusy(): boolean;

  protected fail(err: Error): void {
    if (!this.failure) {
      this.failure = err;
      this.settleTimer = setTimeout(() => this.finish.reject(new TransferStopped(err, this.highwater)), SETTLE_MS);
      this.settleTimer.unref();
    }
    this.checkDone();
  }

  protected checkDone(): void {
    if ((this.outstanding > 0 && !this.abandoned) || this.localBusy) return;
    if (this.failure) this.finish.reject(new TransferStopped(this.failure, this.highwater));
    else if (this.highwater >= this.job.end) this.finish.resolve(this.job.end);
  }
}

/** Remote -> local: reads in flight, data written to the part file strictly in file order. */
export class Download extends Pipeline {
  private readonly ready = new Map<number, Buffer>();
  private hashed: number;
  private written: number;
  private writing = false;
  private readonly queue: Array<[number, Buffer]> = [];
  private readonly spare: Buffer[] = [];

  constructor(job: RangeJob) {
    super(job);
    this.hashed = job.start;
    this.written = job.start;
  }

  protected get highwater(): number {
    return this.written;
  }
  protected get localBusy(): boolean {
    return this.writing;
  }

  protected pump(): void {
    const { chunk, inflight, end } = this.job;
    // Bound memory: data read but not yet on disk stays under twice the window.
    while (!this.failure && this.outstanding < inflight && this.next < end && this.next - this.written < 2 * inflight * chunk) {
      const len = Math.min(chunk, end - this.next);
      this.read(this.next, len);
      this.next += len;
    }
    this.checkDone();
  }

  private read(pos: number, len: number): void {
    // Less than a request's worth (a small file, a file's end): a buffer of that size.
    const buf = this.spare.pop() ?? Buffer.allocUnsafe(len < this.job.chunk ? len : this.job.chunk);
    this.outstanding++;
    this.job.sftp.read(this.job.handle, buf, 0, len, pos, (err, nb) => {
      this.outstanding--;
      if (err) return this.fail(err);
      if (nb === 0) return this.fail(new ClientError('COFFER_SHRANK', 'the remote file is shorter than when the transfer started'));
      // A short read: ask again for the rest (OpenSSH does the same).
      if (nb < len && !this.failure) this.read(pos + nb, len - nb);
      this.ready.set(pos, buf.subarray(0, nb));
      this.advance();
      this.pump();
    });
  }

  // Hashes and queues every buffer that continues the contiguous data.
  private advance(): void {
    for (let b = this.ready.get(this.hashed); b !== undefined; b = this.ready.get(this.hashed)) {
      this.ready.delete(this.hashed);
      this.job.hash?.update(b);
      this.queue.push([this.hashed, b]);
      this.hashed += b.length;
    }
    if (!this.writing) void this.drain();
  }

  // Writes the queue in order, many buffers per writev: fewer trips to the thread pool.
  private async drain(): Promise<void> {
    this.writing = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, WRITE_BATCH);
        const pos = batch[0]![0];
        const bufs = batch.map(([, b]) => b);
        const bytes = bufs.reduce((n, b) => n + b.length, 0);
        let done = 0;
        while (done < bytes) done += (await this.job.local.writev(done === 0 ? bufs : rest(bufs, done), pos + done)).bytesWritten;
        this.written = pos + bytes;
        for (const b of bufs) this.recycle(b);
        this.job.onProgress(this.written);
      }
    } catch (err) {
      this.queue.length = 0;
      this.writing = false;
      return this.fail(err as Error);
    }
    this.writing = false;
    this.pump();
  }

  private recycle(buf: Buffer): void {
    if (buf.byteOffset === 0 && buf.buffer.byteLength === this.job.chunk && this.spare.length < this.job.inflight) {
      this.spare.push(Buffer.from(buf.buffer, 0, this.job.chunk));
    }
  }
}

/** Buffers per writev of a download. */
const WRITE_BATCH = 16;

// The buffers after the first `skip` bytes (a short writev is rare but allowed).
function rest(bufs: Buffer[], skip: number): Buffer[] {
  const out: Buffer[] = [];
  for (const b of bufs) {
    if (skip >= b.length) skip -= b.length;
    else {
      out.push(skip > 0 ? b.subarray(skip) : b);
      skip = 0;
    }
  }
  return out;
}

/**
 * Local -> remote: the local file read in order (and hashed) straight into WRITE request buffers
 * (direct-writes.ts), up to READ_CHUNKS requests per readv, WRITEs in flight.
 */
export class Upload extends Pipeline {
  private readonly acked = new Map<number, number>();
  private contiguous: number;
  private reading = false;
  private readonly writer: RequestWriter;

  constructor(job: RangeJob) {
    super(job);
    this.contiguous = job.start;
    // A file smaller than one request gets slots of its size, not 255 KiB each (trees of small files).
    this.writer = new RequestWriter(job.sftp, job.handle, job.chunk, Math.max(1, Math.min(job.chunk, job.end - job.start)));
  }

  protected get highwater(): number {
    return this.contiguous;
  }
  protected get localBusy(): boolean {
    return this.reading;
  }

  protected pump(): void {
    if (!this.reading) void this.fill();
    else this.checkDone();
  }

  private async fill(): Promise<void> {
    this.reading = true;
    const { chunk, inflight, end, local } = this.job;
    const slots: WriteSlot[] = [];
    try {
      while (!this.failure && this.outstanding < inflight && this.next < end) {
        const want = Math.min(READ_CHUNKS, inflight - this.outstanding, Math.ceil((end - this.next) / chunk));
        for (let i = 0; i < want; i++) slots.push(this.writer.acquire());
        const last = Math.min(chunk, end - this.next - (want - 1) * chunk);
        const views = slots.map((s, i) => (i === want - 1 ? s.data.subarray(0, last) : s.data));
        const { bytesRead } = await local.readv(views, this.next);
        if (bytesRead === 0) throw new ClientError('COFFER_SHRANK', 'the local file is shorter than when the transfer started');
        if (this.failure) break;
        let left = bytesRead;
        while (slots.length > 0 && left > 0) {
          const slot = slots.shift()!;
          const n = Math.min(chunk, left);
          this.job.hash?.update(slot.data.subarray(0, n));
          this.write(slot, this.next, n);
          this.next += n;
          left -= n;
        }
        for (const s of slots.splice(0)) this.writer.release(s);
      }
    } catch (err) {
      for (const s of slots.splice(0)) this.writer.release(s);
      this.reading = false;
      return this.fail(err as Error);
    }
    for (const s of slots.splice(0)) this.writer.release(s);
    this.reading = false;
    this.checkDone();
  }

  private write(slot: WriteSlot, pos: number, len: number): void {
    this.outstanding++;
    this.writer.send(slot, len, pos, (err) => {
      this.outstanding--;
      if (err) return this.fail(err);
      this.acked.set(pos, len);
      for (let n = this.acked.get(this.contiguous); n !== undefined; n = this.acked.get(this.contiguous)) {
        this.acked.delete(this.contiguous);
        this.contiguous += n;
      }
      this.job.onProgress(this.contiguous);
      this.pump();
    });
  }
}

/** Chunks read from the local file at a time by an upload. */
const READ_CHUNKS = 4;
