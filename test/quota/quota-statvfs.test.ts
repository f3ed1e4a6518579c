/**
 * Issue 5, item 4: statvfs@openssh.com and fstatvfs@openssh.com report the quota as the
 * filesystem (block size 4096, smaller for tiny quotas; blocks = quota / bsize; free = (quota -
 * used) / bsize), so `df` in OpenSSH's sftp shows Size = quota, Used = usage, Avail = the rest.
 * A user without a quota sees the real disk.
 */
import assert from 'node:assert/strict';
import { statfs } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { addQuotaUser, bytes, FXF, KiB, MiB, opensshSftp, RawSession, startQuotaServer, type QuotaServer } from '../support/quota-helpers.js';
import { waitFor } from '../support/wait.js';

/** The figures of OpenSSH sftp's `df` (1K-blocks) or `df -h` (scaled text) line. */
function parseDf(stdout: string): string[] {
  const lines = stdout.split('\n');
  const head = lines.findIndex((l) => /Size\s+Used\s+Avail\s+\(root\)\s+%Capacity/.test(l));
  assert.ok(head >= 0, `a df header in:\n${stdout}`);
  return lines[head + 1]!.trim().split(/\s+/);
}

describe('quota: statvfs reports the quota', { timeout: 60_000 }, () => {
  let ts: QuotaServer;
  before(async () => {
    ts = await startQuotaServer();
  });
  after(async () => {
    await ts?.close();
  });

  it('statvfs@openssh.com: bsize 4096, blocks = quota / 4096, free = (quota - used) / 4096, following usage live', async () => {
    await addQuotaUser(ts, 'sv1', 10 * MiB);
    const s = await RawSession.open(ts, 'sv1');
    let st = await s.statvfs('/');
    assert.equal(st.f_bsize, 4096);
    assert.equal(st.f_frsize, 4096);
    assert.equal(st.f_blocks, 2560);
    assert.equal(st.f_bfree, 2560);
    assert.equal(st.f_bavail, 2560);
    await s.putFile('/three', bytes(3 * MiB));
    st = await s.statvfs('/');
    assert.deepEqual([st.f_bsize, st.f_blocks, st.f_bfree, st.f_bavail], [4096, 2560, 1792, 1792]);
    await s.putFile('/odd', bytes(5000)); // free = floor((10 MiB - 3 MiB - 5000) / 4096)
    st = await s.statvfs('/');
    assert.equal(st.f_bfree, Math.floor((7 * MiB - 5000) / 4096));
    await s.mkdir('/sub');
    const sub = await s.statvfs('/sub');
    assert.deepEqual([sub.f_bsize, sub.f_blocks, sub.f_bfree, sub.f_bavail], [st.f_bsize, st.f_blocks, st.f_bfree, st.f_bavail], 'any path in the home reports the same');
    await s.unlink('/odd');
    st = await s.statvfs('/');
    assert.equal(st.f_bfree, 1792);
    await s.end();
  });

  it('fstatvfs@openssh.com on an open handle reports the same, including growth reserved by writes on that handle', async () => {
    await addQuotaUser(ts, 'sv2', 1 * MiB);
    const s = await RawSession.open(ts, 'sv2');
    const h = await s.openFile('/f', FXF.WRITE | FXF.CREAT | FXF.TRUNC);
    await s.write(h, bytes(256 * KiB), 0);
    const st = await s.fstatvfs(h);
    assert.deepEqual([st.f_bsize, st.f_frsize, st.f_blocks, st.f_bfree, st.f_bavail], [4096, 4096, 256, 192, 192]);
    const byPath = await s.statvfs('/');
    assert.deepEqual([byPath.f_bsize, byPath.f_blocks, byPath.f_bfree], [st.f_bsize, st.f_blocks, st.f_bfree]);
    await s.write(h, bytes(768 * KiB), 256 * KiB);
    const full = await s.fstatvfs(h);
    assert.equal(full.f_bfree, 0);
    assert.equal(full.f_bavail, 0);
    await s.closeFile(h);
    await s.end();
  });

  it('over the quota (lowered below usage), free is 0, never negative', async () => {
    await addQuotaUser(ts, 'sv3', 1 * MiB);
    const s = await RawSession.open(ts, 'sv3');
    await s.putFile('/f', bytes(512 * KiB));
    ts.admin.setQuota('sv3', 100 * KiB);
    await waitFor(() => ts.server.state.ledger.peek('sv3')?.limit === 100 * KiB, 5000, 'the new quota');
    const st = await s.statvfs('/');
    assert.deepEqual([st.f_bsize, st.f_blocks, st.f_bfree, st.f_bavail], [4096, 25, 0, 0]);
    await s.end();
  });

  it('tiny quotas get a smaller block size (at least 16 blocks), so the figures stay meaningful', async () => {
    const cases: Array<[number, number]> = [
      [65_536, 4096], // 16 blocks of 4096
      [65_535, 2048],
      [1000, 32],
      [16, 1],
      [1, 1],
    ];
    for (const [quota, bsize] of cases) {
      const name = `tiny${quota}`;
      await addQuotaUser(ts, name, quota);
      const s = await RawSession.open(ts, name);
      const st = await s.statvfs('/');
      assert.equal(st.f_bsize, bsize, `bsize for a ${quota}-byte quota`);
      assert.equal(st.f_blocks, Math.floor(quota / bsize), `blocks for a ${quota}-byte quota`);
      assert.equal(st.f_bfree, Math.floor(quota / bsize));
      await s.end();
    }
  });

  it("OpenSSH sftp `df` and `df -h` show Size = quota, Used = usage, Avail = the rest", async () => {
    await addQuotaUser(ts, 'sv4', 10 * MiB);
    const s = await RawSession.open(ts, 'sv4');
    await s.putFile('/three', bytes(3 * MiB));
    await s.end();
    const r = await opensshSftp(ts, 'sv4', ['df', 'df -h']);
    assert.equal(r.code, 0, r.stderr);
    const [, second] = r.stdout.split(/^sftp> df -h$/m);
    // `df`: 1K blocks: size, used, avail, root, capacity.
    assert.deepEqual(parseDf(r.stdout.split(/^sftp> df -h$/m)[0]!), ['10240', '3072', '7168', '7168', '30%']);
    // `df -h`: scaled.
    const human = parseDf(second!);
    // (OpenSSH 9.2's fmt_scaled writes 10.0MB; other versions 10.0M or 10.0MiB.)
    const scaled = human.slice(0, 3).map((v) => v.replace(/(i?B)$/, ''));
    assert.deepEqual(scaled, ['10.0M', '3.0M', '7.0M'], `df -h: ${human.join(' ')}`);
  });

  it('a user without a quota sees the real disk (statvfs and OpenSSH df)', async () => {
    const home = await addQuotaUser(ts, 'sv5', null);
    const s = await RawSession.open(ts, 'sv5');
    await s.putFile('/f', bytes(100 * KiB));
    const st = await s.statvfs('/');
    await s.end();
    const disk = await statfs(home);
    assert.equal(st.f_bsize, disk.bsize);
    assert.equal(st.f_blocks, disk.blocks);
    assert.ok(Math.abs(st.f_bfree - disk.bfree) < disk.blocks / 100, `free blocks ${st.f_bfree} ~ ${disk.bfree}`);
    const r = await opensshSftp(ts, 'sv5', ['df']);
    assert.equal(r.code, 0, r.stderr);
    const [size] = parseDf(r.stdout);
    assert.equal(Number(size), Math.floor((disk.blocks * disk.bsize) / 1024));
  });
});
