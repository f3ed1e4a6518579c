/**
 * File hashing on worker threads (hash-worker.ts), so check-file and the exec hash commands cost
 * the event loop nothing: hashing 512 MiB of sha256 is ~0.5 s of CPU, which on the main thread
 * delayed every other session's replies and the upload it was verifying.
 *
 * Contract: hash(fd, ...) reads the descriptor with pread from another thread, so the caller must
 * keep `fd` open until the promise settles (LocalFile's callers run inside a handle-table
 * operation, which a CLOSE waits for). Jobs are pinned to one worker (the hash state lives there)
 * and served a 4 MiB slice at a time, round-robin, so a small hash is not stuck behind a large
 * one. Workers are created on demand, at most `size` of them, and do not keep the process alive
 * while idle. hash() returns null when no worker can be started (the caller hashes in-thread).
 * Each worker thread runs 10 nice levels below the event loop (hash-worker.ts, Linux), so hashing
 * takes the CPU the sessions leave rather than competing with them for it.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

/** Bytes per slice: ~4 ms of sha256 here. */
const SLICE = 4 * 1024 * 1024;

interface Job {
  id: number;
  fd: number;
  algorithm: string;
  start: number;
  total: number;
  block: number;
  done: number;
  digests: Buffer[];
  resolve(digests: Buffer[]): void;
  reject(err: Error): void;
}

interface Slot {
  worker: Worker;
  /** Jobs waiting for their next slice, in turn. */
  waiting: Job[];
  running: Job | null;
  /** The slice being hashed: how many bytes were asked for. */
  asked: number;
}

interface Reply {
  id: number;
  bytes?: number;
  digests?: Uint8Array[];
  error?: { message: string; code?: string };
}

export class HashPool {
  private readonly slots: Slot[] = [];
  private nextId = 1;

  constructor(private readonly size: number = Math.max(1, Math.min(4, availableParallelism()))) {}

  /**
   * Digests of [start, start + total) of `fd`: one per `block` bytes (block = total: one for the
   * range). Stops early, like a read loop, when the file ends. Null when no worker is available.
   */
  hash(fd: number, algorithm: string, start: number, total: number, block: number): Promise<Buffer[]> | null {
    const slot = this.pickSlot();
    if (!slot) return null;
    return new Promise<Buffer[]>((resolve, reject) => {
      slot.waiting.push({ id: this.nextId++, fd, algorithm, start, total, block, done: 0, digests: [], resolve, reject });
      this.kick(slot);
    });
  }

  /** Workers running now (for tests). */
  get workers(): number {
    return this.slots.length;
  }

  // The least loaded worker, starting a new one while there are fewer than `size`.
  private pickSlot(): Slot | null {
    const load = (s: Slot) => s.waiting.length + (s.running ? 1 : 0);
    const idle = this.slots.find((s) => load(s) === 0);
    if (idle) return idle;
    if (this.slots.length < this.size) {
      const fresh = this.spawn();
      if (fresh) return fresh;
    }
    return this.slots.reduce<Slot | null>((best, s) => (best === null || load(s) < load(best) ? s : best), null);
  }

  private spawn(): Slot | null {
    let worker: Worker;
    try {
      worker = new Worker(new URL('./hash-worker.js', import.meta.url));
    } catch {
      return null;
    }
    const slot: Slot = { worker, waiting: [], running: null, asked: 0 };
    worker.on('message', (m: Reply) => this.onReply(slot, m));
    worker.on('error', (err) => this.retire(slot, err));
    worker.on('exit', (code) => this.retire(slot, new Error(`hash worker exited with code ${code}`)));
    // After the listeners: adding a 'message' listener refs the worker again.
    worker.unref();
    this.slots.push(slot);
    return slot;
  }

  private kick(slot: Slot): void {
    if (slot.running) return;
    const job = slot.waiting.shift();
    if (!job) {
      slot.worker.unref();
      return;
    }
    slot.worker.ref();
    slot.running = job;
    slot.asked = Math.min(SLICE, job.total - job.done);
    const last = job.done + slot.asked >= job.total;
    slot.worker.postMessage({ id: job.id, fd: job.fd, algorithm: job.algorithm, position: job.start + job.done, length: slot.asked, block: job.block, last });
  }

  private onReply(slot: Slot, m: Reply): void {
    const job = slot.running;
    if (!job || job.id !== m.id) return;
    slot.running = null;
    if (m.error) {
      job.reject(Object.assign(new Error(m.error.message), m.error.code ? { code: m.error.code } : {}));
    } else {
      for (const d of m.digests ?? []) job.digests.push(Buffer.from(d.buffer, d.byteOffset, d.byteLength));
      job.done += m.bytes ?? 0;
      if (job.done >= job.total || (m.bytes ?? 0) < slot.asked) job.resolve(job.digests);
      else slot.waiting.push(job); // its next slice after the others' turns
    }
    this.kick(slot);
  }

  // A worker that failed or exited: its jobs fail (their hash state is gone); the next job starts a new one.
  private retire(slot: Slot, err: Error): void {
    const i = this.slots.indexOf(slot);
    if (i < 0) return;
    this.slots.splice(i, 1);
    for (const job of [...(slot.running ? [slot.running] : []), ...slot.waiting]) job.reject(err);
    slot.running = null;
    slot.waiting.length = 0;
    void slot.worker.terminate();
  }
}

/** The process's pool. */
export const hashPool = new HashPool();
