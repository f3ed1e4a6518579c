/**
 * The hash pool's serving order (src/vfs/hash-schedule.ts), without workers: owners get equal
 * shares whatever number of jobs each queued; a newcomer is served before another slice of an
 * owner already served; an owner that left and comes back gets no credit for its absence; empty
 * jobs still cost (a flood of them does not starve others); fewest bytes left first within an
 * owner; a started job stays with its worker; at most maxStarted part-done jobs per owner and
 * worker; removal of waiting jobs (cancellation), a dead worker's jobs, and takeAll.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { FairSchedule, type ScheduledJob } from '../../src/vfs/hash-schedule.js';

const SLICE = 4;
const FLOOR = 1;
type W = 'w1' | 'w2';
interface J extends ScheduledJob<W> {
  name: string;
}

let seq = 0;
const job = (owner: string, remaining: number, name = `${owner}${seq}`): J => ({ owner, remaining, seq: seq++, worker: null, name });
const schedule = (maxStarted?: number) => new FairSchedule<W, J>((j) => Math.max(FLOOR, Math.min(SLICE, j.remaining)), maxStarted);

/** Serves one slice of the next job on `w` (as the pool does) and returns the job's name. */
function step(q: FairSchedule<W, J>, w: W): string | null {
  const j = q.next(w);
  if (!j) return null;
  j.remaining = Math.max(0, j.remaining - SLICE);
  if (j.remaining > 0) q.putBack(j);
  else q.finish(j);
  return j.name;
}

