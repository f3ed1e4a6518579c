/**
 * SPEC §7 Workers: coffer-server with `workers: 2` as a real process tree (supervisor + 2 cluster
 * workers sharing one port and one SQLite store). Logins land on both workers and every line says
 * which; kill -9 of a worker loses only its own sessions, is logged and restarted; SIGTERM and
 * SIGINT let uploads in flight on both workers finish and the server exits 0 with no process left;
 * a start that fails exits 1 instead of restarting. Clients: ssh2 (driven step by step, so a kill
 * or a signal lands mid-upload for sure) and OpenSSH sftp.
 */
import { alive } from '../support/postgres.js';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { SFTPWrapper } from 'ssh2';
import { sftpBatch } from '../support/openssh.js';
import { cleanEnv, PROJECT, runCli } from '../support/run-cli.js';
import { freshRoot, startServerProcess, type ServerProcess } from '../support/server-process.js';
import { closed, connect, makeClientKey, tryLogin, type ClientKey, type SshClient } from '../support/ssh-clients.js';
import { tempDir } from '../support/temp-dirs.js';
import { waitFor } from '../support/wait.js';

const PASSWORD = 'workers-pw-1';
const USERS = ['alice', 'bob', 'carol', 'dave'];
const CHUNK = 4 * 1024 * 1024;

/** A state root with USERS (password, and `key` for OpenSSH). */
async function rootWithUsers(key: ClientKey): Promise<string> {
  const root = await freshRoot('coffer-workers-');
  await writeFile(join(root, 'client.pub'), key.publicLine + '\n');
  for (const user of USERS) {
    const add = runCli('coffer-users', ['--root', root, 'add', user, '--password-stdin', '--key', join(root, 'client.pub')], { input: PASSWORD + '\n' });
    assert.equal(add.status, 0, add.stderr);
  }
  return root;
}

/** Starts coffer-server --workers 2 and waits until both workers serve; returns the workers' PIDs by id. */
async function startCluster(root: string, extra: string[] = [], detached = false): Promise<{ proc: ServerProcess; pids: Map<number, number> }> {
  const proc = await startServerProcess(root, ['--workers', '2', '--shutdown-grace-seconds', '120', ...extra], { detached });
  await waitFor(() => proc.events('worker.ready').length >= 2, 30_000, `two workers ready:\n${proc.output().slice(-2000)}`);
  return { proc, pids: new Map(proc.events('worker.ready').map((l) => [Number(l.id), Number(l.pid)])) };
}

/** The worker that logged `user`'s latest login. */
function workerOf(proc: ServerProcess, user: string): number {
  const lines = proc.events('auth.success', { user });
  return Number(lines.at(-1)!.worker);
}

/** An ssh2 login of `user`, with the worker that serves it. */
async function login(proc: ServerProcess, user: string): Promise<{ client: SshClient; worker: number }> {
  const before = proc.events('auth.success', { user }).length;
  const client = await connect(proc.port, { username: user, password: PASSWORD });
  await waitFor(() => proc.events('auth.success', { user }).length > before, 10_000, `${user}'s auth.success line`);
  return { client, worker: workerOf(proc, user) };
}

/** Logins of two users served by two different workers (the round robin alternates; retried if not). */
async function loginsOnTwoWorkers(proc: ServerProcess, a: string, b: string): Promise<[{ client: SshClient; worker: number }, { client: SshClient; worker: number }]> {
  const first = await login(proc, a);
  for (let i = 0; i < 8; i++) {
    const second = await login(proc, b);
    if (second.worker !== first.worker) return [first, second];
    second.client.end();
  }
  throw new Error('no login reached the second worker');
}

function sftpOf(client: SshClient): Promise<SFTPWrapper> {
  return new Promise((resolve, reject) => client.sftp((err, sftp) => (err ? reject(err) : resolve(sftp))));
}

/** An upload driven piece by piece: open, write `pieces` chunks on demand, close. */
async function openUpload(client: SshClient, path: string) {
  const sftp = await sftpOf(client);
  const handle = await new Promise<Buffer>((resolve, reject) => sftp.open(path, 'w', (err, h) => (err ? reject(err) : resolve(h))));
  const hash = createHash('sha256');
  let offset = 0;
  return {
    async write(bytes: number) {
      const data = randomBytes(bytes);
      hash.update(data);
      await new Promise<void>((resolve, reject) => sftp.write(handle, data, 0, data.length, offset, (err) => (err ? reject(err) : resolve())));
      offset += bytes;
    },
    async close(): Promise<{ size: number; sha256: string }> {
      await new Promise<void>((resolve, reject) => sftp.close(handle, (err) => (err ? reject(err) : resolve())));
      return { size: offset, sha256: hash.digest('hex') };
    },
  };
}

