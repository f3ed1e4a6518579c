/**
 * Issue 23 items 2 and 5, reproduced against the real server: space held by files removed while a
 * handle keeps them open, and entries (files, folders, links) that cost nothing. SPEC §5: "A file
 * removed or replaced while any handle on it is open stays charged to the user until its last
 * handle closes", and every entry in a home counts toward the user's entry limit.
 *
 * Before the fix: a 4 MiB file opened read-only and removed was credited at once, so with a 5 MiB
 * quota each round stored another 4 MiB (three rounds: usage 4 MiB, 12 MiB held on disk); and
 * MKDIR, SYMLINK and new files were never counted.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import {
  addQuotaUser, assertSettled, expectQuotaExceeded, homeOf, liveQuota, MiB, RawSession, startQuotaServer, usersCli, waitSettled, FXF, type QuotaServer,
} from '../support/quota-helpers.js';

/** Entries below `dir` as find(1) counts them (every name, the home itself excluded). */
function findEntries(dir: string): Promise<number> {
  return new Promise((resolve, reject) =>
    execFile('find', [dir, '-mindepth', '1', '-printf', 'x\\n'], (err, out) => (err ? reject(err) : resolve(out.split('\n').filter(Boolean).length))),
  );
}

describe('issue 23.2: a file removed or replaced while a handle holds it stays charged', () => {
  let ts: QuotaServer;
  const QUOTA = 5 * MiB;
  const FILE = randomBytes(4 * MiB);

  before(async () => {
    ts = await startQuotaServer();
  });
  after(() => ts.close());

  it('OPEN read-only, REMOVE, write again: three rounds never hold more than the quota', async () => {
    await addQuotaUser(ts, 'holder', QUOTA);
    const s = await RawSession.open(ts, 'holder');
    try {
      // The attack: write, open read-only, remove; again and again.
      await s.putFile('/f1.bin', FILE);
      const h = await s.openFile('/f1.bin', FXF.READ);
      await s.unlink('/f1.bin');
      for (let round = 2; round <= 3; round++) {
        // Still on disk through the handle: still charged.
        assert.equal(liveQuota(ts, 'holder')!.used, 4 * MiB, `round ${round}: the removed file stays charged`);
        await expectQuotaExceeded(s.putFile(`/f${round}.bin`, FILE), `round ${round}: another 4 MiB file`);
        await s.unlink(`/f${round}.bin`); // what fitted of it
      }
      await s.closeFile(h);
      assert.equal(liveQuota(ts, 'holder')!.used, 0, 'released at the last close');
      await s.putFile('/after.bin', FILE);
    } finally {
      await s.end();
    }
    await assertSettled(ts, 'holder', 4 * MiB);
  });

  it('the handle may be in another session, and the removal a posix-rename over the file', async () => {
    await addQuotaUser(ts, 'replacer', QUOTA);
    const a = await RawSession.open(ts, 'replacer');
    const b = await RawSession.open(ts, 'replacer');
    try {
      await a.putFile('/held.bin', FILE);
      const h = await a.openFile('/held.bin', FXF.READ);
      await b.putFile('/small.bin', Buffer.alloc(1024, 7));
      await b.posixRename('/small.bin', '/held.bin');
      assert.equal(liveQuota(ts, 'replacer')!.used, 4 * MiB + 1024, 'the replaced file stays charged');
      await expectQuotaExceeded(b.putFile('/more.bin', FILE), 'a 4 MiB file beside the held one');
      const head = await a.read(h, 16, 0);
      assert.deepEqual(head, FILE.subarray(0, 16), 'the handle still reads the replaced file');
      await a.closeFile(h);
      assert.equal(liveQuota(ts, 'replacer')!.used, (await b.stat('/more.bin')).size! + 1024);
      await b.unlink('/more.bin');
    } finally {
      await a.end();
      await b.end();
    }
    await assertSettled(ts, 'replacer', 1024);
  });
});

