/**
 * The client's local hashing, on the calling thread or on a worker thread (hash-thread-worker.ts).
 * sha256 of 512 MiB is ~0.3 s of CPU here (SHA instructions). On the thread, the main thread only
 * copies each chunk into a shared 16 MiB ring (~0.05 s per 512 MiB) and posts its length; the
 * thread hashes in the same order.
 *
 * Where a hash runs (defaultPlace): on the thread only when there is a core to spare for it. With
 * two cores, the transfer's own threads (main thread, libuv's file I/O, the kernel's network
 * stack, and against a local server the server too) already keep both busy, so the ring copy and
 * the wake-ups are pure cost: verified 512 MiB transfers against a local Coffer took 7% longer
 * with the thread than on the main thread (put 1.29 vs 1.20 s, get 1.25 vs 1.16 s, interleaved
 * medians of 9 on 2 vCPUs). With more cores the thread takes the hashing off the main thread's
 * critical path, as it did before this choice existed (not measurable here: every machine of
 * this project has 2 cores).
 *
 * A file prefix (hashFilePrefix, for a resume) is always read and hashed on the thread, while the
 * server hashes the same prefix.
 *
 * Contract: update() takes the bytes at once (hashed, or copied into the ring), so the caller may
 * reuse its buffer at once; on the thread it blocks (Atomics.wait) only when the thread is a
 * whole ring behind. Every operation on every hash runs in the order it was called. The thread
 * is started on first use, shared by all hashes, and does not keep the process alive while idle.
 */
import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { ClientError } from './errors.js';
import type { HashOp, HashReply } from './hash-thread-worker.js';

const RING_BYTES = 16 * 1024 * 1024;
/**
 * Updates of one hash are announced together every 4 MiB, and before any other operation or a
 * wait for room: a message per 255 KiB chunk cost the main thread 0.2 s per 512 MiB in
 * postMessage alone. The thread may lag up to this much; an answer (peek, digest) flushes first.
 */
const POST_BYTES = 4 * 1024 * 1024;
/** How long one wait for ring space may block before checking that the thread is alive. */
const WAIT_MS = 1000;

/** A hash computed on the hash thread, fed in order. */
export interface StreamHash {
  /** Feeds bytes (copied at once). */
  update(data: Uint8Array): void;
  /** The digest of everything fed so far; the hash goes on. */
  peek(): Promise<Buffer>;
  /** The final digest; the hash is done. */
  digest(): Promise<Buffer>;
}

/** The operations that answer, without their ticket. */
type Question = Extract<HashOp, { ticket: number }> extends infer T ? (T extends unknown ? Omit<T, 'ticket'> : never) : never;

class HashThread {
  private readonly worker: Worker;
  private readonly ring = new SharedArrayBuffer(RING_BYTES);
  private readonly bytes = new Uint8Array(this.ring);
  private readonly freed = new BigInt64Array(new SharedArrayBuffer(8));
  /** Bytes put in the ring so far. */
  private written = 0n;
  private writePos = 0;
  private nextTicket = 1;
  /** Bytes in the ring not yet announced to the thread, all for one hash. */
  private pending: { id: number; length: number } | null = null;
  private readonly waiting = new Map<number, { resolve(d: Buffer): void; reject(e: Error): void }>();
  failure: Error | null = null;

  constructor() {
    this.worker = new Worker(new URL('./hash-thread-worker.js', import.meta.url), { workerData: { ring: this.ring, control: this.freed.buffer } });
    this.worker.on('message', (m: HashReply) => this.onReply(m));
    this.worker.on('error', (err) => this.fail(err));
    this.worker.on('exit', (code) => this.fail(new Error(`the hash thread exited (code ${code})`)));
    // After the listeners: adding a 'message' listener refs the worker again.
    this.worker.unref();
  }

  post(m: HashOp): void {
    if (this.failure) throw this.failure;
    this.flush();
    this.worker.postMessage(m);
  }