describe('FairSchedule', () => {
  it('an owner with 2,560 queued jobs and an owner with one get alternate slices on one worker', () => {
    const q = schedule();
    for (let i = 0; i < 2560; i++) q.add(job('a', 45));
    assert.equal(step(q, 'w1')?.[0], 'a');
    q.add(job('b', 5 * SLICE, 'B'));
    const order = Array.from({ length: 10 }, () => step(q, 'w1')![0]).join('');
    assert.equal(order, 'BaBaBaBaBa', 'b is served next, then every other slice until its job is done');
    assert.equal(step(q, 'w1')![0], 'a', 'b is done');
  });

  it('on two workers, one job against 2,560 of another owner gets a whole worker: half of all slices', () => {
    const q = schedule();
    for (let i = 0; i < 2560; i++) q.add(job('a', 12 * SLICE, 'a'));
    q.add(job('b', 1000 * SLICE, 'b'));
    const served = { a: 0, b: 0 };
    for (let i = 0; i < 400; i++) served[step(q, i % 2 === 0 ? 'w1' : 'w2') as 'a' | 'b'] += 1;
    assert.deepEqual(served, { a: 200, b: 200 });
  });

  it('equal shares of slices between owners with at least one job per worker, whatever their job counts (property)', () => {
    // With fewer jobs than workers an owner's jobs are held by some workers only (their hash
    // state), so shares can differ: 3 one-job owners on 2 workers get 1/4, 1/4 and 1/2.
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 2, max: 300 }), { minLength: 2, maxLength: 5 }), (counts) => {
        const q = schedule();
        counts.forEach((n, o) => {
          for (let i = 0; i < n; i++) q.add(job(`o${o}`, 1000 * SLICE, `o${o}`));
        });
        const served = new Map<string, number>();
        for (let i = 0; i < 100 * counts.length; i++) {
          const owner = step(q, i % 2 === 0 ? 'w1' : 'w2')!;
          served.set(owner, (served.get(owner) ?? 0) + 1);
        }
        const shares = [...served.values()];
        assert.ok(Math.max(...shares) - Math.min(...shares) <= 2, `slices per owner: ${shares}`);
      }),
      { numRuns: 50 },
    );
  });

  it('a newcomer enters at the least virtual time present: no credit for time away', () => {
    const q = schedule();
    q.add(job('a', 100 * SLICE, 'A'));
    q.add(job('b', 2 * SLICE, 'B'));
    assert.deepEqual([step(q, 'w1'), step(q, 'w1'), step(q, 'w1'), step(q, 'w1')], ['A', 'B', 'A', 'B']);
    for (let i = 0; i < 20; i++) assert.equal(step(q, 'w1'), 'A', 'only a is left');
    q.add(job('b', 4 * SLICE, 'B2'));
    assert.deepEqual(
      Array.from({ length: 6 }, () => step(q, 'w1')),
      ['B2', 'A', 'B2', 'A', 'B2', 'A'],
      'b comes back to an equal share, not to 20 slices of catching up',
    );
  });

  it('empty jobs cost a slice floor: a flood of them does not starve a large job of another owner', () => {
    const q = new FairSchedule<W, J>((j) => Math.max(FLOOR, Math.min(SLICE, j.remaining)));
    for (let i = 0; i < 100; i++) q.add(job('a', 0, 'e'));
    q.add(job('b', 3 * SLICE, 'B'));
    const order: string[] = [];
    for (let i = 0; i < 20; i++) order.push(step(q, 'w1')!);
    // A slice of b costs SLICE, an empty job FLOOR: b gets one slice per SLICE / FLOOR empty jobs.
    assert.equal(order.join(''), 'eBeeeBeeeeBeeeeeeeee');
  });

  it("within an owner, the job with the fewest bytes left goes first (ties: arrival order)", () => {
    const q = schedule();
    q.add(job('a', 3 * SLICE, 'big'));
    assert.equal(step(q, 'w1'), 'big');
    q.add(job('a', SLICE, 'small'));
    q.add(job('a', 3 * SLICE, 'later'));
    const order = Array.from({ length: 6 }, () => step(q, 'w1'));
    assert.deepEqual(order, ['small', 'big', 'big', 'later', 'later', 'later'], 'the started big job (2 slices left) before the newer one of 3');
    assert.equal(q.waiting, 0);
  });

  it("a started job is served only by its worker; another worker takes other work", () => {
    const q = schedule();
    q.add(job('a', 3 * SLICE, 'A'));
    assert.equal(step(q, 'w1'), 'A');
    assert.equal(q.next('w2'), null, "A's hash state is in w1");
    q.add(job('b', 2 * SLICE, 'B'));
    assert.equal(step(q, 'w2'), 'B');
    assert.equal(step(q, 'w1'), 'A');
    assert.equal(step(q, 'w2'), 'B');
    assert.equal(step(q, 'w1'), 'A');
    assert.equal(q.waiting, 0);
  });

  it('at most maxStarted part-done jobs per owner and worker; the rest wait unstarted', () => {
    const q = schedule(2);
    // Each newer job is smaller than the part-done ones, so fewest-left-first would start them all.
    for (let i = 0; i < 5; i++) {
      q.add(job('a', (10 - 2 * i) * SLICE - 1, `j${i}`));
      step(q, 'w1');
    }
    const started = (q as unknown as { owners: Map<string, { started: Map<W, number> }> }).owners.get('a')!.started.get('w1');
    assert.equal(started, 2);
    assert.ok(step(q, 'w2')!.startsWith('j'), 'another worker may start one of them');
  });

  it('remove takes a waiting job out (fresh or started) and forgets an owner left with nothing', () => {
    const q = schedule();
    const a = job('a', 2 * SLICE, 'A');
    const b = job('b', 5 * SLICE, 'B');
    q.add(a);
    q.add(b);
    assert.equal(step(q, 'w1'), 'A');
    assert.equal(q.remove(a), true, 'started, waiting');
    assert.equal(q.remove(a), false, 'already gone');
    assert.equal(q.remove(b), true, 'not started');
    assert.equal(q.waiting, 0);
    assert.equal((q as unknown as { owners: Map<string, unknown> }).owners.size, 0);
    assert.equal(q.next('w1'), null);
  });

  it('remove of a running job (taken by next) is refused: the pool finishes it when its slice returns', () => {
    const q = schedule();
    const a = job('a', 2 * SLICE);
    q.add(a);
    assert.equal(q.next('w1'), a);
    assert.equal(q.remove(a), false);
    q.finish(a);
    assert.equal(q.waiting, 0);
  });

  it("dropWorker returns the waiting jobs a dead worker held; unstarted jobs stay for the others; takeAll empties the queue", () => {
    const q = schedule();
    q.add(job('a', 3 * SLICE, 'A'));
    q.add(job('b', 3 * SLICE, 'B'));
    q.add(job('c', 3 * SLICE, 'C'));
    step(q, 'w1');
    step(q, 'w2');
    assert.deepEqual(q.dropWorker('w1').map((j) => j.name), ['A']);
    assert.equal(q.waiting, 2);
    assert.deepEqual(q.takeAll().map((j) => j.name).sort(), ['B', 'C']);
    assert.equal(q.waiting, 0);
    assert.equal(q.next('w2'), null);
  });
});