describe('issue 23.5: every entry counts toward the entry limit', () => {
  let ts: QuotaServer;

  before(async () => {
    ts = await startQuotaServer({ symlinks: true });
  });
  after(() => ts.close());

  it('pipelined MKDIRs stop exactly at the limit with FAILURE Quota exceeded; statvfs shows files and free files', async () => {
    const LIMIT = 50;
    await ts.addUser('dirs', { password: 'quota-suite-pw-1', keys: [ts.key.publicLine], quota: null, maxFiles: LIMIT });
    const s = await RawSession.open(ts, 'dirs');
    try {
      const results = await Promise.allSettled(Array.from({ length: 2 * LIMIT }, (_, i) => s.mkdir(`/d${i}`)));
      const made = results.filter((r) => r.status === 'fulfilled').length;
      assert.equal(made, LIMIT, 'exactly the limit was made');
      for (const r of results) {
        if (r.status === 'rejected') assert.equal((r.reason as Error).message, 'Quota exceeded');
      }
      assert.equal(await findEntries(homeOf(ts, 'dirs')), LIMIT);
      let vfs = await s.statvfs('/');
      assert.equal(vfs.f_files, LIMIT, 'statvfs files = the limit');
      assert.equal(vfs.f_ffree, 0, 'statvfs free files = 0');
      // At the limit: no new file, but an existing one can be opened for writing.
      await expectQuotaExceeded(s.openFile('/new.txt', FXF.WRITE | FXF.CREAT | FXF.TRUNC), 'a new file at the limit');
      await s.rmdir('/d0');
      vfs = await s.statvfs('/');
      assert.equal(vfs.f_ffree, 1, 'rmdir gives the entry back');
      await s.putFile('/new.txt', Buffer.from('x'));
      await s.putFile('/new.txt', Buffer.from('overwritten at the limit'));
      await expectQuotaExceeded(s.mkdir('/one-more'), 'mkdir at the limit');
      await assert.rejects(s.mkdir('/d1'), (err: Error & { code?: number }) => err.code === 4 && err.message !== 'Quota exceeded', 'an existing folder answers as below the limit');
      await expectQuotaExceeded(s.openFile('/excl.txt', FXF.WRITE | FXF.CREAT | FXF.EXCL), 'CREAT|EXCL at the limit');
      await s.unlink('/new.txt');
      assert.equal((await s.statvfs('/')).f_ffree, 1, 'remove gives the entry back');
    } finally {
      await s.end();
    }
    await waitSettled(ts, 'dirs');
    assert.equal(ts.admin.usage('dirs')!.usedFiles, await findEntries(homeOf(ts, 'dirs')));
  });

  it('with symlinks on: a file opened through a link and removed stays charged; removing the link frees only its entry', async () => {
    await ts.addUser('linker', { password: 'quota-suite-pw-1', keys: [ts.key.publicLine], quota: 5 * MiB, maxFiles: null });
    const s = await RawSession.open(ts, 'linker');
    try {
      await s.putFile('/target.bin', Buffer.alloc(4 * MiB, 3));
      await new Promise<void>((resolve, reject) => s.sftp.symlink('/target.bin', '/via', (err) => (err ? reject(err) : resolve())));
      const h = await s.openFile('/via', FXF.READ);
      await s.unlink('/via'); // the link: one entry, no bytes
      assert.equal(liveQuota(ts, 'linker')!.used, 4 * MiB);
      await s.unlink('/target.bin');
      assert.equal(liveQuota(ts, 'linker')!.used, 4 * MiB, 'held open through the link: still charged');
      await expectQuotaExceeded(s.putFile('/more.bin', Buffer.alloc(4 * MiB, 4)), 'another 4 MiB while it is held');
      await s.unlink('/more.bin');
      await s.closeFile(h);
      assert.equal(liveQuota(ts, 'linker')!.used, 0);
      assert.equal(liveQuota(ts, 'linker')!.usedFiles, 0);
    } finally {
      await s.end();
    }
    await assertSettled(ts, 'linker', 0);
  });

  it('symlinks and files count; a file removed while open keeps its entry until the close; rescan agrees', async () => {
    await ts.addUser('mixed', { password: 'quota-suite-pw-1', keys: [ts.key.publicLine], quota: null, maxFiles: 4 });
    const s = await RawSession.open(ts, 'mixed');
    try {
      await s.mkdir('/dir');
      await s.putFile('/dir/a.txt', Buffer.from('a'));
      await new Promise<void>((resolve, reject) => s.sftp.symlink('/dir/a.txt', '/link', (err) => (err ? reject(err) : resolve())));
      await s.putFile('/b.txt', Buffer.from('b'));
      assert.equal(liveQuota(ts, 'mixed')!.usedFiles, 4);
      await assert.rejects(
        new Promise<void>((resolve, reject) => s.sftp.symlink('/b.txt', '/link2', (err) => (err ? reject(err) : resolve()))),
        /Quota exceeded/,
      );
      const h = await s.openFile('/b.txt', FXF.READ);
      await s.unlink('/b.txt');
      await expectQuotaExceeded(s.putFile('/c.txt', Buffer.from('c')), 'while the removed file is open');
      await s.closeFile(h);
      await s.putFile('/c.txt', Buffer.from('c'));
      // posix-rename over an entry frees that entry.
      await s.posixRename('/c.txt', '/link');
      assert.equal(liveQuota(ts, 'mixed')!.usedFiles, 3);
    } finally {
      await s.end();
    }
    await waitSettled(ts, 'mixed');
    assert.equal(ts.admin.usage('mixed')!.usedFiles, 3);
    const r = await usersCli(ts.root, ['rescan', 'mixed']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /entries 3 -> 3$/m);
  });
});
