/**
 * FilePool (src/client/tree.ts), with fake transfers whose completion order the test controls:
 * small files run up to the limit at once, a large one only alone; every line comes out in listing
 * order whatever the completion order; after a failure nothing new starts and the tree's error is
 * the first failure in listing order, once every started file has settled.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TransferOptions } from '../../src/client/files.js';
import { Progress } from '../../src/client/progress.js';
import { FilePool } from '../../src/client/tree.js';

/** A transfer the test finishes by hand. */
interface Fake {
  name: string;
  started: boolean;
  opts: TransferOptions | null;
  finish(): void;
  fail(message: string): void;
}

function harness(limit: number) {
  const lines: string[] = [];
  const progress = new Progress({ write: (t: string) => void lines.push(...t.split('\n').filter(Boolean)) }, false, () => 0);
  const opts: TransferOptions = { verify: true, progress, say: (l) => void lines.push(l) };
  const pool = new FilePool(limit, opts, progress);
  let running = 0;
  let most = 0;
  const make = (name: string, bytes = 10): { fake: Fake; run: (o: TransferOptions) => Promise<{ bytes: number }> } => {
    const fake: Fake = { name, started: false, opts: null, finish: () => undefined, fail: () => undefined };
    const run = (o: TransferOptions) =>
      new Promise<{ bytes: number }>((resolve, reject) => {
        fake.started = true;
        fake.opts = o;
        running++;
        most = Math.max(most, running);
        o.say(`start ${name}`);
        const bar = o.progress.start(name, bytes, 0);
        fake.finish = () => (running--, bar.finish('sha256 OK'), resolve({ bytes }));
        fake.fail = (m) => (running--, bar.fail(), reject(new Error(m)));
      });
    return { fake, run };
  };
  return { lines, pool, make, most: () => most };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('FilePool', () => {
  it('runs small files up to its limit and prints their lines in listing order, whatever order they finish in', async () => {
    const h = harness(3);
    const files = ['a', 'b', 'c', 'd', 'e'].map((n) => h.make(n));
    const tree = h.pool.around(async () => {
      for (const f of files) await h.pool.file(true, f.run);
    });
    await tick();
    assert.deepEqual(files.map((f) => f.fake.started), [true, true, true, false, false], 'three at once');
    files[2]!.fake.finish();
    files[1]!.fake.finish();
    await tick();
    assert.deepEqual(h.lines, [], 'nothing printed before a is done');
    assert.ok(files[3]!.fake.started && files[4]!.fake.started);
    files[4]!.fake.finish();
    files[0]!.fake.finish();
    files[3]!.fake.finish();
    assert.deepEqual(await tree, { files: 5, bytes: 50 });
    assert.equal(h.most(), 3);
    assert.deepEqual(
      h.lines,
      ['a', 'b', 'c', 'd', 'e'].flatMap((n) => [`start ${n}`, `${n} 10B 0.0s 0.0B/s sha256 OK`]),
    );
  });

  it('a large file waits for the small ones before it, runs alone with the live progress, and the next small ones wait for it', async () => {
    const h = harness(4);
    const [s1, s2, big, s3] = [h.make('s1'), h.make('s2'), h.make('big', 100), h.make('s3')];
    const tree = h.pool.around(async () => {
      await h.pool.file(true, s1.run);
      await h.pool.file(true, s2.run);
      await h.pool.file(false, big.run);
      await h.pool.file(true, s3.run);
    });
    await tick();
    assert.ok(s1.fake.started && s2.fake.started && !big.fake.started);
    s2.fake.finish();
    await tick();
    assert.ok(!big.fake.started, 'still waiting for s1');
    s1.fake.finish();
    await tick();
    assert.ok(big.fake.started && !s3.fake.started, 'big alone');
    assert.equal(big.fake.opts!.progress, h.pool['opts'].progress, 'the live progress, not a deferred one');
    big.fake.finish();
    await tick();
    assert.ok(s3.fake.started);
    s3.fake.finish();
    assert.deepEqual(await tree, { files: 4, bytes: 130 });
    assert.deepEqual(h.lines.filter((l) => l.startsWith('start')), ['start s1', 'start s2', 'start big', 'start s3']);
  });

  it('after a failure nothing new starts; the started files finish; the error is the first failure in listing order', async () => {
    const h = harness(3);
    const files = ['a', 'b', 'c', 'd'].map((n) => h.make(n));
    const notice = h.pool.around(async () => {
      for (const f of files) await h.pool.file(true, f.run);
      await h.pool.say('never printed');
    });
    await tick();
    files[2]!.fake.fail('c broke');
    await tick();
    files[1]!.fake.fail('b broke');
    files[0]!.fake.finish();
    await assert.rejects(notice, /^Error: b broke$/);
    assert.ok(!files[3]!.fake.started, 'd never started');
    assert.ok(!h.lines.includes('never printed'));
    assert.deepEqual(h.lines.filter((l) => !l.startsWith('start')), ['a 10B 0.0s 0.0B/s sha256 OK']);
  });

  it('notices take their place among the lines', async () => {
    const h = harness(2);
    const [a, b] = [h.make('a'), h.make('b')];
    const tree = h.pool.around(async () => {
      await h.pool.file(true, a.run);
      await h.pool.say('Skipping non-regular file /x');
      await h.pool.file(true, b.run);
    });
    await tick();
    b.fake.finish();
    a.fake.finish();
    await tree;
    assert.deepEqual(h.lines, ['start a', 'a 10B 0.0s 0.0B/s sha256 OK', 'Skipping non-regular file /x', 'start b', 'b 10B 0.0s 0.0B/s sha256 OK']);
  });
});
