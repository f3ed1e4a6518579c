/**
 * File hashing on worker threads (hash-worker.ts), so check-file and the exec hash commands cost
 * the event loop nothing: hashing 512 MiB of sha256 is ~0.5 s of CPU, which on the main thread
 * delayed every other session's replies and the upload it was verifying.
 *
 * Contract: hash(fd, ...) reads the descriptor with pread from another thread, so the caller must
 * keep `fd` open until the promise settles (LocalFile's callers run inside a handle-table
 * operation, which a CLOSE waits for). The promise never settles while a worker may still read
 * `fd`: a cancelled job whose slice is being hashed settles when that slice comes back.
 *
 * Jobs are served a 4 MiB slice at a time in the order of hash-schedule.ts: fair between owners
 * (users; a user with 2,560 queued hashes gets the share of a user with one), then fewest bytes
 * left first within an owner. A job's hash state lives in the worker that started it. A job
 * whose signal aborts (its session ended) is dropped: out of the queue at once, or after its
 * running slice (no further slice is started); its promise rejects with a FAILURE VfsError.
 * Workers are created on demand, at most `size` of them, and do not keep the process alive while
 * idle. hash() returns null when no worker can be started (the caller decides what to do).
 * Each worker thread runs 10 nice levels below the event loop (hash-worker.ts, Linux), so hashing
 * takes the CPU the sessions leave rather than competing with them for it.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { FairSchedule, type ScheduledJob } from './hash-schedule.js';
import { VfsError } from './vfs-error.js';
import type { HashOptions } from './vfs.js';

/** Bytes per slice: ~4 ms of sha256 here. */
const SLICE = 4 * 1024 * 1024;
/**
 * The least a slice costs its owner in the schedule, however few bytes it hashes: a message to a
 * worker and back (~60 µs here) costs about what hashing 64 KiB does (~90 µs of sha256), so a
 * flood of empty hashes is charged for the time it takes.
 */
const SLICE_COST_FLOOR = 64 * 1024;

interface Job extends ScheduledJob<Slot> {
  id: number;
  fd: number;
  algorithm: string;
  start: number;
  total: number;
  block: number;
  done: number;
  /** Digests so far: one buffer per slice that completed any. */
  digests: Buffer[];
  signal: AbortSignal | undefined;
  /** A slice of it is being hashed (a worker may be reading fd). */
  running: boolean;
  cancelled: boolean;
  settled: boolean;
  resolve(digests: Buffer): void;
  reject(err: Error): void;
}

interface Slot {
  worker: Worker;
  running: Job | null;
  /** The slice being hashed: how many bytes were asked for. */
  asked: number;
}

interface Reply {
  id: number;
  bytes?: number;
  /** The slice's digests, concatenated. */
  digests?: Uint8Array;
  error?: { message: string; code?: string };
}

/** The error a cancelled hash rejects with (FAILURE: nobody is left to read it). */
export const hashCancelled = (): VfsError => new VfsError('FAILURE', 'Hash cancelled: the session ended');

/** A pool of hash workers shared fairly between owners (see the file comment). */
export class HashPool {
  private readonly slots: Slot[] = [];
  private readonly queue = new FairSchedule<Slot, Job>((job) => Math.max(SLICE_COST_FLOOR, Math.min(SLICE, job.remaining)));
  /** Unsettled jobs by their abort signal: one listener per signal, however many jobs. */
  private readonly watched = new Map<AbortSignal, Set<Job>>();
  private nextId = 1;
  private live = 0;
  private served = 0;

  constructor(private readonly size: number = Math.max(1, Math.min(4, availableParallelism()))) {}

  /**
   * Digests of [start, start + total) of `fd`, concatenated: one per `block` bytes (block = total:
   * one for the range). Stops early, like a read loop, when the file ends. Null when no worker is
   * available.
   */
  hash(fd: number, algorithm: string, start: number, total: number, block: number, opts: HashOptions = {}): Promise<Buffer> | null {
    if (opts.signal?.aborted) return Promise.reject(hashCancelled());
    if (this.slots.length === 0 && !this.spawn()) return null;
    return new Promise<Buffer>((resolve, reject) => {
      const id = this.nextId++;
      const job: Job = {
        id, owner: opts.owner ?? '', seq: id, remaining: total, worker: null,
        fd, algorithm, start, total, block, done: 0, digests: [], signal: opts.signal,
        running: false, cancelled: false, settled: false, resolve, reject,
      };
      this.live += 1;
      this.watch(job);
      this.queue.add(job);
      this.dispatch();
    });
  }

  /** Jobs queued or being hashed (a gauge for tests and metrics). */
  get pending(): number {
    return this.live;
  }

  /** Jobs waiting for their next slice, none of it being hashed (a gauge for tests and metrics). */
  get queued(): number {
    return this.queue.waiting;
  }

  /** Slices handed to workers so far (a counter for tests and metrics). */
  get slices(): number {
    return this.served;
  }

  /** Workers running now (for tests). */
  get workers(): number {
    return this.slots.length;
  }

