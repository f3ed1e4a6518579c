/**
 * Issue 5, item 6: a full disk (ENOSPC) is not a quota event. The user's home is a 2 MiB tmpfs
 * (mounted over it; the machine must allow `mount`, else every test here is skipped with the
 * reason) and their quota is 10 MiB: writes past the disk fail with FAILURE and the message
 * `No space left on device`, nothing is logged as a quota refusal, and the ledger is reconciled
 * with what the disk really holds (a short write leaves bytes past the last acknowledged one).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { addQuotaUser, assertLive, assertSettled, bytes, FX_FAILURE, FXF, KiB, localFile, MiB, RawSession, sftpClient, startQuotaServer, type QuotaServer } from '../support/quota-helpers.js';

const TMPFS_SIZE = 2 * MiB;

function sh(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => execFile(cmd, args, (err, stdout, stderr) => (err ? reject(new Error(`${cmd} ${args.join(' ')}: ${stderr || err.message}`)) : resolve(stdout))));
}

describe('quota: a full disk is not a quota event', { timeout: 60_000 }, () => {
  let ts: QuotaServer;
  const mounts: string[] = [];
  let skip: string | null = null;
  let n = 0;

  before(async () => {
    ts = await startQuotaServer();
  });
  after(async () => {
    for (const dir of mounts) await sh('umount', [dir]).catch(() => sh('umount', ['-l', dir]));
    await ts?.close();
  });

  /** A user with a 10 MiB quota whose home is a fresh 2 MiB tmpfs; null (and the test skipped) where mounting is not allowed. */
  async function userOnTmpfs(t: TestContext): Promise<{ name: string; home: string } | null> {
    if (skip) {
      t.skip(skip);
      return null;
    }
    const name = `ns${++n}`;
    const home = await addQuotaUser(ts, name, 10 * MiB);
    try {
      await sh('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_SIZE},mode=0700`, 'tmpfs', home]);
    } catch (err) {
      skip = `cannot mount a tmpfs here (${(err as Error).message.trim()}); ENOSPC is not tested`;
      t.diagnostic(skip);
      t.skip(skip);
      return null;
    }
    mounts.push(home);
    return { name, home };
  }

  const noSpace = (err: Error & { code?: number }) => {
    assert.equal(err.message, 'No space left on device');
    assert.equal(err.code, FX_FAILURE);
    return true;
  };

  it('sequential writes past the disk fail with FAILURE "No space left on device"; the ledger counts exactly what the disk holds; deleting frees it', async (t) => {
    const u = await userOnTmpfs(t);
    if (!u) return;
    const s = await RawSession.open(ts, u.name);
    const h = await s.openFile('/fill', FXF.WRITE | FXF.CREAT | FXF.TRUNC);
    let acked = 0;
    let failure: Error | null = null;
    while (!failure && acked < 4 * MiB) {
      try {
        await s.write(h, bytes(48 * KiB), acked);
        acked += 48 * KiB;
      } catch (err) {
        failure = err as Error;
      }
    }
    assert.ok(failure, 'the disk filled up');
    noSpace(failure);
    const size = (await readFile(join(u.home, 'fill'))).length;
    t.diagnostic(`acknowledged ${acked} bytes; the file holds ${size}`);
    assert.ok(size >= acked && size <= TMPFS_SIZE, `${size} bytes stored`);
    await assertLive(ts, u.name, size); // reconciled with fstat right after the failure
    await assert.rejects(s.write(h, bytes(1), size), noSpace);
    await assertLive(ts, u.name, size);
    assert.equal(ts.logs.events('quota.refused').filter((l) => l.user === u.name).length, 0, 'not logged as a quota refusal');
    await s.closeFile(h);
    await s.unlink('/fill');
    await assertLive(ts, u.name, 0);
    await s.putFile('/after', bytes(MiB));
    await s.end();
    await assertSettled(ts, u.name, MiB);
  });

  it('64 writes in flight on one handle (ssh2-sftp-client fastPut) hitting ENOSPC: the ledger is reconciled at close, no drift', async (t) => {
    const u = await userOnTmpfs(t);
    if (!u) return;
    const local = await localFile(ts.scratch, 'three.bin', 3 * MiB);
    const c = await sftpClient(ts, u.name);
    await assert.rejects(c.fastPut(local.path, '/three.bin', { concurrency: 64, chunkSize: 32 * KiB }), /No space left on device/);
    await c.end();
    const disk = await assertSettled(ts, u.name);
    t.diagnostic(`the disk holds ${disk} bytes after the failed upload`);
    assert.ok(disk > 0 && disk <= TMPFS_SIZE);
    assert.equal(ts.logs.events('quota.refused').filter((l) => l.user === u.name).length, 0);
  });

  it('two sessions filling the disk at once (two files, an APPEND handle among them): every failure is ENOSPC, and usage equals the disk after', async (t) => {
    const u = await userOnTmpfs(t);
    if (!u) return;
    const [a, b] = await Promise.all([RawSession.open(ts, u.name), RawSession.open(ts, u.name)]);
    const fill = async (s: RawSession, path: string, flags: number) => {
      const h = await s.openFile(path, flags);
      const results = await Promise.allSettled(Array.from({ length: 48 }, (_, i) => s.write(h, bytes(32 * KiB), i * 32 * KiB)));
      await s.closeFile(h);
      return results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as Error).message] : []));
    };
    const errors = (await Promise.all([fill(a, '/one', FXF.WRITE | FXF.CREAT), fill(b, '/two', FXF.WRITE | FXF.CREAT | FXF.APPEND)])).flat();
    assert.ok(errors.length > 0, 'the disk filled up');
    assert.deepEqual([...new Set(errors)], ['No space left on device']);
    await assertLive(ts, u.name);
    await Promise.all([a.end(), b.end()]);
    await assertSettled(ts, u.name);
  });
});
