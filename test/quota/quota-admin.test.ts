/**
 * Issue 5, item 5: admin changes through the real coffer-users program apply live to a running
 * server (quota, rescan, show), and usage persistence: across a clean restart, and after a server
 * died holding a block of a user's usage (expired, the user recounted from disk before the next session).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { defaultRouter } from '../../src/server/routes.js';
import { startServer } from '../../src/server/server.js';
import { createLogger } from '../../src/util/logger.js';
import { LogCapture } from '../support/log-capture.js';
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
  MiB,
  RawSession,
  startQuotaServer,
  usersCli,
  waitSettled,
  type QuotaServer,
} from '../support/quota-helpers.js';
import { cleanEnv, PROJECT } from '../support/run-cli.js';
import { TEST_SCRYPT } from '../support/test-server.js';
import { waitFor } from '../support/wait.js';

describe('quota: admin changes apply live; usage persists', { timeout: 120_000 }, () => {
  let ts: QuotaServer;
  before(async () => {
    ts = await startQuotaServer();
  });
  after(async () => {
    await ts?.close();
  });

  it('`coffer-users quota NAME 1M` while the user uploads refuses the next growth; below usage, overwrites, shrinking and deletes still work', async () => {
    const name = 'ad1';
    await addQuotaUser(ts, name, 10 * MiB);
    const s = await RawSession.open(ts, name);
    const h = await s.openFile('/up.bin', FXF.WRITE | FXF.CREAT | FXF.TRUNC);
    await s.writeAll(h, bytes(1536 * KiB)); // 1.5 MiB stored so far
    // The upload goes on in 4 KiB writes while coffer-users runs, until a write is refused.
    const cli = usersCli(ts.root, ['quota', name, '1M']);
    let offset = 1536 * KiB;
    let refusal: Error | null = null;
    while (!refusal) {
      // A slow coffer-users start (a loaded machine) must not let the upload reach the old quota
      // (10 MiB) first: past 8 MiB, the next write waits until the server has the new quota.
      if (offset >= 8 * MiB) await waitFor(() => liveQuota(ts, name)?.limit === MiB, 20_000, 'the new quota to reach the server');
      try {
        await s.write(h, bytes(4 * KiB), offset);
        offset += 4 * KiB;
      } catch (err) {
        refusal = err as Error;
      }
    }
    const r = await cli;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /quota 1\.0 MiB/);
    assert.ok(refusal, 'the upload was refused');
    assert.equal(refusal.message, 'Quota exceeded');
    assert.equal((refusal as Error & { code?: number }).code, 4);
    assert.equal(liveQuota(ts, name)!.limit, MiB);
    await assertLive(ts, name, offset);
    assert.equal((await stat(join(ts.config.paths.homesDir, name, 'up.bin'))).size, offset, 'the bytes stored before the refusal stay');

    // Over the quota: no growth, but an overwrite inside the file, shrinking and removing work.
    await expectQuotaExceeded(s.write(h, bytes(1), offset), 'growth over a lowered quota');
    await expectQuotaExceeded(s.putFile('/new', bytes(1)), 'a new file over a lowered quota');
    await s.write(h, bytes(4 * KiB), 0);
    await s.ftruncate(h, 1100 * KiB);
    await assertLive(ts, name, 1100 * KiB); // ('/new' was created, empty, before its write was refused)
    await s.closeFile(h);
    await s.unlink('/up.bin');
    await assertLive(ts, name, 0);
    // Under the quota again: growth is allowed exactly up to it.
    await s.putFile('/again', bytes(MiB));
    await expectQuotaExceeded(s.putFile('/more', bytes(1)), 'one byte past the new quota');
    await s.end();
    await assertSettled(ts, name, MiB);
  });

  it('raising the quota with coffer-users lets a refused upload continue', async () => {
    const name = 'ad2';
    await addQuotaUser(ts, name, 100 * KiB);
    const s = await RawSession.open(ts, name);
    const h = await s.openFile('/f', FXF.WRITE | FXF.CREAT);
    await s.writeAll(h, bytes(100 * KiB));
    await expectQuotaExceeded(s.write(h, bytes(1), 100 * KiB));
    const r = await usersCli(ts.root, ['quota', name, '200K']);
    assert.equal(r.code, 0, r.stderr);
    await waitFor(() => liveQuota(ts, name)?.limit === 200 * KiB, 5000, 'the raised quota to reach the server');
    await s.writeAll(h, bytes(100 * KiB), 100 * KiB);
    await expectQuotaExceeded(s.write(h, bytes(1), 200 * KiB));
    await s.closeFile(h);
    await s.end();
    await assertSettled(ts, name, 200 * KiB);
  });

  it('`coffer-users rescan NAME` while the user is connected corrects the ledger to what the disk holds (files changed outside the server)', async () => {
    const name = 'ad3';
    const home = await addQuotaUser(ts, name, MiB);
    const s = await RawSession.open(ts, name);
    await s.putFile('/a', bytes(100 * KiB));
    const h = await s.openFile('/open', FXF.WRITE | FXF.CREAT); // a handle stays open across the rescan
    await s.write(h, bytes(50 * KiB), 0);
    // Outside the server: a file appears, another one goes.
    await writeFile(join(home, 'outside'), bytes(300 * KiB));
    await unlink(join(home, 'a'));
    assert.equal(liveQuota(ts, name)!.used, 150 * KiB, 'the ledger does not know yet');
    const r = await usersCli(ts.root, ['rescan', name]);
    assert.equal(r.code, 0, r.stderr);
    // Connected: the server serving the user recounts (it knows the writes in flight); the command
    // waits for it and prints its figure.
    assert.match(r.stdout, new RegExp(`${name}: used .* -> 350\\.0 KiB \\(recounted by the server serving the user\\)`));
    await waitFor(() => liveQuota(ts, name)?.used === 350 * KiB, 5000, 'the server to adopt the rescan');
    await ts.logs.waitFor('quota.recount', { user: name });
    await assertLive(ts, name, 350 * KiB);
    // The quota now counts the outside file: 674 KiB are left, and the open handle carries on.
    await s.writeAll(h, bytes(674 * KiB), 50 * KiB);
    await expectQuotaExceeded(s.write(h, bytes(1), 724 * KiB));
    await s.closeFile(h);
    await s.end();
    await assertSettled(ts, name, MiB);
  });

  it(
    '`coffer-users rescan` during an upload keeps the upload counted (no drift once the upload ends)',

    async (t) => {
      const name = 'ad4';
      await addQuotaUser(ts, name, null);
      const s = await RawSession.open(ts, name);
      const h = await s.openFile('/stream', FXF.WRITE | FXF.CREAT | FXF.TRUNC);
      let offset = 0;
      const write = async () => {
        await s.write(h, bytes(16 * KiB), offset);
        offset += 16 * KiB;
      };
      await write();
      // The upload goes on (one 16 KiB write at a time) while the rescan runs and is adopted.
      const rescanned = ts.logs.events('quota.recount', { user: name }).length;
      const cli = usersCli(ts.root, ['rescan', name]);
      let cliDone = false;
      void cli.then(() => (cliDone = true));
      while (!cliDone || ts.logs.events('quota.recount', { user: name }).length === rescanned) await write();
      assert.equal((await cli).code, 0);
      for (let i = 0; i < 10; i++) await write();
      await s.closeFile(h);
      await s.end();
      await waitSettled(ts, name);
      const disk = await diskBytes(join(ts.config.paths.homesDir, name));
      const stored = ts.admin.usage(name)!.usedBytes;
      t.diagnostic(`disk ${disk}, stored usage ${stored} (${disk - stored} bytes lost)`);
      assert.equal(disk, offset);
      assert.equal(stored, disk, 'usage equals the disk after the upload');
    },
  );

  it('`coffer-users show` prints used, quota and free (text and --json); the usage reaches the database within about a second while connected', async () => {
    const name = 'ad5';
    await addQuotaUser(ts, name, 2 * MiB);
    const s = await RawSession.open(ts, name);
    await s.putFile('/f', bytes(512 * KiB));
    // Still connected: the batched flush writes it within ~1 s.
    await waitFor(() => ts.admin.usage(name)?.usedBytes === 512 * KiB, 5000, 'the periodic flush');
    const text = await usersCli(ts.root, ['show', name]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^quota:\s+2\.0 MiB$/m);
    assert.match(text.stdout, /^used:\s+512\.0 KiB$/m);
    assert.match(text.stdout, /^free:\s+1\.5 MiB$/m);
    await s.end();
    await waitSettled(ts, name);
    const json = await usersCli(ts.root, ['show', name, '--json']);
    assert.equal(json.code, 0, json.stderr);
    const shown = JSON.parse(json.stdout) as { quotaBytes: number; usedBytes: number };
    assert.equal(shown.quotaBytes, 2 * MiB);
    assert.equal(shown.usedBytes, 512 * KiB);
    await assertSettled(ts, name, 512 * KiB);
  });

  it('usage survives a restart: a second server on the same root starts from the stored figure (no recount) and enforces it', async () => {
    const name = 'ad6';
    // A first server on its own root (the shared one keeps serving the other tests).
    const first = await startQuotaServer();
    try {
      await addQuotaUser(first, name, 300 * KiB);
      const s = await RawSession.open(first, name);
      await s.putFile('/kept', bytes(200 * KiB));
      // Shut down with the session still open: close() settles the usage and gives the block back.
      await first.server.close();
      const row = first.admin.usage(name)!;
      assert.deepEqual([row.usedBytes, row.unsure], [200 * KiB, false]);
      assert.equal((first.admin.db.prepare('SELECT count(*) AS n FROM quota_holds').get() as { n: number }).n, 0, 'no block or connection left in the store');
      await s.end();

      const logs = new LogCapture(process.env.COFFER_TEST_LOGS === '1');
      const second = await startServer(first.config, {
        scrypt: TEST_SCRYPT,
        router: defaultRouter(),
        logger: createLogger({ level: 'info', format: 'json', destination: logs }),
      });
      try {
        const s2 = await RawSession.open(second.address, name);
        assert.equal(second.state.ledger.peek(name)?.used, 200 * KiB);
        await s2.putFile('/more', bytes(100 * KiB));
        await expectQuotaExceeded(s2.putFile('/over', bytes(1)), 'the persisted usage counts');
        await s2.end();
        await waitFor(() => second.state.ledger.peek(name) === undefined, 5000, 'the session to end');
        assert.equal(logs.events('quota.recount').length, 0, 'a clean stop needs no recount');
      } finally {
        await second.close();
      }
      const after = first.admin.usage(name)!;
      assert.deepEqual([after.usedBytes, after.unsure], [300 * KiB, false]);
      assert.equal(await diskBytes(join(first.config.paths.homesDir, name)), 300 * KiB);
    } finally {
      await first.close();
    }
  });

  it('unsure usage (a dead process, figure stale) is recounted from disk before the next session', async () => {
    const name = 'ad7';
    const home = await addQuotaUser(ts, name, MiB);
    await writeFile(join(home, 'on-disk'), bytes(123_456));
    // What expiring a process that died with a block of this user's leaves behind.
    ts.admin.db.prepare('UPDATE users SET used_bytes = ?, usage_unsure = 1 WHERE name = ?').run(999_999, name);
    const s = await RawSession.open(ts, name);
    const line = await ts.logs.waitFor('quota.recount', { user: name });
    assert.deepEqual([line.before, line.after], [999_999, 123_456]);
    await assertLive(ts, name, 123_456);
    await s.putFile('/new', bytes(MiB - 123_456));
    await expectQuotaExceeded(s.putFile('/over', bytes(1)));
    await s.end();
    await assertSettled(ts, name, MiB);
  });

  it('a coffer-server process killed (SIGKILL) mid-upload: the other process on the store expires it, charges its block, and recounts the partial upload', async (t) => {
    const name = 'ad8';
    const home = await addQuotaUser(ts, name, 10 * MiB);
    const child = spawn(process.execPath, [join(PROJECT, 'bin', 'coffer-server.js'), '--root', ts.root, '--host', '127.0.0.1', '--port', '0', '--log-format', 'json', '--log-level', 'info'], {
      env: cleanEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    t.after(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const startLine = () => out.split('\n').find((l) => l.includes('"event":"start"'));
    await waitFor(() => startLine() !== undefined || child.exitCode !== null, 20_000, 'coffer-server to start');
    assert.ok(startLine(), `coffer-server started: ${out}`);
    const port = (JSON.parse(startLine()!) as { port: number }).port;

    const s = await RawSession.open({ port }, name);
    const h = await s.openFile('/partial', FXF.WRITE | FXF.CREAT);
    await s.writeAll(h, bytes(300 * KiB));
    const block = () => (ts.admin.db.prepare('SELECT sum(block_bytes) AS n FROM quota_holds WHERE user_name = ?').get(name) as { n: number | null }).n ?? 0;
    await waitFor(() => block() > 0, 5000, 'the other server to hold a block of the user');
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    s.client.destroy();
    assert.equal((await readFile(join(home, 'partial'))).length, 300 * KiB, 'the partial upload is on disk');
    // The test server's janitor finds the pid gone (same host) and expires it within about a second.
    const expired = await ts.logs.waitFor('quota.process-expired');
    assert.equal(expired.users, 1);
    const line = await ts.logs.waitFor('quota.recount', { user: name });
    assert.equal(line.after, 300 * KiB);
    assert.equal(block(), 0, 'the dead block is gone');

    const s2 = await RawSession.open(ts, name);
    await assertLive(ts, name, 300 * KiB);
    await s2.end();
    await assertSettled(ts, name, 300 * KiB);
  });
});
