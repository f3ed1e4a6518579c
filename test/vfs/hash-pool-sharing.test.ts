/**
 * The hash pool's sharing between owners and its cancellation (src/vfs/hash-pool.ts), with real
 * workers: another owner's small job waits at most about one slice per worker behind an owner
 * with hundreds queued; a one-job owner alternates with a many-job owner; an aborted signal drops
 * a queued job at once (never served), a started job waiting for its next slice at once, and a
 * running job only once its slice has come back (so the caller may close the descriptor: no
 * worker reads it any more), with no further slice; one abort listener per signal however many
 * jobs, removed once they settle. Slices are counted with the pool's `slices` counter.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { getEventListeners } from 'node:events';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Worker } from 'node:worker_threads';
import { HashPool } from '../../src/vfs/hash-pool.js';
import { VfsError } from '../../src/vfs/vfs-error.js';
import { waitFor } from '../support/wait.js';

const MiB = 1024 * 1024;
/** 9 MiB + 333: three slices. */
const BIG = 9 * MiB + 333;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const isCancelled = (err: unknown) => err instanceof VfsError && err.code === 'FAILURE' && /cancelled/.test(err.message);
/** The owner of every slice the pool serves from now on, in order (its schedule's next()). */
function ownersServed(pool: HashPool): string[] {
  const owners: string[] = [];
  const queue = (pool as unknown as { queue: { next(worker: unknown): { owner: string } | null } }).queue;
  const next = queue.next.bind(queue);
  queue.next = (worker) => {
    const job = next(worker);
    if (job) owners.push(job.owner);
    return job;
  };
  return owners;
}
const workerOf = (pool: HashPool) => (pool as unknown as { slots: Array<{ worker: Worker }> }).slots[0]!.worker;

