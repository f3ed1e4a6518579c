/**
 * coffer-server on PostgreSQL (SPEC §7), one process, as an operator runs it: users made with
 * coffer-users --database, OpenSSH's sftp uploads within and beyond the quota, the usage saved in
 * PostgreSQL, live changes (quota, disable) seen within 2 s, and an unreachable store at start:
 * one line naming the host, exit 1. (Several processes on one store: the shared quota ledger of
 * issue 17, not yet.)
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sftpBatch } from '../support/openssh.js';
import { diskBytes } from '../support/quota-helpers.js';
import { PG_PASSWORD, startPostgres, type PgServer } from '../support/postgres.js';
import { PROJECT, runCli, tempDir } from '../support/run-cli.js';
import { freshRoot, startServerProcess, type ServerProcess } from '../support/server-process.js';
import type { SFTPWrapper } from 'ssh2';
import { closed, connect, makeClientKey, run, type ClientKey } from '../support/ssh-clients.js';
import { waitFor } from '../support/wait.js';

const tmp = tempDir('coffer-server-pg-');
let pgServer: PgServer;
let key: ClientKey;

before(async () => {
  pgServer = await startPostgres();
  key = await makeClientKey(tmp.path, 'id_pg');
});
after(async () => {
  await pgServer?.stop();
  tmp.remove();
});

const users = (root: string, url: string, args: string[]) => runCli('coffer-users', ['--root', root, '--database', url, ...args]);
const show = (root: string, url: string, name: string) => JSON.parse(users(root, url, ['show', name, '--json']).stdout) as { usedBytes: number; usedFiles: number };

describe('coffer-server on PostgreSQL', () => {
  let server: ServerProcess;
  let root: string;
  let url: string;

  before(async () => {
    url = await pgServer.createDatabase();
    root = await freshRoot();
    assert.equal(users(root, url, ['add', 'alice', '--quota', '1M', '--no-password', '--key', key.publicPath]).status, 0);
    server = await startServerProcess(root, ['--database', url]);
  });
  after(() => server?.kill());

  it('serves users of the PostgreSQL store: uploads within the quota, refused beyond it, usage saved there', async () => {
    await writeFile(join(tmp.path, 'small.bin'), Buffer.alloc(600 * 1024, 1));
    const target = { port: server.port, user: 'alice', key, cwd: tmp.path };
    const ok = await sftpBatch(target, ['put small.bin a.bin']);
    assert.equal(ok.code, 0, ok.stderr);
    const over = await sftpBatch(target, ['put small.bin b.bin']);
    assert.notEqual(over.code, 0);
    assert.match(over.stderr, /Quota exceeded|Failure/);
    const disk = await diskBytes(join(root, 'homes', 'alice'));
    assert.ok(disk > 600 * 1024 && disk <= 1024 * 1024, `disk ${disk}: a.bin and what fitted of b.bin, never over the quota`);
    await waitFor(() => show(root, url, 'alice').usedBytes === disk, 10_000, `the usage (${disk} bytes on disk) saved in PostgreSQL`);
    assert.equal(show(root, url, 'alice').usedFiles, 2, 'a.bin and b.bin');
  });

  it('coffer-users changes on PostgreSQL reach the running server within 2 s: a new quota, then disable ends the session', async () => {
    assert.equal(users(root, url, ['quota', 'alice', '10M']).status, 0);
    const target = { port: server.port, user: 'alice', key, cwd: tmp.path };
    const started = Date.now();
    await waitFor(async () => (await sftpBatch(target, ['put small.bin c.bin'])).code === 0, 5000, 'the new quota to apply');
    assert.ok(Date.now() - started < 4000);
    const client = await connect(server.port, { username: 'alice', privateKey: await readFile(key.privatePath) });
    const ended = closed(client);
    const disabledAt = Date.now();
    assert.equal(users(root, url, ['disable', 'alice']).status, 0);
    await ended;
    assert.ok(Date.now() - disabledAt < 2500, `the session ended ${Date.now() - disabledAt} ms after the change`);
    await server.waitFor('session.revoked', { reason: 'user disabled' });
    const refused = await sftpBatch(target, ['pwd']);
    assert.notEqual(refused.code, 0, 'a disabled user cannot log in');
  });

  it('a store lost while serving: new logins are refused (logged store.unavailable), growth gets Temporarily unavailable, an open session keeps reading, and service resumes by itself', async () => {
    assert.equal(users(root, url, ['enable', 'alice']).status, 0);
    const target = { port: server.port, user: 'alice', key, cwd: tmp.path };
    await waitFor(async () => (await sftpBatch(target, ['pwd'])).code === 0, 5000, 'alice enabled again');
    const client = await connect(server.port, { username: 'alice', privateKey: await readFile(key.privatePath) });
    const sftp = await new Promise<SFTPWrapper>((resolve, reject) => client.sftp((err, w) => (err ? reject(err) : resolve(w))));
    const readA = () => new Promise<Buffer>((resolve, reject) => sftp.readFile('/a.bin', (err, b) => (err ? reject(err) : resolve(b))));
    try {
      await pgServer.pause();
      const refused = await sftpBatch(target, ['pwd']);
      assert.notEqual(refused.code, 0, 'no login while the store is gone');
      await server.waitFor('store.unavailable');
      assert.equal((await readA()).length, 600 * 1024, 'an open session reads on');
      // Growth past what this process holds needs the store: refused as unavailable, never as
      // over the quota (SPEC §7).
      const grow = await new Promise<Error | null>((resolve) => sftp.writeFile('/grow.bin', Buffer.alloc(16 * 1024 * 1024), (err: Error | null | undefined) => resolve(err ?? null)));
      assert.equal(grow?.message, 'Temporarily unavailable');
      await pgServer.resume();
      await waitFor(async () => (await sftpBatch(target, ['pwd'])).code === 0, 15_000, 'logins to work again');
    } finally {
      client.end();
    }
  });

  it('an unreachable store at start: one line naming host:port/database, never the password, exit 1', async () => {
    const bad = `postgres://coffer:${PG_PASSWORD}@127.0.0.1:1/coffer`;
    const r = await run(process.execPath, [join(PROJECT, 'bin', 'coffer-server.js'), '--root', root, '--port', '0', '--host', '127.0.0.1', '--database', bad], { timeoutMs: 20_000 });
    assert.equal(r.code, 1, r.stderr);
    const lines = r.stderr.split('\n').filter(Boolean);
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /^coffer-server: error: cannot reach the PostgreSQL store at 127\.0\.0\.1:1\/coffer: /);
    assert.ok(!r.stderr.includes(PG_PASSWORD) && !r.stdout.includes(PG_PASSWORD));
  });
});
