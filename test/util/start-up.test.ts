/**
 * StartUp (a start a stop can end part-way) and abortable (waiting without holding up a stop).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { abortable } from '../../src/util/abortable.js';
import { StartUp } from '../../src/util/start-up.js';

const stopReason = new Error('stop requested');

describe('StartUp', () => {
  it('closes what the steps opened newest first, each once', async () => {
    const up = new StartUp();
    const closed: string[] = [];
    await up.step('a', () => 'A', (v) => closed.push(v));
    await up.step('b', async () => 'B', (v) => closed.push(v));
    await up.step('c', () => 'C'); // opens nothing
    await up.step('d', () => 'D', async (v) => void closed.push(v));
    assert.deepEqual(up.open, ['a', 'b', 'd']);
    await up.closeAll();
    await up.closeAll();
    assert.deepEqual(closed, ['D', 'B', 'A']);
    assert.deepEqual(up.open, []);
  });

  it('does not begin a step once stopped, and names the last step begun', async () => {
    const controller = new AbortController();
    const up = new StartUp(controller.signal);
    await up.step('keys', () => 1);
    controller.abort(stopReason);
    let ran = false;
    await assert.rejects(up.step('database', () => (ran = true)), (err) => err === stopReason);
    assert.equal(ran, false);
    assert.equal(up.current, 'keys');
  });

  it('a step under way when the stop comes finishes, is registered, then the stop is thrown', async () => {
    const controller = new AbortController();
    const up = new StartUp(controller.signal);
    const closed: string[] = [];
    const step = up.step(
      'listen',
      async () => {
        controller.abort(stopReason); // the stop arrives while the socket is being opened
        await new Promise((resolve) => setImmediate(resolve));
        return 'socket';
      },
      (v) => closed.push(v),
    );
    await assert.rejects(step, (err) => err === stopReason && up.isStop(err));
    assert.deepEqual(up.open, ['listen']);
    await up.closeAll();
    assert.deepEqual(closed, ['socket']);
  });

  it('a failing closer does not keep the others from running; the first failure is thrown', async () => {
    const up = new StartUp();
    const closed: string[] = [];
    await up.step('a', () => 'A', (v) => closed.push(v));
    await up.step('b', () => 'B', () => {
      throw new Error('b failed');
    });
    await up.step('c', () => 'C', () => Promise.reject(new Error('c failed')));
    await assert.rejects(up.closeAll(), /c failed/);
    assert.deepEqual(closed, ['A']);
  });

  it('isStop: true only for the signal reason, once aborted', () => {
    const controller = new AbortController();
    const up = new StartUp(controller.signal);
    assert.equal(up.isStop(stopReason), false);
    controller.abort(stopReason);
    assert.equal(up.isStop(stopReason), true);
    assert.equal(up.isStop(new Error('EADDRINUSE')), false);
  });
});

describe('abortable', () => {
  it('settles as the work does when no stop comes', async () => {
    const controller = new AbortController();
    assert.equal(await abortable(Promise.resolve(7), controller.signal), 7);
    await assert.rejects(abortable(Promise.reject(new Error('work failed')), controller.signal), /work failed/);
  });

  it('rejects with the reason as soon as the signal aborts, while the work is still pending', async () => {
    const controller = new AbortController();
    let finish!: (v: number) => void;
    const work = new Promise<number>((resolve) => (finish = resolve));
    const waiting = abortable(work, controller.signal);
    controller.abort(stopReason);
    await assert.rejects(waiting, (err) => err === stopReason);
    finish(1); // the work ends later; its result is dropped
    assert.equal(await work, 1);
  });

  it('rejects at once when already aborted; a dropped work that fails is not an unhandled rejection', async () => {
    const controller = new AbortController();
    controller.abort(stopReason);
    let fail!: (e: Error) => void;
    const work = new Promise<number>((_, reject) => (fail = reject));
    await assert.rejects(abortable(work, controller.signal), (err) => err === stopReason);
    let unhandled = false;
    const onUnhandled = () => (unhandled = true);
    process.on('unhandledRejection', onUnhandled);
    fail(new Error('late failure'));
    await new Promise((resolve) => setImmediate(resolve));
    process.off('unhandledRejection', onUnhandled);
    assert.equal(unhandled, false);
  });
});