async function fileSha(path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex');
}

describe('workers: 2', () => {
  let key: ClientKey;
  let keyDir: string;
  before(async () => {
    keyDir = await tempDir('coffer-workers-key-');
    key = await makeClientKey(keyDir, 'id_ed25519');
  });

  describe('serving', () => {
    let root: string;
    let proc: ServerProcess;
    let pids: Map<number, number>;
    before(async () => {
      root = await rootWithUsers(key);
      ({ proc, pids } = await startCluster(root));
    });
    after(() => proc?.kill());

    it('one supervisor line, then both workers listen on the same port; every line carries worker', () => {
      const [sup] = proc.events('supervisor.start');
      assert.equal(sup?.workers, 2);
      assert.equal(sup?.worker, 0);
      const starts = proc.events('start');
      assert.equal(starts.length, 2);
      assert.deepEqual(new Set(starts.map((l) => l.port)).size, 1, 'one shared port');
      assert.deepEqual(new Set(starts.map((l) => l.worker)), new Set(pids.keys()));
      assert.equal(pids.size, 2);
      for (const pid of pids.values()) assert.ok(alive(pid) && pid !== proc.child.pid);
      const unlabelled = proc.lines.filter((l) => typeof l.worker !== 'number');
      assert.deepEqual(unlabelled, []);
    });

    it('OpenSSH sftp logins are served by both workers, and the files agree', async () => {
      const cwd = await tempDir('coffer-workers-sftp-');
      await writeFile(join(cwd, 'up.bin'), randomBytes(256 * 1024));
      for (const user of USERS) {
        const r = await sftpBatch({ port: proc.port, user, key, cwd }, ['put up.bin', `get up.bin down-${user}.bin`]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(await fileSha(join(cwd, `down-${user}.bin`)), await fileSha(join(cwd, 'up.bin')));
      }
      await waitFor(() => USERS.every((u) => proc.events('auth.success', { user: u }).length > 0), 10_000, 'the auth.success lines');
      const workers = new Set(USERS.map((u) => workerOf(proc, u)));
      assert.deepEqual(workers, new Set(pids.keys()), 'four logins in a row reach both workers');
    });

    it('kill -9 of one worker: the session on the other one goes on; worker.exit SIGKILL; a new worker serves', async () => {
      const [keep, victim] = await loginsOnTwoWorkers(proc, 'alice', 'bob');
      const upload = await openUpload(keep.client, 'under-kill.bin');
      await upload.write(CHUNK);
      const victimPid = pids.get(victim.worker)!;
      const victimClosed = closed(victim.client);
      process.kill(victimPid, 'SIGKILL');
      const exit = await proc.waitFor('worker.exit', { id: victim.worker }, 15_000);
      assert.equal(exit.signal, 'SIGKILL');
      assert.equal(exit.code, null);
      await victimClosed; // only the dead worker's session is lost
      await upload.write(CHUNK);
      const sent = await upload.close();
      assert.equal(await fileSha(join(root, 'homes', 'alice', 'under-kill.bin')), sent.sha256, 'the upload on the other worker completed intact');
      keep.client.end();
      // The replacement: a new worker id, ready, and logins reach it.
      await waitFor(() => proc.events('worker.ready').length >= 3, 20_000, 'the replacement worker');
      const replacement = Number(proc.events('worker.ready').at(-1)!.id);
      assert.ok(!pids.has(replacement));
      assert.ok(!alive(victimPid));
      await waitFor(
        async () => {
          assert.equal(await tryLogin(proc.port, { username: 'carol', password: PASSWORD }), 'ok');
          return proc.events('auth.success', { worker: replacement }).length > 0;
        },
        20_000,
        'a login served by the replacement worker',
      );
      assert.equal(proc.events('worker.restart').length, 1);
    });
  });

  // SIGTERM and SIGINT to the supervisor; and SIGINT to the process group, as a terminal's Ctrl-C
  // sends it: each worker then gets it itself as well as from the supervisor, and must not take
  // the second for a "second signal" that forces it out.
  const stops = [
    { signal: 'SIGTERM', group: false },
    { signal: 'SIGINT', group: false },
    { signal: 'SIGINT', group: true },
  ] as const;
  for (const { signal, group } of stops) {
    it(`${signal}${group ? ' to the whole process group (Ctrl-C)' : ''} during uploads on both workers: they finish, the server exits 0, no process is left`, async () => {
      const root = await rootWithUsers(key);
      const { proc, pids } = await startCluster(root, [], group);
      try {
        const [a, b] = await loginsOnTwoWorkers(proc, 'alice', 'bob');
        const upA = await openUpload(a.client, 'drain.bin');
        const upB = await openUpload(b.client, 'drain.bin');
        await upA.write(CHUNK);
        await upB.write(CHUNK);
        if (group) process.kill(-proc.child.pid!, signal);
        else proc.child.kill(signal);
        // Both workers have begun draining (not accepting) while the uploads are open.
        await waitFor(() => proc.events('shutdown').filter((l) => l.worker !== 0).length === 2, 15_000, 'both workers draining');
        assert.equal(await tryLogin(proc.port, { username: 'carol', password: PASSWORD }) === 'ok', false, 'no new logins while draining');
        await upA.write(CHUNK);
        await upB.write(CHUNK);
        const [sentA, sentB] = [await upA.close(), await upB.close()];
        const { code, signal: bySignal } = await proc.exited;
        assert.deepEqual({ code, bySignal }, { code: 0, bySignal: null }, proc.output().slice(-2000));
        assert.equal(await fileSha(join(root, 'homes', 'alice', 'drain.bin')), sentA.sha256);
        assert.equal(await fileSha(join(root, 'homes', 'bob', 'drain.bin')), sentB.sha256);
        assert.equal(proc.events('worker.exit', { code: 0 }).length, 2);
        assert.equal(proc.events('worker.restart').length, 0, 'draining workers are not restarted');
        assert.deepEqual(proc.events('shutdown.forced'), [], 'no process took the stop for a second signal');
        for (const pid of pids.values()) assert.ok(!alive(pid), `worker ${pid} is gone`);
      } finally {
        await proc.kill();
        for (const pid of pids.values()) if (alive(pid)) process.kill(pid, 'SIGKILL');
      }
    });
  }

  it('kill -9 of the supervisor takes its workers with it (no orphans)', async () => {
    const root = await rootWithUsers(key);
    const { proc, pids } = await startCluster(root);
    try {
      await proc.kill();
      await waitFor(() => [...pids.values()].every((pid) => !alive(pid)), 15_000, 'the workers to exit after their supervisor');
    } finally {
      for (const pid of pids.values()) if (alive(pid)) process.kill(pid, 'SIGKILL');
    }
  });

  describe('exit statuses of a start that cannot succeed', () => {
    /** Runs coffer-server to its exit (60 s at most). */
    function runServer(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
      return new Promise((resolve) => {
        const child = spawn(process.execPath, [join(PROJECT, 'bin', 'coffer-server.js'), '--log-format', 'json', ...args], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
        child.on('exit', (code) => {
          clearTimeout(timer);
          resolve({ code, stdout, stderr });
        });
      });
    }

    it('a bad workers value: one line, exit 2, nothing forked', async () => {
      const root = await freshRoot();
      for (const bad of ['0', 'many', '100000']) {
        const r = await runServer(['--root', root, '--port', '0', '--workers', bad]);
        assert.equal(r.code, 2, bad);
        assert.match(r.stderr, /^coffer-server: error: flag --workers must be a whole number from 1 to 256, or 'auto' \(got "[^"]+"\)\n$/);
        assert.equal(r.stdout, '');
      }
    });

    it('an unreachable PostgreSQL: one line, exit 1, no worker forked', async () => {
      const root = await freshRoot();
      const r = await runServer(['--root', root, '--port', '0', '--workers', '2', '--database', 'postgres://u:p@127.0.0.1:1/coffer']);
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stderr.split('\n').filter(Boolean).length, 1, r.stderr);
      assert.doesNotMatch(r.stdout, /"worker":[1-9]/);
    });

    it('workers that cannot listen (port in use): exit 1 once, no restart loop', async () => {
      const root = await freshRoot();
      const blocker = createServer();
      await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
      try {
        const port = (blocker.address() as { port: number }).port;
        const r = await runServer(['--root', root, '--host', '127.0.0.1', '--port', String(port), '--workers', '2']);
        assert.equal(r.code, 1, r.stdout + r.stderr);
        const lines = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
        assert.ok(lines.some((l) => l.event === 'supervisor.failed'), r.stdout);
        assert.equal(lines.filter((l) => l.event === 'worker.restart').length, 0);
        assert.match(r.stderr, /EADDRINUSE/);
      } finally {
        blocker.close();
      }
    });
  });
});