  /** Posts an operation that answers; the thread is kept alive until it does. */
  ask(m: Question): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      if (this.failure) return reject(this.failure);
      const ticket = this.nextTicket++;
      this.waiting.set(ticket, { resolve, reject });
      this.worker.ref();
      this.flush();
      this.worker.postMessage({ ...m, ticket } as HashOp);
    });
  }

  /** Copies `data` into the ring and has the thread hash it for hash `id`. */
  feed(id: number, data: Uint8Array): void {
    if (this.failure) throw this.failure;
    let p = 0;
    while (p < data.length) {
      const n = Math.min(data.length - p, RING_BYTES);
      this.waitForRoom(n);
      const first = Math.min(n, RING_BYTES - this.writePos);
      this.bytes.set(data.subarray(p, p + first), this.writePos);
      if (first < n) this.bytes.set(data.subarray(p + first, p + n), 0);
      this.writePos = (this.writePos + n) % RING_BYTES;
      this.written += BigInt(n);
      if (this.pending && this.pending.id !== id) this.flush();
      if (this.pending) this.pending.length += n;
      else this.pending = { id, length: n };
      if (this.pending.length >= POST_BYTES) this.flush();
      p += n;
    }
  }

  /** Announces the bytes put in the ring since the last announcement. */
  private flush(): void {
    if (!this.pending || this.failure) return;
    this.worker.postMessage({ op: 'update', id: this.pending.id, length: this.pending.length } satisfies HashOp);
    this.pending = null;
  }

  private waitForRoom(n: number): void {
    for (;;) {
      const freed = Atomics.load(this.freed, 0);
      if (this.written - freed + BigInt(n) <= BigInt(RING_BYTES)) return;
      this.flush(); // the thread can only free what it was told about
      if (Atomics.wait(this.freed, 0, freed, WAIT_MS) === 'timed-out' && this.failure) throw this.failure;
      if (this.failure) throw this.failure;
    }
  }

  private onReply(m: HashReply): void {
    const w = this.waiting.get(m.ticket);
    if (!w) return;
    this.waiting.delete(m.ticket);
    if (this.waiting.size === 0) this.worker.unref();
    if ('error' in m) {
      const err = m.error.code === 'COFFER_SHORT' ? new ClientError('COFFER_LOCAL', m.error.message) : Object.assign(new Error(m.error.message), m.error.code ? { code: m.error.code } : {});
      w.reject(err);
    } else w.resolve(Buffer.from(m.digest.buffer, m.digest.byteOffset, m.digest.byteLength));
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const w of this.waiting.values()) w.reject(this.failure);
    this.waiting.clear();
  }
}

let current: HashThread | null = null;
let nextId = 1;

/**
 * Hashes expected to see no more than this are computed at once on the calling thread: ~0.15 ms
 * of sha256, less than the messages to the thread and back (a tree of small files spent more
 * time posting to the thread than hashing).
 */
export const INLINE_BYTES = 256 * 1024;

/** Where a hash is computed: on the hash thread, or at once on the calling thread. */
export type HashPlace = 'thread' | 'inline';

/** Fewest cores for which larger hashes go to the hash thread (see the top of this file). */
export const THREAD_MIN_CORES = 3;

/** This machine's cores, read once (a hash is placed per file, and per segment of an upload). */
const CORES = availableParallelism();

/** Where a hash expected to see `expected` bytes runs on a machine with `cores` cores. */
export function defaultPlace(expected: number, cores = CORES): HashPlace {
  return expected > INLINE_BYTES && cores >= THREAD_MIN_CORES ? 'thread' : 'inline';
}

/**
 * A new hash of `algorithm` (a node:crypto name) that the caller expects to feed `expected`
 * bytes, computed where `place` says (by default defaultPlace's choice). Either way the contract
 * of StreamHash holds (the bytes are taken at once; the hash may be fed past `expected`).
 */
export function streamHash(algorithm: string, expected = Infinity, place: HashPlace = defaultPlace(expected)): StreamHash {
  return place === 'inline' ? inlineHash(algorithm) : create(algorithm).hash;
}

function inlineHash(algorithm: string): StreamHash {
  const hash = createHash(algorithm);
  return {
    update: (data) => void hash.update(data),
    peek: async () => hash.copy().digest(),
    digest: async () => hash.digest(),
  };
}

/**
 * A hash fed with the first `length` bytes of a local file, read and hashed on the thread; it can
 * be fed further. Rejects with COFFER_LOCAL when the file is shorter, or the file's errno error.
 */
export async function hashFilePrefix(path: string, algorithm: string, length: number): Promise<StreamHash> {
  const { thread, id, hash } = create(algorithm);
  await thread.ask({ op: 'file', id, path, length });
  return hash;
}

function create(algorithm: string): { thread: HashThread; id: number; hash: StreamHash } {
  if (!current || current.failure) current = new HashThread();
  const thread = current;
  const id = nextId++;
  thread.post({ op: 'create', id, algorithm });
  const hash: StreamHash = {
    update: (data) => thread.feed(id, data),
    peek: () => thread.ask({ op: 'digest', id, end: false }),
    digest: () => thread.ask({ op: 'digest', id, end: true }),
  };
  return { thread, id, hash };
}
