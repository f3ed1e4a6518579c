/**
 * A size read from the disk to reconcile a file's charge must not be stale. Fuzz finding (seed
 * 1657852372, ledger 7 bytes under the disk): the last handle of a file whose copy-data reserved
 * more than it wrote closes and fstats; meanwhile another handle opens the file, writes 7 bytes
 * inside the reserved size and closes; the close then charged the size it read before that write.
 * Here fstat is held after it read the size, so the race happens every time. Also: two truncates
 * of one file through two handles, reaching the disk in the other order than they were charged
 * (fuzz seed 1467866259: ledger 65536 over the disk).
 */
import assert from 'node:assert/strict';
import { mkdtemp, open, rm, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FileCharge } from '../../src/quota/file-charge.js';
import { UserQuota, type TrackedFile } from '../../src/quota/user-quota.js';
import { LocalFile, sizeOf } from '../../src/vfs/local-handles.js';

/** A LocalFile on `fh` whose writes are charged to `quota` on the tracked inode `file`. */
const charged = (quota: UserQuota, fh: FileHandle, file: TrackedFile): LocalFile => new LocalFile(fh, false, new FileCharge(quota, file, true, sizeOf(fh)));

/** `fh` with one method replaced (the rest forwarded to the real FileHandle). */
function replacing<K extends keyof FileHandle>(fh: FileHandle, name: K, impl: FileHandle[K]): FileHandle {
  return new Proxy(fh, {
    get(target, prop) {
      if (prop === name) return impl;
      const v = Reflect.get(target, prop) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

/** A FileHandle whose stat() reads the size at once but answers only when `release` is called. */
function heldStat(fh: FileHandle): { fh: FileHandle; read: Promise<void>; release(): void } {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let reading!: () => void;
  const read = new Promise<void>((r) => (reading = r));
  const stat = (async () => {
    const st = await fh.stat();
    reading();
    await gate;
    return st;
  }) as FileHandle['stat'];
  return { fh: replacing(fh, 'stat', stat), read, release };
}

describe('reconciling a charge with the disk', () => {
  let dir: string;
  before(async () => (dir = await mkdtemp(join(tmpdir(), 'coffer-stale-size-'))));
  after(() => rm(dir, { recursive: true, force: true }));

  it('a close does not charge a size read before another handle wrote', async () => {
    const path = join(dir, 'a.bin');
    await writeFile(path, '');
    const st = await stat(path);
    const quota = new UserQuota('u', null, 0);
    const h1 = heldStat(await open(path, 'r+'));
    const f1 = charged(quota, h1.fh, quota.open(st.dev, st.ino, 0));
    f1.reserveWrite(0, 100); // copy-data reserves 100 bytes...
    await f1.write(0, Buffer.alloc(50, 1)); // ...and copies 50
    assert.equal(quota.used, 100);
    const closing = f1.close();
    await h1.read; // its fstat has read 50 bytes
    const f2 = charged(quota, await open(path, 'r+'), quota.open(st.dev, st.ino, 50));
    await f2.write(60, Buffer.alloc(7, 2)); // inside the charged 100: no new charge
    await f2.close();
    h1.release();
    await closing;
    assert.equal((await stat(path)).size, 67);
    assert.equal(quota.used, 67, 'the charge equals the disk');
    assert.equal(quota.openFiles, 0);
  });

  it('a failed write reconciles with a size read while nothing else was writing', async () => {
    const path = join(dir, 'b.bin');
    await writeFile(path, Buffer.alloc(10));
    const st = await stat(path);
    const quota = new UserQuota('u', null, 10);
    const ro = await open(path, 'r'); // writes through it fail (EBADF)
    const h1 = heldStat(ro);
    const tracked = quota.open(st.dev, st.ino, 10);
    const f1 = charged(quota, h1.fh, tracked);
    const failing = f1.write(10, Buffer.alloc(5));
    await h1.read; // the reconcile read 10 bytes
    const f2 = charged(quota, await open(path, 'r+'), quota.open(st.dev, st.ino, 10));
    await f2.write(20, Buffer.alloc(3)); // grows the file to 23 while the reconcile waits
    h1.release();
    await assert.rejects(failing);
    await f2.close();
    await f1.close().catch(() => undefined);
    assert.equal((await stat(path)).size, 23);
    assert.equal(quota.used, 23, 'the charge equals the disk');
  });

  it('truncates that reach the disk in another order than they were charged are settled with the disk', async () => {
    const path = join(dir, 'c.bin');
    await writeFile(path, Buffer.alloc(7661));
    const st = await stat(path);
    const quota = new UserQuota('u', null, 7661);
    const fh1 = await open(path, 'r+');
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    // The first truncate is charged first but reaches the disk last.
    const held = replacing(fh1, 'truncate', async (n?: number) => (await gate, fh1.truncate(n)));
    const f1 = charged(quota, held, quota.open(st.dev, st.ino, 7661));
    const f2 = charged(quota, await open(path, 'r+'), quota.open(st.dev, st.ino, 7661));
    const first = f1.truncateTo(0);
    await f2.truncateTo(65536);
    release();
    await first;
    assert.equal((await stat(path)).size, 0);
    assert.equal(quota.used, 0, 'the charge follows the disk, not the charging order');
    await f2.write(0, Buffer.alloc(8));
    assert.equal(quota.used, 8);
    await f1.close();
    await f2.close();
    assert.equal(quota.used, 8);
  });
});
