/**
 * meta-io.ts: the two flavours of LocalVfs's file-system calls agree (same results, same errno
 * codes, errors always as rejected promises), `auto` picks the event loop only on the local
 * filesystem types, and the jail's descriptor check refuses what it refused with realpath.
 */
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, mkdtempSync, openSync, closeSync, realpathSync, rmSync, statfsSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { constants } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Jail } from '../../src/vfs/jail.js';
import { ASYNC_IO, LOCAL_FS_TYPES, metaIoFor, SYNC_IO, SYNC_READ_MAX_FILE, type MetaIo } from '../../src/vfs/meta-io.js';
import { VfsError } from '../../src/vfs/vfs-error.js';

let tmp: string;
let home: string;

before(() => {
  tmp = realpathSync(mkdtempSync(join(tmpdir(), 'coffer-meta-io-')));
  home = join(tmp, 'home');
  mkdirSync(join(home, 'sub'), { recursive: true });
  writeFileSync(join(home, 'ten.txt'), '0123456789');
  writeFileSync(join(tmp, 'outside.txt'), 'CANARY');
  symlinkSync(tmp, join(home, 'out'));
});
after(() => rmSync(tmp, { recursive: true, force: true }));

describe('metaIoFor', () => {
  test("'auto' picks the event loop exactly on the local filesystem types", async () => {
    const io = await metaIoFor(home, 'auto');
    assert.equal(io.sync, LOCAL_FS_TYPES.has(statfsSync(home).type));
  });

  test("'sync' and 'async' force the flavour; a home that cannot be statfs'ed gets the thread pool", async () => {
    assert.equal(await metaIoFor(home, 'sync'), SYNC_IO);
    assert.equal(await metaIoFor(home, 'async'), ASYNC_IO);
    assert.equal(await metaIoFor(join(tmp, 'missing'), 'auto'), ASYNC_IO);
  });

  test('network and user-space filesystems are not local', () => {
    // NFS, CIFS, SMB2, FUSE, Ceph, Lustre, AFS
    for (const magic of [0x6969, 0xff534d42, 0xfe534d42, 0x65735546, 0x00c36400, 0x0bd00bd0, 0x5346414f]) {
      assert.equal(LOCAL_FS_TYPES.has(magic), false, magic.toString(16));
    }
    for (const magic of [0xef53, 0x58465342, 0x01021994]) assert.equal(LOCAL_FS_TYPES.has(magic), true, magic.toString(16));
  });
});

