/**
 * Issue 5, item 2: every request that changes a user's usage, against the real server in-process
 * driven by real clients (raw ssh2 SFTP for exact flags and offsets, ssh2-sftp-client, OpenSSH
 * sftp, paramiko). Each scenario ends with the ledger, the stored usage and the disk's count
 * (find -type f, i.e. `du -b --apparent-size` of regular files) agreeing, and file contents checked.
 */
import assert from 'node:assert/strict';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  addQuotaUser,
  assertLive,
  assertSettled,
  bytes,
  diskBytes,
  expectQuotaExceeded,
  FXF,
  KiB,
  liveQuota,
  localFile,
  opensshSftp,
  paramiko,
  RawSession,
  sftpClient,
  usersCli,
  startQuotaServer,
  type QuotaServer,
} from '../support/quota-helpers.js';

describe('quota: every path that changes usage', { timeout: 120_000 }, () => {
  let ts: QuotaServer;
  let n = 0;
  /** A fresh user with `quota`; returns their name and home. */
  const user = async (quota: number | null) => {
    const name = `p${++n}`;
    return { name, home: await addQuotaUser(ts, name, quota) };
  };

  before(async () => {
    ts = await startQuotaServer();
  });
  after(async () => {
    await ts?.close();
  });

  it('WRITE charges max(0, offset + length - size): overwrites are free, growth is exact to the byte', async () => {
    const { name, home } = await user(10_000);
    const s = await RawSession.open(ts, name);
    const want = Buffer.alloc(10_000);
    const put = async (h: Buffer, data: Buffer, at: number) => {
      await s.write(h, data, at);
      data.copy(want, at);
    };
    const h = await s.openFile('/f', FXF.WRITE | FXF.CREAT | FXF.TRUNC);
    await put(h, bytes(4000), 0);
    assert.equal(liveQuota(ts, name)!.used, 4000);
    await put(h, bytes(2000), 1000); // inside the file: no growth
    assert.equal(liveQuota(ts, name)!.used, 4000);
    await put(h, bytes(2000), 3000); // 1000 inside, 1000 beyond
    assert.equal(liveQuota(ts, name)!.used, 5000);
    await put(h, bytes(5000), 5000); // exactly up to the quota
    assert.equal(liveQuota(ts, name)!.used, 10_000);
    await expectQuotaExceeded(s.write(h, bytes(1), 10_000), 'one byte past the quota');
    await expectQuotaExceeded(s.write(h, bytes(10), 9995), 'a write straddling the quota');
    await put(h, bytes(5), 9995); // an overwrite of the last bytes is still allowed
    await s.closeFile(h);
    await assertLive(ts, name, 10_000);
    assert.deepEqual(await readFile(join(home, 'f')), want, 'refused writes wrote nothing');
    await s.end();
    await assertSettled(ts, name, 10_000);
  });

  it('an upload larger than the quota (OpenSSH sftp put, ssh2-sftp-client put) fails; the bytes stored before the refusal stay and are counted', async (t) => {
    const quota = 300 * KiB + 123;
    const { name, home } = await user(quota);
    const local = await localFile(ts.scratch, 'big-put.bin', 1024 * KiB);
    const r = await opensshSftp(ts, name, ['put big-put.bin up.bin']);
    assert.notEqual(r.code, 0, 'sftp reports the failed upload');
    assert.match(r.stderr, /write remote|Failure|Couldn't/i, r.stderr);
    const stored = await readFile(join(home, 'up.bin'));
    assert.ok(stored.length <= quota, `stored ${stored.length} <= quota ${quota}`);
    assert.deepEqual(stored, local.data.subarray(0, stored.length), 'what is stored is the start of the file');
    await assertSettled(ts, name, stored.length);
    assert.ok(ts.logs.events('quota.refused').some((l) => l.user === name), 'the refusal is logged with the user');
    t.diagnostic(`OpenSSH put of 1 MiB with ${quota} bytes of quota left ${stored.length} bytes`);

    // ssh2-sftp-client put (an ssh2 write stream, 255 KiB writes): the client leaves what was
    // written. (ssh2-sftp-client 12 resolves put() even though a WRITE was refused: a client
    // quirk; the server's refusal shows in the log and in what is stored.)
    const c = await sftpClient(ts, name);
    await c.delete('/up.bin');
    const refusals = ts.logs.events('quota.refused').filter((l) => l.user === name).length;
    const outcome = await c.put(local.data, '/up2.bin').then(
      () => 'resolved',
      (err: Error) => err.message,
    );
    await c.end();
    const stored2 = await readFile(join(home, 'up2.bin'));
    t.diagnostic(`ssh2-sftp-client put: ${outcome}; it left ${stored2.length} bytes`);
    assert.ok(ts.logs.events('quota.refused').filter((l) => l.user === name).length > refusals, 'the server refused a write');
    assert.ok(stored2.length <= quota && stored2.length > quota - 255 * KiB, `stored ${stored2.length}: everything up to the refused write`);
    assert.deepEqual(stored2, local.data.subarray(0, stored2.length));
    await assertSettled(ts, name, stored2.length);
  });

  it('a sparse WRITE at offset 2^40 (paramiko) is refused over the quota; within the quota the hole is charged in full', async () => {
    const small = await user(1024 * KiB);
    const r = await paramiko(
      ts,
      small.name,
      ['f = sftp.open("sparse", "w")', 'f.seek(2**40)', 'try:', '    f.write(b"x")', '    f.flush()', '    print("OK")', 'except IOError as e:', '    print("ERR", e)', 'f.close()', 'print("SIZE", sftp.stat("sparse").st_size)'].join('\n'),
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ERR Quota exceeded$/m);
    assert.match(r.stdout, /^SIZE 0$/m);
    await assertSettled(ts, small.name, 0);

    const big = await user(2 ** 41);
    const ok = await paramiko(ts, big.name, ['f = sftp.open("sparse", "w")', 'f.seek(2**40)', 'f.write(b"x")', 'f.close()', 'print("SIZE", sftp.stat("sparse").st_size)'].join('\n'));
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^SIZE 1099511627777$/m);
    await assertSettled(ts, big.name, 2 ** 40 + 1);
    const s = await RawSession.open(ts, big.name);
    await s.unlink('/sparse');
    await assertLive(ts, big.name, 0);
    await s.end();
    await assertSettled(ts, big.name, 0);
  });

  it('SETSTAT size (raw ssh2 and paramiko truncate): growth is reserved and refused over the quota, shrinking is credited', async () => {
    const { name, home } = await user(100_000);
    const s = await RawSession.open(ts, name);
    await s.putFile('/f', bytes(1000));
    await s.truncate('/f', 50_000);
    await assertLive(ts, name, 50_000);
    await expectQuotaExceeded(s.truncate('/f', 100_001), 'SETSTAT one byte past the quota');
    await assertLive(ts, name, 50_000);
    await s.truncate('/f', 100_000);
    await assertLive(ts, name, 100_000);
    await s.truncate('/f', 10);
    await assertLive(ts, name, 10);
    await s.end();
    await assertSettled(ts, name, 10);

    const r = await paramiko(
      ts,
      name,
      [
        'try:',
        '    sftp.truncate("f", 2**40)',
        '    print("OK")',
        'except IOError as e:',
        '    print("ERR", e)',
        'print("SIZE", sftp.stat("f").st_size)',
        'sftp.truncate("f", 99999)',
        'print("SIZE", sftp.stat("f").st_size)',
        'sftp.truncate("f", 5)',
        'print("SIZE", sftp.stat("f").st_size)',
      ].join('\n'),
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ERR Quota exceeded\nSIZE 10\nSIZE 99999\nSIZE 5$/m);
    await assertSettled(ts, name, 5);
    assert.equal((await readFile(join(home, 'f'))).length, 5);
  });

  it('FSETSTAT size on an open handle: growth is reserved and refused over the quota, shrinking is credited, writes after it are charged from the new size', async () => {
    const { name, home } = await user(20_000);
    const s = await RawSession.open(ts, name);
    const h = await s.openFile('/f', FXF.WRITE | FXF.CREAT | FXF.TRUNC);
    await s.write(h, bytes(3000), 0);
    await s.ftruncate(h, 8000);
    await assertLive(ts, name, 8000);
    await expectQuotaExceeded(s.ftruncate(h, 20_001), 'FSETSTAT one byte past the quota');
    await assertLive(ts, name, 8000);
    await s.ftruncate(h, 20_000);
    await assertLive(ts, name, 20_000);
    await expectQuotaExceeded(s.write(h, bytes(1), 20_000), 'a write after an FSETSTAT to the quota');
    await s.ftruncate(h, 100);
    await assertLive(ts, name, 100);
    await s.write(h, bytes(50), 90); // 40 bytes of growth
    await assertLive(ts, name, 140);
    await s.closeFile(h);
    await s.end();
    await assertSettled(ts, name, 140);
    assert.equal((await stat(join(home, 'f'))).size, 140);
  });

  it('OPEN with TRUNC credits the old size at once (an overwriting put fits where the sum would not), also when another handle has the file open', async () => {
    const { name, home } = await user(10_000);
    const s = await RawSession.open(ts, name);
    await s.putFile('/f', bytes(8000));
    const h = await s.openFile('/f', FXF.WRITE | FXF.TRUNC);
    await assertLive(ts, name, 0);
    await s.write(h, bytes(100), 0);
    await s.closeFile(h);
    await assertLive(ts, name, 100);
    // OpenSSH put over an existing 8000-byte file with 6000 bytes: 8000 + 6000 > quota, 6000 fits.
    await s.putFile('/g', bytes(7900)); // total 8000
    await assertLive(ts, name, 8000);
    const local = await localFile(ts.scratch, 'six.bin', 6000);
    const r = await opensshSftp(ts, name, ['put six.bin g']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await readFile(join(home, 'g')), local.data);
    await assertLive(ts, name, 6100);

    // Two handles on one file: the other session's TRUNC credits what the first one wrote.
    const other = await RawSession.open(ts, name);
    const a = await s.openFile('/shared', FXF.WRITE | FXF.CREAT);
    await s.write(a, bytes(3000), 0);
    await assertLive(ts, name, 9100);
    const b = await other.openFile('/shared', FXF.WRITE | FXF.TRUNC);
    await assertLive(ts, name, 6100);
    await s.write(a, bytes(10), 0); // charged from 0 again
    await assertLive(ts, name, 6110);
    await other.write(b, bytes(20), 0);
    await assertLive(ts, name, 6120);
    await s.closeFile(a);
    await other.closeFile(b);
    await assertLive(ts, name, 6120);
    await other.end();
    await s.end();
    await assertSettled(ts, name, 6120);
  });

  it('REMOVE credits the file (the freed room can be used again); a file removed while open for writing counts until its last handle closes', async () => {
    const { name, home } = await user(20_000);
    const s = await RawSession.open(ts, name);
    await s.putFile('/a', bytes(12_000));
    await s.putFile('/b', bytes(8000));
    await expectQuotaExceeded(s.putFile('/c', bytes(1)), 'a full quota');
    await s.unlink('/a');
    await assertLive(ts, name, 8000);
    await s.putFile('/c', bytes(12_000));
    await assertLive(ts, name, 20_000);

    const other = await RawSession.open(ts, name);
    await s.unlink('/c');
    const h = await other.openFile('/open', FXF.WRITE | FXF.CREAT);
    await other.write(h, bytes(2000), 0);
    await assertLive(ts, name, 10_000);
    await s.unlink('/open');
    // The unlinked inode is no longer in the home but still holds its 2000 bytes on the disk.
    assert.equal(liveQuota(ts, name)!.used, 10_000);
    assert.equal(await diskBytes(home), 8000);
    await other.closeFile(h);
    await assertLive(ts, name, 8000);
    await other.end();
    await s.end();
    await assertSettled(ts, name, 8000);
  });

  it('writes through a handle on a removed file are still limited by the quota (the unlinked inode takes disk space until closed)', async () => {
    const { name } = await user(100 * KiB);
    const s = await RawSession.open(ts, name);
    const h = await s.openFile('/ghost', FXF.WRITE | FXF.CREAT);
    await s.write(h, bytes(KiB), 0);
    await s.unlink('/ghost');
    let stored = 0;
    let refused = false;
    for (let i = 0; i < 16 && !refused; i++) {
      try {
        await s.write(h, bytes(32 * KiB), KiB + i * 32 * KiB);
        stored += 32 * KiB;
      } catch (err) {
        assert.equal((err as Error).message, 'Quota exceeded');
        refused = true;
      }
    }
    await s.closeFile(h);
    await s.end();
    await assertSettled(ts, name, 0);
    assert.ok(refused, `writes to a removed file's handle were never refused (${stored} bytes stored past a ${100 * KiB}-byte quota)`);
  });

  it('RMDIR of an empty folder leaves usage unchanged; folders count nothing; a folder holding files is not removed', async () => {
    const { name } = await user(10_000);
    const s = await RawSession.open(ts, name);
    for (let i = 0; i < 20; i++) await s.mkdir(`/d${i}`);
    await assertLive(ts, name, 0);
    await s.putFile('/d0/f', bytes(1000));
    await assert.rejects(s.rmdir('/d0'), (err: Error & { code?: number }) => err.code === 4 && /not empty/i.test(err.message));
    await assertLive(ts, name, 1000);
    await s.unlink('/d0/f');
    for (let i = 0; i < 20; i++) await s.rmdir(`/d${i}`);
    await assertLive(ts, name, 0);
    await s.end();
    await assertSettled(ts, name, 0);
  });

  it('RENAME never overwrites: over an existing file it fails and usage is unchanged; to a new name or folder usage is unchanged', async () => {
    const { name, home } = await user(20_000);
    const s = await RawSession.open(ts, name);
    const a = bytes(6000);
    const b = bytes(2000);
    await s.putFile('/a', a);
    await s.putFile('/b', b);
    await assert.rejects(s.rename('/a', '/b'), (err: Error & { code?: number }) => err.code === 4);
    await assertLive(ts, name, 8000);
    assert.deepEqual(await readFile(join(home, 'a')), a);
    assert.deepEqual(await readFile(join(home, 'b')), b);
    await s.mkdir('/d');
    await s.rename('/a', '/d/a2');
    await s.rename('/d', '/e');
    await assertLive(ts, name, 8000);
    assert.deepEqual(await readFile(join(home, 'e', 'a2')), a);
    await s.end();
    await assertSettled(ts, name, 8000);
  });

  it('posix-rename over an existing file credits the replaced file (ssh2, OpenSSH sftp rename), and a replaced file held open for writing counts until it is closed', async () => {
    const { name, home } = await user(10_000);
    const s = await RawSession.open(ts, name);
    const a = bytes(6000);
    await s.putFile('/a', a);
    await s.putFile('/b', bytes(4000));
    await expectQuotaExceeded(s.putFile('/x', bytes(1)), 'a full quota');
    await s.posixRename('/a', '/b');
    await assertLive(ts, name, 6000);
    assert.deepEqual(await readFile(join(home, 'b')), a);
    await s.posixRename('/b', '/b'); // onto itself: nothing replaced
    await assertLive(ts, name, 6000);

    // OpenSSH sftp's rename uses posix-rename@openssh.com when the server offers it.
    await s.putFile('/c', bytes(3000));
    const r = await opensshSftp(ts, name, ['rename c b']);
    assert.equal(r.code, 0, r.stderr);
    await assertLive(ts, name, 3000);

    // The replaced file is open for writing in another session: it counts until that handle closes.
    const other = await RawSession.open(ts, name);
    const h = await other.openFile('/victim', FXF.WRITE | FXF.CREAT);
    await other.write(h, bytes(2500), 0);
    await assertLive(ts, name, 5500);
    await s.posixRename('/b', '/victim');
    assert.equal(liveQuota(ts, name)!.used, 5500); // the replaced inode is still on the disk
    assert.equal(await diskBytes(home), 3000);
    await other.closeFile(h);
    await assertLive(ts, name, 3000);
    await other.end();
    await s.end();
    await assertSettled(ts, name, 3000);
  });

  it('APPEND: each write on an APPEND handle is charged its length, lands at the end whatever offset it names, and is refused past the quota', async () => {
    const { name, home } = await user(3000);
    const s = await RawSession.open(ts, name);
    const first = bytes(1000);
    await s.putFile('/log', first);
    const h = await s.openFile('/log', FXF.WRITE | FXF.APPEND);
    const second = bytes(1500);
    await s.write(h, second, 0); // offset 0, but APPEND writes at the end
    await assertLive(ts, name, 2500);
    await expectQuotaExceeded(s.write(h, bytes(501), 0), 'an append one byte past the quota');
    const third = bytes(500);
    await s.write(h, third, 100);
    await s.closeFile(h);
    await assertLive(ts, name, 3000);
    assert.deepEqual(await readFile(join(home, 'log')), Buffer.concat([first, second, third]));
    await s.end();

    // ssh2-sftp-client's append() (APPEND|CREAT|WRITE handle through a write stream).
    const c = await sftpClient(ts, name);
    await c.delete('/log');
    await c.append(Buffer.from('hello '), '/greet');
    await c.append(Buffer.from('world'), '/greet');
    await c.end();
    await assertSettled(ts, name, 11);
    assert.equal(await readFile(join(home, 'greet'), 'utf8'), 'hello world');
  });

  it('resumed uploads (OpenSSH reput): only the missing part is charged; a resume past the quota is refused and usage matches what is left', async (t) => {
    const { name, home } = await user(350 * KiB);
    const local = await localFile(ts.scratch, 'resume.bin', 300 * KiB);
    await writeFile(join(home, 'resume.bin'), local.data.subarray(0, 100 * KiB)); // a part from an earlier, broken upload
    // The part was written outside the server: count it the way an admin would.
    assert.equal((await usersCli(ts.root, ['rescan', name])).code, 0);
    assert.equal(ts.admin.usage(name)!.usedBytes, 100 * KiB);
    const r = await opensshSftp(ts, name, ['reput resume.bin resume.bin']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await readFile(join(home, 'resume.bin')), local.data);
    await assertSettled(ts, name, 300 * KiB);

    // Resume a 1 MiB file from its first 100 KiB with 700 KiB of quota: OpenSSH writes 255 KiB
    // blocks (our limits@openssh.com), so two pass and the third is refused. (On a failed upload
    // OpenSSH then truncates the file to what it believes was written, which is the client's doing.)
    const big = await localFile(ts.scratch, 'resume-big.bin', 1024 * KiB);
    await ts.admin.setQuota(name, 700 * KiB);
    const s = await RawSession.open(ts, name);
    await s.unlink('/resume.bin');
    await s.putFile('/resume-big.bin', big.data.subarray(0, 100 * KiB));
    await s.end();
    await assertSettled(ts, name, 100 * KiB);
    const r2 = await opensshSftp(ts, name, ['reput resume-big.bin resume-big.bin']);
    assert.notEqual(r2.code, 0, 'the resumed upload fails at the quota');
    assert.match(r2.stderr, /write remote "\/resume-big.bin": Failure/);
    assert.ok(ts.logs.events('quota.refused').some((l) => l.user === name), 'the refusal is a quota refusal');
    const stored = await readFile(join(home, 'resume-big.bin'));
    t.diagnostic(`OpenSSH reput past the quota left ${stored.length} bytes`);
    assert.ok(stored.length <= 700 * KiB, `stored ${stored.length}`);
    assert.deepEqual(stored, big.data.subarray(0, stored.length));
    await assertSettled(ts, name, stored.length);
  });

  it('WinSCP-style resume: WRITE|CREAT (no TRUNC) on the part file, writing from its size, is charged only the rest; then posix-rename into place', async () => {
    const { name, home } = await user(100_000);
    const whole = bytes(90_000);
    const s = await RawSession.open(ts, name);
    const h1 = await s.openFile('/file.bin.filepart', FXF.WRITE | FXF.CREAT | FXF.TRUNC);
    await s.writeAll(h1, whole.subarray(0, 40_000));
    await s.closeFile(h1); // the connection broke here
    await assertLive(ts, name, 40_000);
    const size = (await s.stat('/file.bin.filepart')).size;
    assert.equal(size, 40_000);
    const h2 = await s.openFile('/file.bin.filepart', FXF.WRITE | FXF.CREAT);
    await s.writeAll(h2, whole.subarray(size), size);
    await s.closeFile(h2);
    await assertLive(ts, name, 90_000);
    await s.posixRename('/file.bin.filepart', '/file.bin');
    // A resume that would pass the quota is refused at the first write beyond it.
    const h3 = await s.openFile('/file.bin', FXF.WRITE | FXF.CREAT);
    await s.write(h3, bytes(10_000), 90_000);
    await expectQuotaExceeded(s.write(h3, bytes(1), 100_000), 'resume past the quota');
    await s.closeFile(h3);
    await s.end();
    await assertSettled(ts, name, 100_000);
    assert.deepEqual((await readFile(join(home, 'file.bin'))).subarray(0, 90_000), whole);
  });

  it('copy-data (OpenSSH sftp cp): charged the destination growth, refused past the quota with nothing stored beyond it', async () => {
    const { name, home } = await user(10_000);
    const s = await RawSession.open(ts, name);
    const a = bytes(6000);
    await s.putFile('/a', a);
    await s.end();
    const refused = await opensshSftp(ts, name, ['cp a b']);
    assert.notEqual(refused.code, 0, 'the copy does not fit');
    assert.match(refused.stderr, /Quota exceeded|Failure/);
    await assertSettled(ts, name, 6000); // sftp cp opened b empty; the copy itself stored nothing
    const raised = await usersCli(ts.root, ['quota', name, '20000']);
    assert.equal(raised.code, 0, raised.stderr);
    const ok = await opensshSftp(ts, name, ['cp a c']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual(await readFile(join(home, 'c')), a);
    await assertSettled(ts, name, 12_000);
  });
  // Legacy scp uploads over the quota are covered by test/scp/scp-interop.test.ts (ledger = disk <= quota).
});
