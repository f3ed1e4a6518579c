/**
 * The jail's per-user namespace locks (vfs/user-locks.ts): one lock per user shared by that user's
 * sessions, other users' apart, forgotten after the last session; and two LocalVfs given one
 * user's lock serialise their namespace operations while a Vfs without one has its own.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UserLocks } from '../../src/vfs/user-locks.js';

describe('UserLocks', () => {
  it("one lock per user, shared by the user's sessions, dropped after the last release", async () => {
    const locks = new UserLocks();
    const a1 = locks.acquire('alice');
    const a2 = locks.acquire('alice');
    const b = locks.acquire('bob');
    assert.equal(a1, a2);
    assert.notEqual(a1, b);
    // An exclusive operation of one alice session holds back a shared one of her other session,
    // not bob's.
    const order: string[] = [];
    let release!: () => void;
    const held = a1.exclusive(() => new Promise<void>((r) => (release = r)).then(() => void order.push('alice exclusive')));
    const waits = a2.shared(async () => void order.push('alice shared'));
    await b.shared(async () => void order.push('bob shared'));
    assert.deepEqual(order, ['bob shared']);
    release();
    await Promise.all([held, waits]);
    assert.deepEqual(order, ['bob shared', 'alice exclusive', 'alice shared']);
    locks.release('alice');
    assert.equal(locks.size, 2);
    locks.release('alice');
    locks.release('bob');
    assert.equal(locks.size, 0);
    assert.notEqual(locks.acquire('alice'), a1, 'a new lock once the last session let go');
  });
});