for (const [name, io] of [['sync', SYNC_IO], ['async', ASYNC_IO]] as Array<[string, MetaIo]>) {
  describe(`the ${name} flavour`, () => {
    test('errors are rejected promises with the errno code, never thrown', async () => {
      const missing = join(home, 'missing');
      // lstat answers null for a missing entry (see the namespace test); the others reject.
      for (const call of [() => io.realpath(missing), () => io.open(missing, constants.O_RDONLY), () => io.rmdir(missing), () => io.unlink(missing, 0), () => io.rename(missing, join(home, 'x'))]) {
        const p = call();
        assert.ok(p instanceof Promise);
        await assert.rejects(p, { code: 'ENOENT' });
      }
      await assert.rejects(io.open(join(home, 'out'), constants.O_RDONLY | constants.O_NOFOLLOW), { code: 'ELOOP' });
      await assert.rejects(io.mkdir(join(home, 'sub'), 0o755), { code: 'EEXIST' });
    });

    test('descriptors read, write, stat and close; a read at the end finds EOF, and data appended later', async () => {
      const path = join(home, `f-${name}.txt`);
      writeFileSync(path, '0123456789');
      const fh = await io.open(path, constants.O_RDWR);
      try {
        assert.equal((await fh.stat()).size, 10);
        const buf = Buffer.alloc(32);
        assert.equal((await fh.read(buf, 0, 32, 0)).bytesRead, 10);
        assert.equal((await fh.read(buf, 0, 32, 10)).bytesRead, 0);
        assert.equal((await fh.read(buf, 0, 32, 99)).bytesRead, 0);
        appendFileSync(path, 'abcde'); // by another descriptor: the EOF answer must not be stale
        assert.equal((await fh.read(buf, 0, 32, 10)).bytesRead, 5);
        assert.equal(buf.subarray(0, 5).toString(), 'abcde');
        assert.equal((await fh.write(Buffer.from('XY'), 0, 2, 0)).bytesWritten, 2);
        await fh.truncate(4);
        assert.equal((await fh.stat()).size, 4);
      } finally {
        await fh.close();
        await fh.close(); // a second close resolves, as FileHandle's does
      }
    });

    test(`reads run on the event loop only in the sync flavour and only for files of at most ${SYNC_READ_MAX_FILE} bytes`, async () => {
      // Settled within the microtasks of the call's own turn = done on the event loop; a read on
      // the thread pool needs an event-loop turn to come back.
      const settlesAtOnce = async (p: Promise<unknown>): Promise<boolean> => {
        let settled = false;
        void p.then(() => (settled = true));
        for (let i = 0; i < 5; i++) await Promise.resolve();
        const atOnce = settled;
        await p;
        return atOnce;
      };
      const small = join(home, `small-${name}.bin`);
      const big = join(home, `big-${name}.bin`);
      writeFileSync(small, Buffer.alloc(SYNC_READ_MAX_FILE, 7));
      writeFileSync(big, Buffer.alloc(SYNC_READ_MAX_FILE + 1, 8));
      const buf = Buffer.alloc(256 * 1024);
      const s = await io.open(small, constants.O_RDONLY);
      const b = await io.open(big, constants.O_RDWR);
      try {
        await s.stat();
        await b.stat();
        assert.equal(await settlesAtOnce(s.read(buf, 0, buf.length, 0)), name === 'sync');
        assert.equal((await s.read(buf, 0, buf.length, 0)).bytesRead, SYNC_READ_MAX_FILE);
        assert.equal(await settlesAtOnce(b.read(buf, 0, buf.length, 0)), false);
        assert.equal((await b.read(buf, 0, buf.length, 0)).bytesRead, SYNC_READ_MAX_FILE + 1);
        assert.ok(buf.subarray(0, SYNC_READ_MAX_FILE + 1).every((x) => x === 8));
        // A small file that grew past the bound while open: its reads go back to the thread pool
        // once a read has seen the growth, and read every byte.
        appendFileSync(small, Buffer.alloc(SYNC_READ_MAX_FILE, 9));
        const tail = await s.read(buf, 0, buf.length, SYNC_READ_MAX_FILE);
        assert.equal(tail.bytesRead, SYNC_READ_MAX_FILE);
        assert.ok(buf.subarray(0, SYNC_READ_MAX_FILE).every((x) => x === 9));
        assert.equal(await settlesAtOnce(s.read(buf, 0, 16, 0)), false);
      } finally {
        await s.close();
        await b.close();
      }
    });

    test('namespace calls change the disk as their node:fs counterparts', async () => {
      const d = join(home, `d-${name}`);
      await io.mkdir(d, 0o700);
      assert.equal((await io.lstat(d))!.mode & 0o777, 0o700);
      // A missing entry is null, not an error, and so is one below a file (ENOTDIR).
      assert.equal(await io.lstat(join(d, 'none')), null);
      writeFileSync(join(d, 'f'), '');
      assert.equal(await io.lstat(join(d, 'f', 'below')), null);
      await io.unlink(join(d, 'f'), 0);
      writeFileSync(join(d, 'a'), 'a');
      await io.link(join(d, 'a'), join(d, 'b'));
      await io.rename(join(d, 'b'), join(d, 'c'));
      await io.unlink(join(d, 'a'), 1);
      await io.chmod(join(d, 'c'), 0o600);
      await io.utimes(join(d, 'c'), 1000, 2000);
      const st = (await io.lstat(join(d, 'c')))!;
      assert.equal(st.mode & 0o777, 0o600);
      assert.equal(st.mtimeMs, 2000_000);
      assert.equal(await io.realpath(join(home, 'out')), tmp);
      await io.unlink(join(d, 'c'), 1);
      await io.rmdir(d);
      assert.equal(await io.lstat(d), null);
    });

    test("the jail's descriptor check: inside passes, outside and deleted are NOT_FOUND", async () => {
      const jail = await Jail.open(home, io);
      const inside = openSync(join(home, 'ten.txt'), 'r');
      const outside = openSync(join(tmp, 'outside.txt'), 'r');
      const gone = join(home, `gone-${name}.txt`);
      writeFileSync(gone, 'x');
      const deleted = openSync(gone, 'r');
      unlinkSync(gone);
      const oddPath = join(home, `odd-${name} (deleted)`);
      writeFileSync(oddPath, 'x'); // a name that looks like the kernel's mark of a deleted file
      const odd = openSync(oddPath, 'r');
      try {
        assert.equal(await jail.verifyFd(inside), join(home, 'ten.txt'));
        assert.equal(await jail.verifyFd(odd), oddPath);
        for (const fd of [outside, deleted]) {
          await assert.rejects(jail.verifyFd(fd), (e) => e instanceof VfsError && e.code === 'NOT_FOUND');
        }
      } finally {
        for (const fd of [inside, outside, deleted, odd]) closeSync(fd);
      }
    });

    test("the jail's parent folder: plain folders, a symlink inside, and one leading out", async () => {
      const jail = await Jail.open(home, io);
      assert.deepEqual(await jail.parent('/sub/x'), { dir: join(home, 'sub'), name: 'x', path: join(home, 'sub', 'x') });
      assert.deepEqual(await jail.parent('/x'), { dir: home, name: 'x', path: join(home, 'x') });
      symlinkSync('sub', join(home, `in-${name}`));
      assert.equal((await jail.parent(`/in-${name}/x`)).dir, join(home, 'sub'));
      for (const v of ['/out/x', '/out/home2/x', '/missing/x']) {
        await assert.rejects(jail.parent(v), (e) => e instanceof VfsError && e.code === 'NOT_FOUND', v);
      }
    });
  });
}