describe('HashPool sharing and cancellation', () => {
  let dir: string;
  let big: Buffer;
  let bigFd: number;
  let small: Buffer;
  let smallFd: number;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'coffer-hash-sharing-'));
    big = randomBytes(BIG);
    small = randomBytes(1000);
    writeFileSync(join(dir, 'big'), big);
    writeFileSync(join(dir, 'small'), small);
    bigFd = openSync(join(dir, 'big'), 'r');
    smallFd = openSync(join(dir, 'small'), 'r');
  });
  after(() => {
    closeSync(bigFd);
    closeSync(smallFd);
    rmSync(dir, { recursive: true, force: true });
  });

  const hashBig = (pool: HashPool, owner: string, signal?: AbortSignal) => pool.hash(bigFd, 'sha256', 0, BIG, BIG, { owner, ...(signal ? { signal } : {}) })!;

  it("another owner's small job waits at most about one slice per worker behind 200 queued jobs", async () => {
    const pool = new HashPool(2);
    const served = ownersServed(pool);
    const flood = new AbortController();
    const jobs = Array.from({ length: 200 }, () => hashBig(pool, 'a', flood.signal).catch((e: unknown) => e));
    await waitFor(() => pool.slices >= 4, 10_000, 'the flood to be hashing');
    const before = served.length;
    const digest = await pool.hash(smallFd, 'sha256', 0, small.length, small.length, { owner: 'b' })!;
    assert.equal(digest.toString('hex'), sha(small));
    // b's slice is the first one any worker takes after b came, so b waits only for the slices
    // already running then (at most one per worker). Counted in the pool's order of service, not
    // in slices started meanwhile: on a busy machine the other worker may finish several slices
    // while the one serving b waits for a CPU.
    assert.equal(served[before], 'b', `slices served after b came: ${served.slice(before, before + 8).join(',')}`);
    assert.ok(pool.pending > 150, `the flood is still queued (${pool.pending})`);
    flood.abort();
    assert.ok((await Promise.all(jobs)).filter(isCancelled).length > 150, 'the flood was dropped');
    await waitFor(() => pool.pending === 0, 10_000, 'the pool to go idle');
  });

  it('on one worker, a one-job owner alternates slices with an owner of 50 jobs', async () => {
    const pool = new HashPool(1);
    const flood = new AbortController();
    const jobs = Array.from({ length: 50 }, () => hashBig(pool, 'a', flood.signal).catch((e: unknown) => e));
    await waitFor(() => pool.slices >= 2, 10_000, 'the flood to be hashing');
    const before = pool.slices;
    assert.equal((await hashBig(pool, 'b')).toString('hex'), sha(big));
    const during = pool.slices - before;
    // b's 3 slices, a's slice between each, and the one running when b came.
    assert.ok(during <= 7, `${during} slices for b's 3`);
    flood.abort();
    await Promise.all(jobs);
  });

  it('an aborted signal drops a queued job at once; it is never served', async () => {
    const pool = new HashPool(1);
    const running = hashBig(pool, 'a');
    const gone = new AbortController();
    const queued = hashBig(pool, 'b', gone.signal);
    assert.equal(pool.slices, 1, "a's first slice is being hashed");
    gone.abort();
    await assert.rejects(queued, isCancelled);
    assert.equal(pool.slices, 1, "b was dropped before a's first slice came back");
    assert.equal((await running).toString('hex'), sha(big));
    assert.equal(pool.slices, 3, "only a's 3 slices were ever hashed");
    assert.equal(pool.pending, 0);
  });

  it('an aborted signal drops a started job waiting for its next slice at once', async () => {
    const pool = new HashPool(1);
    const gone = new AbortController();
    const started = hashBig(pool, 'a', gone.signal);
    const other = hashBig(pool, 'b');
    let queuedAtAbort = -1;
    // The pool's listener runs first: at a's first reply it starts b's slice and a waits.
    workerOf(pool).once('message', () => {
      queuedAtAbort = pool.queued;
      gone.abort();
    });
    await assert.rejects(started, isCancelled);
    assert.equal(queuedAtAbort, 1, "a waited for its second slice while b's ran");
    assert.equal(pool.slices, 2, "a settled before b's first slice came back");
    assert.equal(pool.queued, 0);
    await other;
    assert.equal(pool.slices, 4, "a's 1 slice and b's 3");
  });

  it('a running job settles only after its slice came back, and no further slice starts: the fd may then be closed', async () => {
    const pool = new HashPool(1);
    const gone = new AbortController();
    const fd = openSync(join(dir, 'big'), 'r');
    const job = hashBig(pool, 'a', gone.signal);
    assert.equal(pool.slices, 1);
    let replied = false;
    workerOf(pool).on('message', () => (replied = true));
    gone.abort();
    assert.equal(pool.pending, 1, 'still pending while the worker hashes the slice');
    const err = await job.then(
      () => assert.fail('resolved'),
      (e: unknown) => e,
    );
    assert.ok(isCancelled(err), String(err));
    assert.ok(replied, 'the worker answered the slice before the job settled');
    closeSync(fd); // what LocalFile's CLOSE does once the hash settles
    assert.equal(pool.pending, 0);
    assert.equal(pool.queued, 0);
    assert.equal(pool.slices, 1, 'no second slice');
    // The worker forgot the job and serves the next one.
    assert.equal((await pool.hash(smallFd, 'sha256', 0, small.length, small.length)!).toString('hex'), sha(small));
  });

  it('a signal aborted before the call rejects at once and hashes nothing', async () => {
    const pool = new HashPool(1);
    await assert.rejects(pool.hash(bigFd, 'sha256', 0, BIG, BIG, { signal: AbortSignal.abort() })!, isCancelled);
    assert.equal(pool.slices, 0);
    assert.equal(pool.workers, 0, 'no worker was started for it');
  });

  it('one abort listener per signal however many jobs use it, removed once they settle', async () => {
    const pool = new HashPool(2);
    const session = new AbortController();
    const jobs = Array.from({ length: 64 }, () => pool.hash(smallFd, 'sha256', 0, small.length, small.length, { owner: 'a', signal: session.signal })!);
    assert.equal(getEventListeners(session.signal, 'abort').length, 1);
    for (const d of await Promise.all(jobs)) assert.equal(d.toString('hex'), sha(small));
    assert.equal(getEventListeners(session.signal, 'abort').length, 0);
    assert.equal(pool.pending, 0);
  });
});
