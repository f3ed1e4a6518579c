/**
 * Issue 8 item 3: faults, against coffer-server running as a subprocess on its own state root.
 *
 * (a) kill -9 of a client (OpenSSH sftp) mid-upload: the partial file stays, is counted once (the
 *     stored usage equals the disk once the session ended), and `reput` resumes it to the right
 *     sha256.
 * (b) kill -9 of the server mid-upload: the database passes `PRAGMA integrity_check`, its block and
 *     connection stay in the store, the restarted server expires it and recounts that user at the next login (usage = disk), and the
 *     client resumes with `reput` to the right sha256.
 * (c) ENOSPC mid-write: covered by test/quota/quota-enospc.test.ts ("sequential writes past the
 *     disk fail with FAILURE ...": a WRITE that fails partway on a 2 MiB tmpfs, a short write leaving
 *     bytes past the last acknowledged one, the ledger reconciled with fstat; plus 64 writes in
 *     flight and two sessions filling the disk at once). Not duplicated here.
 * (d) the database locked by another process (as a concurrent coffer-users command would): a
 *     connection holding `BEGIN IMMEDIATE` for 2 s while users log in, upload and `coffer-users
 *     quota` runs; then for longer than the 5 s busy timeout.
 * (e) a client that stops reading its channel: SFTP in test/sftp-e2e/raw-protocol.test.ts
 *     ("back-pressure": server memory bounded, other sessions responsive), legacy scp/exec in
 *     test/scp/scp-interop.test.ts ("a client that never reads a download stalls only itself").
 *     Not duplicated here.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { SFTPWrapper } from 'ssh2';
import { commonOptions } from '../support/openssh.js';
import { diskBytes, usersCli } from '../support/quota-helpers.js';
import { PROJECT } from '../support/run-cli.js';
import { freshRoot, startServerProcess, usageRow, type ServerProcess } from '../support/server-process.js';
import { connect, makeClientKey, run, type ClientKey, type RunResult, type SshClient } from '../support/ssh-clients.js';
import { waitFor } from '../support/wait.js';

const MiB = 1024 * 1024;
const BIG = 100 * MiB;

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

describe('faults', { timeout: 90_000 }, () => {
  let root: string;
  let scratch: string;
  let key: ClientKey;
  let bigPath: string;
  let bigSha: string;
  let srv: ServerProcess;
  const home = (name: string) => join(root, 'homes', name);

  before(async () => {
    root = await freshRoot('coffer-faults-');
    scratch = await mkdtemp(join(tmpdir(), 'coffer-faults-scratch-'));
    key = await makeClientKey(scratch, 'id_ed25519');
    const big = randomBytes(BIG);
    bigSha = createHash('sha256').update(big).digest('hex');
    bigPath = join(scratch, 'big.bin');
    await writeFile(bigPath, big);
    for (const name of ['alice', 'carol', 'dave', 'erin']) {
      const r = await usersCli(root, ['add', name, '--no-password', '--key', key.publicPath, '--quota', '1G']);
      assert.equal(r.code, 0, `add ${name}: ${r.stderr}`);
    }
    srv = await startServerProcess(root, ['--max-connections-per-ip', '100', '--max-sessions-per-user', '50', '--ban-threshold', '0']);
  });
  after(async () => {
    await srv?.kill();
    await rm(root, { recursive: true, force: true });
    await rm(scratch, { recursive: true, force: true });
  });

  /** OpenSSH sftp as a child process (so it can be killed), batch from stdin. */
  function sftpChild(name: string, lines: string[], extra: string[] = []): { child: ChildProcess; done: Promise<RunResult> } {
    const child = spawn('sftp', [...commonOptions(key), '-P', String(srv.port), ...extra, '-b', '-', `${name}@127.0.0.1`], { cwd: scratch, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin!.end(lines.join('\n') + '\n');
    const done = new Promise<RunResult>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
    return { child, done };
  }

  /** Waits until the remote file holds at least `bytes`. */
  const growsTo = (path: string, bytes: number) =>
    waitFor(async () => ((await stat(path).catch(() => null))?.size ?? 0) >= bytes, 20_000, `${path} to reach ${bytes} bytes`);

  /** usedBytes as `coffer-users show NAME --json` prints it. */
  async function shownUsage(name: string): Promise<number> {
    const r = await usersCli(root, ['show', name, '--json']);
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as { usedBytes: number }).usedBytes;
  }

  /** Once no session holds `name`'s usage: stored usage = disk (= `expected`). */
  async function assertSettled(name: string, expected?: number): Promise<number> {
    await waitFor(() => usageRow(root, name)?.held === false, 10_000, `${name}'s usage to be settled, blocks and connections gone`);
    const disk = await diskBytes(home(name));
    assert.equal(await shownUsage(name), disk, `${name}: coffer-users show usedBytes = disk`);
    if (expected !== undefined) assert.equal(disk, expected);
    return disk;
  }

  it('(a) kill -9 of OpenSSH sftp mid-upload: the partial stays, is counted once, and reput resumes it to the right sha256', async (t) => {
    const remote = join(home('alice'), 'big.bin');
    // -l: 200 Mbit/s, so the upload is surely under way (not finished) when the kill lands.
    const up = sftpChild('alice', ['put big.bin big.bin'], ['-l', '200000']);
    await growsTo(remote, 10 * MiB);
    up.child.kill('SIGKILL');
    const killed = await up.done;
    assert.equal(killed.signal, 'SIGKILL');
    await srv.waitFor('transfer', { user: 'alice', direction: 'upload', outcome: 'interrupted' });
    await srv.waitFor('session.end', { user: 'alice' });
    const partial = (await stat(remote)).size;
    t.diagnostic(`partial upload: ${partial} of ${BIG} bytes`);
    assert.ok(partial >= 10 * MiB && partial < BIG, 'a partial file stays under the final name');
    await assertSettled('alice', partial);

    const okBefore = srv.events('transfer', { user: 'alice', direction: 'upload', outcome: 'ok' }).length;
    const resumed = sftpChild('alice', ['reput big.bin big.bin']);
    const r = await resumed.done;
    assert.equal(r.code, 0, `reput: ${r.stderr}`);
    // The line is written after the CLOSE's turn and its reply, within 20 ms (line-writer.ts).
    await waitFor(() => srv.events('transfer', { user: 'alice', direction: 'upload', outcome: 'ok' }).length > okBefore, 10_000, "the reput's transfer line");
    const transfers = srv.events('transfer', { user: 'alice', direction: 'upload', outcome: 'ok' });
    assert.equal(transfers.at(-1)?.bytes, BIG - partial, 'only the missing part was sent');
    assert.equal(await sha256File(remote), bigSha);
    await assertSettled('alice', BIG);
  });

  it('(b) kill -9 of the server mid-upload: database intact, usage recounted at the next login, reput resumes', async (t) => {
    const remote = join(home('carol'), 'big.bin');
    const up = sftpChild('carol', ['put big.bin big.bin'], ['-l', '200000']);
    await growsTo(remote, 10 * MiB);
    await waitFor(() => (usageRow(root, 'carol')?.blockBytes ?? 0) > 0, 5000, 'the server to hold a block of carol');
    await srv.kill();
    const client = await up.done;
    assert.notEqual(client.code, 0, 'the client saw the connection die');

    const check = await run('sqlite3', [join(root, 'db', 'coffer.db'), 'PRAGMA integrity_check']);
    assert.equal(check.code, 0, check.stderr);
    assert.equal(check.stdout.trim(), 'ok');
    const row = usageRow(root, 'carol')!;
    assert.ok(row.blockBytes > 0 && row.connections > 0, "the dead server's block and connection stay until it is expired");
    const partial = (await stat(remote)).size;
    t.diagnostic(`partial upload: ${partial} bytes; stored usage at the crash: ${row.usedBytes}`);
    assert.ok(partial > 0 && partial < BIG);

    srv = await startServerProcess(root, ['--max-connections-per-ip', '100', '--max-sessions-per-user', '50', '--ban-threshold', '0']);
    const okBefore = srv.events('transfer', { user: 'carol', direction: 'upload', outcome: 'ok' }).length;
    const resumed = sftpChild('carol', ['reput big.bin big.bin']);
    // The new server finds the old pid gone (same host), expires it (its block charged, carol
    // unsure) and recounts carol from the disk: nobody else serves her.
    const recount = await srv.waitFor('quota.recount', { user: 'carol' }, 20_000);
    assert.equal(recount.after, partial, 'the recount found the partial file on disk');
    const r = await resumed.done;
    assert.equal(r.code, 0, `reput: ${r.stderr}`);
    // The line is written after the CLOSE's turn and its reply, within 20 ms (line-writer.ts).
    await waitFor(() => srv.events('transfer', { user: 'carol', direction: 'upload', outcome: 'ok' }).length > okBefore, 10_000, "the reput's transfer line");
    const transfers = srv.events('transfer', { user: 'carol', direction: 'upload', outcome: 'ok' });
    assert.equal(transfers.at(-1)?.bytes, BIG - partial, 'only the missing part was sent');
    assert.equal(await sha256File(remote), bigSha);
    await assertSettled('carol', BIG);
    // Only one recount: the next login of carol starts from the stored figure.
    const again = sftpChild('carol', ['ls -l big.bin']);
    assert.equal((await again.done).code, 0);
    await assertSettled('carol', BIG);
    assert.equal(srv.events('quota.recount', { user: 'carol' }).length, 1);
  });

  describe('(d) the database locked by another process', () => {
    /** A process holding BEGIN IMMEDIATE on the database for `ms`, as a slow coffer-users command would. */
    async function holdLock(ms: number): Promise<{ released: Promise<void>; lockedAt: number }> {
      const script = `
        const Database = require('better-sqlite3');
        const db = new Database(process.argv[1], { timeout: 5000 });
        db.exec('BEGIN IMMEDIATE');
        process.stdout.write('locked\\n');
        setTimeout(() => { db.exec('COMMIT'); db.close(); process.stdout.write('released\\n'); }, Number(process.argv[2]));`;
      const child = spawn(process.execPath, ['-e', script, join(root, 'db', 'coffer.db'), String(ms)], { cwd: PROJECT, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
      const exit = new Promise<void>((resolve) => child.on('exit', () => resolve()));
      await waitFor(() => out.includes('locked') || child.exitCode !== null, 10_000, 'the lock holder to lock');
      assert.ok(out.includes('locked'), `lock holder: ${out}`);
      return {
        lockedAt: Date.now(),
        released: exit.then(() => assert.ok(out.includes('released'), `lock holder: ${out}`)),
      };
    }

    const sftpOf = (c: SshClient) => new Promise<SFTPWrapper>((resolve, reject) => c.sftp((err, s) => (err ? reject(err) : resolve(s))));
    const login = (name: string) => connect(srv.port, { username: name, privateKey: key.privateKey, readyTimeout: 20_000 });
    const put = (s: SFTPWrapper, path: string, data: Buffer) =>
      new Promise<void>((resolve, reject) => s.writeFile(path, data, (err: Error | null | undefined) => (err ? reject(err) : resolve())));
    const statvfsQuota = (s: SFTPWrapper) =>
      new Promise<number>((resolve, reject) =>
        s.ext_openssh_statvfs('/', (err, info: { f_blocks: number; f_frsize: number }) => (err ? reject(err) : resolve(info.f_blocks * info.f_frsize))),
      );
    const lstatMs = async (s: SFTPWrapper) => {
      const t0 = Date.now();
      await new Promise<void>((resolve, reject) => s.lstat('/', (err) => (err ? reject(err) : resolve())));
      return Date.now() - t0;
    };
    const end = (c: SshClient) =>
      new Promise<void>((resolve) => {
        c.once('close', () => resolve());
        c.end();
      });

    it('held 2 s: logins succeed, uploads continue, `coffer-users quota` applies after the release, nothing crashes', async (t) => {
      const first = await login('dave');
      const s1 = await sftpOf(first);
      await put(s1, '/before.bin', randomBytes(MiB));
      const lock = await holdLock(2000);
      const [second, during, quota] = await Promise.all([
        // a login while the lock is held (its recordLogin write waits for the lock)
        login('dave').then(async (c) => {
          const s2 = await sftpOf(c);
          await put(s2, '/during-new.bin', randomBytes(MiB));
          return { c, s2, at: Date.now() };
        }),
        // an upload on a session opened before the lock
        put(s1, '/during-old.bin', randomBytes(2 * MiB)).then(() => Date.now()),
        usersCli(root, ['quota', 'dave', '5M']),
      ]);
      await lock.released;
      t.diagnostic(`login+upload done ${second.at - lock.lockedAt} ms after the lock, old session's upload ${during - lock.lockedAt} ms`);
      assert.equal(quota.code, 0, `coffer-users quota waited for the lock: ${quota.stderr}`);
      // The new quota reaches the server once the lock is gone (it polls the database).
      await waitFor(async () => (await statvfsQuota(s1)) === 5 * MiB, 10_000, 'the server to apply the 5M quota');
      await assert.rejects(put(second.s2, '/over.bin', randomBytes(2 * MiB)), /Quota exceeded/);
      assert.ok(srv.alive(), 'the server is running');
      // The server's writes do not wait on the lock (10 ms busy timeout): a refused usage write is
      // logged and retried at the next flush, and settles once the lock is gone (checked below).
      assert.ok(srv.events('quota.settle-failed').every((e) => e.user !== undefined), 'refused writes name their user');
      await Promise.all([end(first), end(second.c)]);
      await assertSettled('dave');
    });

    it('held 7 s (longer than the 5 s busy timeout): a login still succeeds (its store writes wait for the lock without blocking the server), coffer-users fails cleanly', async (t) => {
      const lock = await holdLock(7000);
      const [c, quota] = await Promise.all([
        login('erin').then(async (c) => {
          const s = await sftpOf(c);
          await put(s, '/during.bin', randomBytes(MiB));
          return c;
        }),
        usersCli(root, ['quota', 'erin', '7M']),
      ]);
      t.diagnostic(`erin logged in and uploaded ${Date.now() - lock.lockedAt} ms after the lock was taken`);
      assert.equal(quota.code, 1, 'coffer-users gave up after its busy timeout');
      assert.match(quota.stderr, /^coffer-users: error: .*locked/);
      assert.equal(quota.stderr.trim().split('\n').length, 1, `one line, no stack trace: ${quota.stderr}`);
      assert.ok(Date.now() - lock.lockedAt >= 6500, 'the login waited for the lock');
      await lock.released;
      assert.ok(srv.alive(), 'the server survived the failed database writes');
      await end(c);
      // Store writes wait for the lock (retried without blocking the server); after the release
      // the usage settles.
      const check = await login('erin');
      await end(check);
      await assertSettled('erin', MiB);
      assert.equal(usageRow(root, 'erin')!.quotaBytes, 1024 * MiB, 'the refused quota change changed nothing');
    });

    it('a held lock stalls only database writers, not every session of the server', async (t) => {
      const bystander = await login('alice');
      const s = await sftpOf(bystander);
      await put(s, '/busy.bin', randomBytes(64 * 1024)); // alice's usage is dirty: the next flush writes
      const lock = await holdLock(2500);
      const loginDuringLock = login('erin'); // its recordLogin waits for the lock
      let worst = 0;
      while (Date.now() - lock.lockedAt < 2000) worst = Math.max(worst, await lstatMs(s));
      await end(await loginDuringLock);
      await lock.released;
      await end(bystander);
      t.diagnostic(`worst lstat latency of an unrelated session while the lock was held: ${worst} ms`);
      assert.ok(worst < 500, `an lstat took ${worst} ms while another process held the database lock`);
    });
  });
});
