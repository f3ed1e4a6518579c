/**
 * The worker-thread hash pool (src/vfs/hash-pool.ts): digests equal node:crypto's over the same
 * bytes for whole ranges, offsets and blocks across slice boundaries; a file that ends early;
 * the empty range; a small job started after a large one finishes first; block digests reach
 * the event loop as one buffer per slice (its time per request bounded);
 * errors from the worker (bad descriptor) and a worker that dies, after which the pool recovers;
 * its threads run 10 nice levels below the event loop (Linux).
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { openSync, closeSync, existsSync, readdirSync, readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { getPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { HashPool } from '../../src/vfs/hash-pool.js';

const MiB = 1024 * 1024;
const sha = (b: Buffer, alg = 'sha256') => createHash(alg).update(b).digest('hex');
/** Concatenated digests as hex strings, `alg`'s digest length each. */
const hex = (d: Buffer, alg = 'sha256') => {
  const size = createHash(alg).digest().length;
  return Array.from({ length: d.length / size }, (_, i) => d.subarray(i * size, (i + 1) * size).toString('hex'));
};

describe('HashPool', () => {
  let dir: string;
  let big: Buffer;
  let bigFd: number;
  let small: Buffer;
  let smallFd: number;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'coffer-hash-pool-'));
    // 9 MiB + 333: more than two 4 MiB slices, and not a multiple of any block below.
    big = randomBytes(9 * MiB + 333);
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

  it('hashes a whole file across slices like node:crypto', async () => {
    const pool = new HashPool(2);
    for (const alg of ['sha256', 'md5', 'sha512']) {
      assert.deepEqual(hex((await pool.hash(bigFd, alg, 0, big.length, big.length))!, alg), [sha(big, alg)]);
    }
  });

  it('hashes a range from an offset, and blocks that straddle slices', async () => {
    const pool = new HashPool(1);
    const start = 123_457;
    const total = 8 * MiB + 99;
    const block = 3 * MiB + 1;
    const want: string[] = [];
    for (let p = 0; p < total; p += block) want.push(sha(big.subarray(start + p, start + Math.min(total, p + block))));
    assert.deepEqual(hex((await pool.hash(bigFd, 'sha256', start, total, block))!), want);
  });

  it('stops at the end of a file shorter than the range, and hashes nothing for an empty range', async () => {
    const pool = new HashPool(1);
    assert.deepEqual(hex((await pool.hash(smallFd, 'sha256', 200, 10 * MiB, 10 * MiB))!), [sha(small.subarray(200))]);
    assert.deepEqual(hex((await pool.hash(smallFd, 'sha256', 0, 0, 0))!), [sha(Buffer.alloc(0))]);
    assert.deepEqual(hex((await pool.hash(smallFd, 'sha1', 5000, 0, 0))!, 'sha1'), [sha(Buffer.alloc(0), 'sha1')]);
  });

  it('serves jobs on one worker a slice at a time, so a small job is not stuck behind a large one', async () => {
    const pool = new HashPool(1);
    const order: string[] = [];
    const large = pool.hash(bigFd, 'sha256', 0, big.length, big.length)!.then((d) => (order.push('large'), d));
    const quick = pool.hash(smallFd, 'sha256', 0, small.length, small.length)!.then((d) => (order.push('small'), d));
    const [l, s] = await Promise.all([large, quick]);
    assert.deepEqual(order, ['small', 'large']);
    assert.deepEqual(hex(l), [sha(big)]);
    assert.deepEqual(hex(s), [sha(small)]);
    assert.equal(pool.workers, 1);
  });

  it('takes in the most digests one reply holds (16,320 md5 of 256-byte blocks) for under 20 ms of event-loop time each', async () => {
    // One buffer per slice: one element per digest cost the event loop 75-360 ms per request.
    const pool = new HashPool(2);
    const total = 16_320 * 256;
    const want = createHash('md5').update(big.subarray(0, 256)).digest('hex');
    const first = (await pool.hash(bigFd, 'md5', 0, total, 256))!;
    assert.equal(first.length, 16_320 * 16);
    assert.equal(first.subarray(0, 16).toString('hex'), want);
    assert.equal(first.subarray(-16).toString('hex'), createHash('md5').update(big.subarray(total - 256, total)).digest('hex'));
    const elu = performance.eventLoopUtilization();
    await Promise.all(Array.from({ length: 8 }, () => pool.hash(bigFd, 'md5', 0, total, 256)!));
    const perRequest = performance.eventLoopUtilization(elu).active / 8;
    assert.ok(perRequest < 20, `${perRequest.toFixed(1)} ms of event-loop time per request`);
  });

  it('rejects with the errno of a bad descriptor, and keeps working', async () => {
    const pool = new HashPool(1);
    // A number far above any open descriptor (a just-closed one may be reused at once).
    await assert.rejects(pool.hash(1_000_000, 'sha256', 0, 10, 10)!, (err: NodeJS.ErrnoException) => err.code === 'EBADF');
    assert.deepEqual(hex((await pool.hash(smallFd, 'sha256', 0, small.length, small.length))!), [sha(small)]);
  });

  it('fails the jobs of a worker that dies and starts a new worker for the next', async () => {
    const pool = new HashPool(1);
    // An unknown algorithm throws inside the worker: a job error, not a crash.
    await assert.rejects(pool.hash(smallFd, 'no-such-hash', 0, 10, 10)!, /Digest method not supported|Invalid digest/i);
    const running = pool.hash(bigFd, 'sha256', 0, big.length, big.length)!;
    const slot = (pool as unknown as { slots: Array<{ worker: { terminate(): Promise<number> } }> }).slots[0]!;
    await slot.worker.terminate();
    await assert.rejects(running, /hash worker exited/);
    assert.equal(pool.workers, 0);
    assert.deepEqual(hex((await pool.hash(smallFd, 'sha256', 0, small.length, small.length))!), [sha(small)]);
    assert.equal(pool.workers, 1);
  });

  it('runs its worker threads 10 nice levels below the event loop (Linux)', { skip: !existsSync('/proc/thread-self') && 'no /proc/thread-self' }, async () => {
    const nice = (tid: string) => {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
    };
    const before = new Set(readdirSync('/proc/self/task'));
    const pool = new HashPool(1);
    assert.deepEqual(hex((await pool.hash(smallFd, 'sha256', 0, small.length, small.length))!), [sha(small)]);
    const fresh = readdirSync('/proc/self/task').filter((t) => !before.has(t));
    const loop = getPriority();
    assert.ok(fresh.length > 0, 'the worker is a new thread');
    assert.ok(fresh.some((t) => nice(t) === Math.min(19, loop + 10)), `nice of the new threads: ${fresh.map(nice)}, event loop ${loop}`);
    assert.equal(getPriority(), loop, 'the event loop keeps its priority');
  });

  it('does not keep the process alive once its jobs are done', () => {
    const mod = fileURLToPath(new URL('../../src/vfs/hash-pool.js', import.meta.url));
    const code = `import { openSync } from 'node:fs'; const { hashPool } = await import(${JSON.stringify(mod)}); const fd = openSync(${JSON.stringify(join(dir, 'small'))}, 'r'); const d = await hashPool.hash(fd, 'sha256', 0, 1000, 1000); console.log(d.toString('hex'));`;
    const script = join(dir, 'alive.mjs');
    writeFileSync(script, code);
    const r = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 0, `${r.signal ?? ''} ${r.stderr}`);
    assert.equal(r.stdout, sha(small) + '\n');
  });
});
