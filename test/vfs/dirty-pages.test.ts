/**
 * dirty-pages.ts: small writes run on the event loop only while the dirty pages stay under half the
 * kernel's background threshold (no writer is throttled below it), system-wide and in a cgroup v2
 * with a memory limit; whatever cannot be read sends them to the thread pool. And meta-io's sync
 * flavour follows that answer: a small write is done when write() returns on the loop, a big one
 * or one the figures refuse waits for the thread pool.
 */
import assert from 'node:assert/strict';
import { constants, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { backgroundThreshold, cgroupV2Dir, forceWriteOnLoop, measureWriteOnLoop, parseMeminfo, parseMemoryStat, writeOnLoop } from '../../src/vfs/dirty-pages.js';
import { SYNC_IO, SYNC_WRITE_MAX } from '../../src/vfs/meta-io.js';

const tmp = mkdtempSync(join(tmpdir(), 'coffer-dirty-'));
after(() => {
  forceWriteOnLoop(null);
  rmSync(tmp, { recursive: true, force: true });
});

describe('the figures', () => {
  test('/proc/meminfo: Dirty, Writeback and MemAvailable in bytes; null when one is missing', () => {
    const text = 'MemTotal:       16000000 kB\nMemAvailable:    8000000 kB\nDirty:              1200 kB\nWriteback:            40 kB\n';
    assert.deepEqual(parseMeminfo(text), { dirty: 1200 * 1024, writeback: 40 * 1024, available: 8000000 * 1024 });
    assert.equal(parseMeminfo('Dirty: 5 kB\nMemAvailable: 9 kB\n'), null);
    assert.equal(parseMeminfo(''), null);
  });

  test('the background threshold: dirty_background_bytes when set, else the ratio of the memory', () => {
    assert.equal(backgroundThreshold(10, 0, 1000), 100);
    assert.equal(backgroundThreshold(10, 64, 1000), 64);
  });

  test('cgroup v2: its folder from /proc/self/cgroup, and its dirty plus writeback bytes', () => {
    assert.equal(cgroupV2Dir('0::/system.slice/coffer.service\n'), '/sys/fs/cgroup/system.slice/coffer.service');
    assert.equal(cgroupV2Dir('0::/\n'), '/sys/fs/cgroup');
    assert.equal(cgroupV2Dir('4:memory:/x\n1:cpu:/\n'), null); // cgroup v1 only: no memcg writeback throttling
    assert.equal(parseMemoryStat('anon 1\nfile_dirty 4096\nfile_writeback 8192\n'), 12288);
    assert.equal(parseMemoryStat('anon 1\n'), null);
  });

  test('this machine: the answer agrees with its figures', () => {
    const mem = parseMeminfo(readFileSync('/proc/meminfo', 'utf8'))!;
    const ratio = Number(readFileSync('/proc/sys/vm/dirty_background_ratio', 'utf8'));
    const bytes = Number(readFileSync('/proc/sys/vm/dirty_background_bytes', 'utf8'));
    const limit = backgroundThreshold(ratio, bytes, mem.available) / 2;
    const answer = measureWriteOnLoop();
    // Figures move between two reads; only a clear margin either way is asserted.
    if (mem.dirty + mem.writeback > limit * 1.5) assert.equal(answer, false);
    if (answer) assert.ok(mem.dirty + mem.writeback < limit * 1.5);
  });
});

describe('the sync flavour writes small data on the loop only when allowed', () => {
  const file = join(tmp, 'f.bin');

  async function writeAndPeek(length: number): Promise<{ before: number; after: number }> {
    const fh = await SYNC_IO.open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o600);
    try {
      const data = Buffer.alloc(length, 7);
      const pending = fh.write(data, 0, length, 0);
      const before = readFileSync(file).length; // before the promise had a chance to settle
      await pending;
      return { before, after: readFileSync(file).length };
    } finally {
      await fh.close();
    }
  }

  test('allowed: a small write is done when write() returns', async () => {
    forceWriteOnLoop(true);
    assert.equal(writeOnLoop(), true);
    assert.deepEqual(await writeAndPeek(4096), { before: 4096, after: 4096 });
    assert.deepEqual(await writeAndPeek(SYNC_WRITE_MAX), { before: SYNC_WRITE_MAX, after: SYNC_WRITE_MAX });
  });

  test('refused, or bigger than SYNC_WRITE_MAX: the thread pool, the same bytes in the end', async () => {
    forceWriteOnLoop(false);
    assert.equal((await writeAndPeek(4096)).after, 4096);
    forceWriteOnLoop(true);
    assert.equal((await writeAndPeek(SYNC_WRITE_MAX + 1)).after, SYNC_WRITE_MAX + 1);
  });

  test('a forced answer is dropped with null: measured again', () => {
    forceWriteOnLoop(null);
    assert.equal(writeOnLoop(), measureWriteOnLoop());
  });
});