  // Gives every idle worker a slice, starting workers (up to `size`) while work is left over.
  private dispatch(): void {
    for (const slot of this.slots) if (!slot.running) this.serve(slot);
    while (this.queue.waiting > 0 && this.slots.length < this.size) {
      const slot = this.spawn();
      if (!slot || !this.serve(slot)) break;
    }
    // No worker at all and none can be started: nothing would ever serve the queue.
    if (this.slots.length === 0) for (const job of this.queue.takeAll()) this.settle(job, new Error('no hash worker could be started'));
  }

  private spawn(): Slot | null {
    let worker: Worker;
    try {
      worker = new Worker(new URL('./hash-worker.js', import.meta.url));
    } catch {
      return null;
    }
    const slot: Slot = { worker, running: null, asked: 0 };
    worker.on('message', (m: Reply) => this.onReply(slot, m));
    worker.on('error', (err) => this.retire(slot, err));
    worker.on('exit', (code) => this.retire(slot, new Error(`hash worker exited with code ${code}`)));
    // After the listeners: adding a 'message' listener refs the worker again.
    worker.unref();
    this.slots.push(slot);
    return slot;
  }

  // Starts the next slice on an idle worker; false when nothing is left for it.
  private serve(slot: Slot): boolean {
    const job = this.queue.next(slot);
    if (!job) {
      slot.worker.unref();
      return false;
    }
    slot.worker.ref();
    this.served += 1;
    slot.running = job;
    job.running = true;
    slot.asked = Math.min(SLICE, job.total - job.done);
    const last = job.done + slot.asked >= job.total;
    slot.worker.postMessage({ id: job.id, fd: job.fd, algorithm: job.algorithm, position: job.start + job.done, length: slot.asked, block: job.block, last });
    return true;
  }

  private onReply(slot: Slot, m: Reply): void {
    const job = slot.running;
    if (!job || job.id !== m.id) return;
    slot.running = null;
    job.running = false;
    const ended = m.error !== undefined || job.done + (m.bytes ?? 0) >= job.total || (m.bytes ?? 0) < slot.asked;
    if (job.cancelled) {
      // The worker is done with fd; its hash state goes too (it kept it unless the job ended).
      if (!ended) slot.worker.postMessage({ id: job.id, abort: true });
      this.queue.finish(job);
      this.settle(job, hashCancelled());
    } else if (m.error) {
      this.queue.finish(job);
      this.settle(job, Object.assign(new Error(m.error.message), m.error.code ? { code: m.error.code } : {}));
    } else {
      const d = m.digests;
      if (d && d.byteLength > 0) job.digests.push(Buffer.from(d.buffer, d.byteOffset, d.byteLength));
      job.done += m.bytes ?? 0;
      job.remaining = job.total - job.done;
      if (ended) {
        this.queue.finish(job);
        this.settle(job, null);
      } else this.queue.putBack(job);
    }
    this.serve(slot);
  }

  // Drops a job whose signal aborted: at once when queued, after its slice when one is running.
  private cancel(job: Job, err: Error): void {
    if (job.settled || job.cancelled) return;
    job.cancelled = true;
    if (job.running) return; // onReply settles it: until then a worker may be reading job.fd
    this.queue.remove(job);
    if (job.worker) job.worker.worker.postMessage({ id: job.id, abort: true });
    this.settle(job, err);
  }

  private settle(job: Job, err: Error | null): void {
    job.settled = true;
    this.live -= 1;
    this.unwatch(job);
    if (err) job.reject(err);
    else job.resolve(job.digests.length === 1 ? job.digests[0]! : Buffer.concat(job.digests));
  }

  private readonly onAbort = (event: Event): void => {
    const signal = event.target as AbortSignal;
    const jobs = this.watched.get(signal);
    this.watched.delete(signal);
    // One error for all of them: a session's end drops up to 64 jobs, an Error's stack costs ~10 µs.
    const err = hashCancelled();
    for (const job of jobs ?? []) this.cancel(job, err);
  };

  private watch(job: Job): void {
    if (!job.signal) return;
    let jobs = this.watched.get(job.signal);
    if (!jobs) {
      this.watched.set(job.signal, (jobs = new Set()));
      job.signal.addEventListener('abort', this.onAbort, { once: true });
    }
    jobs.add(job);
  }

  private unwatch(job: Job): void {
    const jobs = job.signal && this.watched.get(job.signal);
    if (!jobs) return;
    jobs.delete(job);
    if (jobs.size > 0) return;
    this.watched.delete(job.signal!);
    job.signal!.removeEventListener('abort', this.onAbort);
  }

  // A worker that failed or exited: the jobs it held fail (their hash state is gone); jobs not
  // started yet stay queued for the other workers, or for a new one.
  private retire(slot: Slot, err: Error): void {
    const i = this.slots.indexOf(slot);
    if (i < 0) return;
    this.slots.splice(i, 1);
    const lost = this.queue.dropWorker(slot);
    if (slot.running) {
      this.queue.finish(slot.running);
      lost.push(slot.running);
      slot.running.running = false;
      slot.running = null;
    }
    for (const job of lost) this.settle(job, job.cancelled ? hashCancelled() : err);
    void slot.worker.terminate();
    this.dispatch();
  }
}

/** The process's pool. */
export const hashPool = new HashPool();
