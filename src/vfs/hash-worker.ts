/**
 * The thread side of hash-pool.ts: hashes slices of open files by descriptor (worker threads
 * share the process's descriptor table, and pread leaves the file position alone). A job's hash
 * state stays here between slices, so the pool can interleave many jobs fairly.
 *
 * Messages in:  { id, fd, algorithm, position, length, block, last }  (one slice)
 *               { id, abort: true }                                   (forget a job)
 * Messages out: { id, bytes, digests }  digests completed in the slice (a block's, or the
 *               whole range's when `last`); bytes < length means the file ended early.
 *               { id, error }
 */
import { createHash, type Hash } from 'node:crypto';
import { readSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { lowerThreadPriority } from '../util/thread-priority.js';

interface Job {
  hash: Hash;
  inBlock: number;
  /** Digests sent so far (an empty range still gets one: the digest of nothing). */
  emitted: number;
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

parentPort!.on('message', (m: { id: number; abort?: true; fd: number; algorithm: string; position: number; length: number; block: number; last: boolean }) => {
  if (m.abort) {
    jobs.delete(m.id);
    return;
  }
  try {
    let job = jobs.get(m.id);
    if (!job) jobs.set(m.id, (job = { hash: createHash(m.algorithm), inBlock: 0, emitted: 0 }));
    const digests: Buffer[] = [];
    let done = 0;
    while (done < m.length) {
      const want = Math.min(READ_SIZE, m.length - done, m.block - job.inBlock);
      const n = readSync(m.fd, buf, 0, want, m.position + done);
      if (n === 0) break; // the file shrank while it was hashed
      job.hash.update(buf.subarray(0, n));
      done += n;
      job.inBlock += n;
      if (job.inBlock === m.block) {
        digests.push(job.hash.digest());
        job.hash = createHash(m.algorithm);
        job.inBlock = 0;
      }
    }
    const ended = m.last || done < m.length;
    if (ended) {
      if (job.inBlock > 0 || job.emitted + digests.length === 0) digests.push(job.hash.digest());
      jobs.delete(m.id);
    }
    job.emitted += digests.length;
    parentPort!.postMessage({ id: m.id, bytes: done, digests });
  } catch (err) {
    jobs.delete(m.id);
    const e = err as NodeJS.ErrnoException;
    parentPort!.postMessage({ id: m.id, error: { message: e.message, code: e.code } });
  }
});
