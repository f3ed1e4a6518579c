/**
 * The thread side of hash-pool.ts: hashes slices of open files by descriptor (worker threads
 * share the process's descriptor table, and pread leaves the file position alone). A job's hash
 * state stays here between slices, so the pool can interleave many jobs fairly.
 *
 * Messages in:  { id, fd, algorithm, position, length, block, last }  (one slice)
 *               { id, abort: true }                                   (forget a job)
 * Messages out: { id, bytes, digests }  digests completed in the slice (a block's, or the
 *               whole range's when `last`), concatenated in one buffer (transferred): one
 *               object for the event loop to take in however many blocks, where one array
 *               element per 256-byte block cost it 75-128 ms per 4 MiB slice of md5.
 *               bytes < length means the file ended early.
 *               { id, error }
 */
import { createHash, type Hash } from 'node:crypto';
import { readSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { lowerThreadPriority } from '../util/thread-priority.js';

interface Job {
  hash: Hash;
  /** Bytes of one digest of the job's algorithm. */
  size: number;
  inBlock: number;
  /** Digests sent so far (an empty range still gets one: the digest of nothing). */
  emitted: number;
}

interface Slice {
  id: number;
  abort?: true;
  fd: number;
  algorithm: string;
  position: number;
  length: number;
  block: number;
  last: boolean;
}

/**
 * Hashing is bulk work a client waits for at the end of a transfer; the event loop serves every
 * session. With this thread 10 nice levels down (about a tenth of a core's share against a busy
 * event loop), an upload's segment hashing fills the time the event loop leaves instead of
 * preempting it: `coffer put` of 512 MiB went from 1.50 to 1.37 s here (2 vCPUs, interleaved
 * medians). On an idle core it runs at full speed as before.
 */
const HASH_THREAD_NICE = 10;
lowerThreadPriority(HASH_THREAD_NICE);

const READ_SIZE = 1024 * 1024;
const buf = Buffer.allocUnsafe(READ_SIZE);
const jobs = new Map<number, Job>();

// Hashes one slice; returns the bytes read and the digests completed, concatenated.
function hashSlice(job: Job, m: Slice): { done: number; digests: Buffer } {
  const block = m.block > 0 ? m.block : Infinity; // no block size: one digest for the range
  // Room for every block ending in the slice and the range's last partial one (never pooled: transferred).
  const out = Buffer.allocUnsafeSlow((Math.floor((job.inBlock + m.length) / block) + 1) * job.size);
  let count = 0;
  let done = 0;
  while (done < m.length) {
    const n = readSync(m.fd, buf, 0, Math.min(READ_SIZE, m.length - done), m.position + done);
    if (n === 0) break; // the file shrank while it was hashed
    // Whole reads, cut at block boundaries here: a read per block made small blocks slow.
    for (let p = 0; p < n; ) {
      const take = Math.min(n - p, block - job.inBlock);
      job.hash.update(buf.subarray(p, p + take));
      p += take;
      job.inBlock += take;
      if (job.inBlock === block) {
        job.hash.digest().copy(out, count++ * job.size);
        job.hash = createHash(m.algorithm);
        job.inBlock = 0;
      }
    }
    done += n;
  }
  if ((m.last || done < m.length) && (job.inBlock > 0 || job.emitted + count === 0)) job.hash.digest().copy(out, count++ * job.size);
  job.emitted += count;
  return { done, digests: out.subarray(0, count * job.size) };
}

parentPort!.on('message', (m: Slice) => {
  if (m.abort) {
    jobs.delete(m.id);
    return;
  }
  try {
    let job = jobs.get(m.id);
    if (!job) jobs.set(m.id, (job = { hash: createHash(m.algorithm), size: createHash(m.algorithm).digest().length, inBlock: 0, emitted: 0 }));
    const { done, digests } = hashSlice(job, m);
    if (m.last || done < m.length) jobs.delete(m.id);
    parentPort!.postMessage({ id: m.id, bytes: done, digests }, [digests.buffer as ArrayBuffer]);
  } catch (err) {
    jobs.delete(m.id);
    const e = err as NodeJS.ErrnoException;
    parentPort!.postMessage({ id: m.id, error: { message: e.message, code: e.code } });
  }
});
