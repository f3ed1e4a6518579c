/**
 * Issue 23 item 6 against the real server (in-process, default routing): hash work is shared
 * fairly between users and stops when its session ends (SPEC §5, last paragraph).
 *
 * The attack: one user opens 4 connections × 10 SFTP channels and pipelines 64 check-file
 * requests on each (2,560 sha256 hashes of a 45 MiB file, ~115 GiB of hashing). Before the fix
 * the pool served those jobs round-robin, so another user's `sha256sum` of a small file waited a
 * turn behind all of them (3.6 s in the issue), and the workers kept hashing for tens of seconds
 * after the attacker disconnected. The same holds for a session whose channel alone is closed: an
 * SFTP channel holding more requests than it serves at once (ssh2 emits that channel's 'close'
 * only once its input is read), and an exec sha256sum. The tests watch the pool's gauges (jobs
 * pending and queued, slices started; the server runs in this process), count the slices started
 * after the session ended, and bound the waits well below what the old code takes, with margin for
 * a loaded 2-core machine.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ClientChannel } from 'ssh2';
import { homeDir } from '../../src/config/paths.js';
import { defaultRouter } from '../../src/server/routes.js';
import { hashPool } from '../../src/vfs/hash-pool.js';
import { RawSftp } from '../support/sftp-raw.js';
import { closed, connect, type SshClient } from '../support/ssh-clients.js';
import { startTestServer, type TestServer } from '../support/test-server.js';
import { waitFor } from '../support/wait.js';

const MiB = 1024 * 1024;
const PASSWORD = 'hash-hardening-pw';
const CONNECTIONS = 4;
const CHANNELS = 10;
const PIPELINED = 64;
/** What the other user's answer may take while the attack runs (the old code: seconds). */
const FAIR_BOUND_MS = 1000;
/**
 * How soon after a session ends its queued hashing must be gone (the old code: tens of seconds).
 * Measured 0.24-0.65 s for 2,560 jobs at a load average of 8-10 on 2 cores: most of it is the
 * event loop answering the dropped requests (closing each one's file, a debug log line each).
 */
const STOP_BOUND_MS = 2000;

/** A file of `size` bytes, random in its first MiB and sparse after (hashing costs the same). */
async function sparseFile(path: string, size: number): Promise<void> {
  const fh = await open(path, 'w');
  try {
    await fh.write(randomBytes(MiB), 0, MiB, 0);
    await fh.truncate(size);
  } finally {
    await fh.close();
  }
}

/** Runs `command` on a new exec channel of `client`; resolves stdout, stderr and the exit code. */
function exec(client: SshClient, command: string): Promise<{ stdout: string; stderr: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    client.exec(command, (err, ch) => {
      if (err) return reject(err);
      let stdout = '';
      let stderr = '';
      let code: number | null = null;
      ch.on('data', (d: Buffer) => (stdout += d.toString()));
      ch.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      ch.on('exit', (c: number | null) => (code = c));
      ch.on('close', () => resolve({ stdout, stderr, code }));
    });
  });
}

/** Opens an exec channel and returns it without waiting for the command to finish. */
function startExec(client: SshClient, command: string): Promise<ClientChannel> {
  return new Promise((resolve, reject) => client.exec(command, (err, ch) => (err ? reject(err) : resolve(ch))));
}

describe('hardening: hash work is shared fairly and stops with its session (issue 23 item 6)', { timeout: 400_000 }, () => {
  let ts: TestServer;
  let smallSum: string;
  const clients: SshClient[] = [];

  before(async () => {
    ts = await startTestServer({ router: defaultRouter() });
    await ts.addUser('mallory', { password: PASSWORD });
    await ts.addUser('bob', { password: PASSWORD });
    const mallory = homeDir(ts.config.paths, 'mallory');
    await sparseFile(join(mallory, 'big.bin'), 45 * MiB);
    await sparseFile(join(mallory, 'huge.bin'), 4096 * MiB);
    const small = randomBytes(4096);
    await writeFile(join(homeDir(ts.config.paths, 'bob'), 'small.txt'), small);
    smallSum = createHash('sha256').update(small).digest('hex');
  });
  after(async () => {
    for (const c of clients) c.end();
    await ts.close();
  });

  const login = async (user: string) => {
    const c = await connect(ts.port, { username: user, password: PASSWORD });
    clients.push(c);
    return c;
  };

  it("another user's sha256sum of a small file is answered within 1 s under 4 × 10 × 64 pipelined check-file requests; its queued hashing is dropped within 2 s of the attacker's disconnect, no further slice started", async (t) => {
    const bob = await login('bob');
    const quiet = Date.now();
    assert.equal((await exec(bob, 'sha256sum small.txt')).stdout, `${smallSum}  small.txt\n`);
    t.diagnostic(`bob's sha256sum with nothing else running: ${Date.now() - quiet} ms`);

    const attackers = await Promise.all(Array.from({ length: CONNECTIONS }, () => login('mallory')));
    const channels = (await Promise.all(attackers.map((c) => Promise.all(Array.from({ length: CHANNELS }, () => RawSftp.open(c)))))).flat();
    await Promise.all(channels.map((s) => s.init()));
    let answered = 0;
    for (const s of channels) {
      for (let i = 0; i < PIPELINED; i++) {
        s.request({ kind: 'check-file-name', path: 'big.bin', algorithms: ['sha256'], start: 0, length: 0, blockSize: 0 }).then(
          (r) => void (r.kind === 'extended-reply' && answered++),
          () => undefined, // the channel closes under the requests at the end
        );
      }
    }
    const total = CONNECTIONS * CHANNELS * PIPELINED;
    await waitFor(() => hashPool.pending >= total * 0.9, 30_000, `the server to queue ${total * 0.9} of the ${total} hashes`);
    t.diagnostic(`hash jobs queued or running: ${hashPool.pending}`);

    const t0 = Date.now();
    const r = await exec(bob, 'sha256sum small.txt');
    const waited = Date.now() - t0;
    const left = hashPool.pending;
    t.diagnostic(`bob's sha256sum of a 4 KiB file under the attack: ${waited} ms (hash jobs still pending: ${left})`);

    await Promise.all(attackers.map((c) => (c.end(), closed(c))));
    const t1 = Date.now();
    const slices = hashPool.slices;
    await waitFor(() => hashPool.queued === 0, 120_000, "the attacker's queued hashes to be dropped");
    const dropped = Date.now() - t1;
    await waitFor(() => hashPool.pending === 0, 120_000, 'the hash pool to go idle');
    const idle = Date.now() - t1;
    const after = hashPool.slices - slices;
    t.diagnostic(`after the attacker's connections closed: queue empty in ${dropped} ms, pool idle in ${idle} ms, ${after} slices started since; ${answered} of ${total} requests answered`);

    assert.deepEqual(r, { stdout: `${smallSum}  small.txt\n`, stderr: '', code: 0 });
    assert.ok(waited < FAIR_BOUND_MS, `bob waited ${waited} ms for the digest of 4 KiB (bound ${FAIR_BOUND_MS} ms)`);
    assert.ok(left > total / 2, `the attack was still under way when bob's answer came (${left} jobs pending)`);
    assert.ok(dropped < STOP_BOUND_MS, `the attacker's hashes left the queue ${dropped} ms after it left (bound ${STOP_BOUND_MS} ms)`);
    // The workers' slices under way finish; a session's end racing a slice's return may start one more each.
    assert.ok(after <= 2 * hashPool.workers, `${after} slices were started after the attacker left (${hashPool.workers} workers)`);
    assert.equal((await exec(bob, 'sha256sum small.txt')).stdout, `${smallSum}  small.txt\n`, 'the pool still serves afterwards');
  });

  it('closing an SFTP channel that holds more requests than it serves at once (the connection kept) drops its hashing', async (t) => {
    const mallory = await login('mallory');
    const s = await RawSftp.open(mallory);
    await s.init();
    for (let i = 0; i < 200; i++) {
      s.request({ kind: 'check-file-name', path: 'huge.bin', algorithms: ['sha256'], start: 0, length: 0, blockSize: 0 }).catch(() => undefined);
    }
    await waitFor(() => hashPool.pending >= 64, 10_000, 'the session to serve its first 64 requests');
    s.stream.close();
    await s.closed;
    const t0 = Date.now();
    const slices = hashPool.slices;
    await waitFor(() => hashPool.pending === 0, 120_000, 'the hash pool to go idle');
    const idle = Date.now() - t0;
    const after = hashPool.slices - slices;
    t.diagnostic(`after the SFTP channel closed: pool idle in ${idle} ms, ${after} slices started since`);
    assert.ok(after <= 2 * hashPool.workers, `${after} slices were started after the channel closed`);
    assert.ok(idle < STOP_BOUND_MS, `the pool went idle ${idle} ms after the channel closed (bound ${STOP_BOUND_MS} ms)`);
  });

  it("closing an exec channel stops its sha256sum's hashing after the slice under way (idle within 2 s); the connection stays usable", async (t) => {
    const mallory = await login('mallory');
    const ch = await startExec(mallory, 'sha256sum huge.bin huge.bin huge.bin huge.bin');
    ch.on('data', () => undefined);
    ch.stderr.on('data', () => undefined);
    await waitFor(() => hashPool.pending > 0, 10_000, 'the hash to start');
    const done = new Promise<void>((resolve) => ch.on('close', () => resolve()));
    ch.close();
    await done;
    const t0 = Date.now();
    const slices = hashPool.slices;
    await waitFor(() => hashPool.pending === 0, 120_000, 'the hash pool to go idle');
    const idle = Date.now() - t0;
    const after = hashPool.slices - slices;
    t.diagnostic(`after the exec channel closed: pool idle in ${idle} ms, ${after} slices started since (of the 4,096 the command asked for)`);
    assert.ok(after <= 1, `${after} slices were started after the channel closed`);
    assert.ok(idle < STOP_BOUND_MS, `the pool went idle ${idle} ms after the channel closed (bound ${STOP_BOUND_MS} ms)`);
    const bobSum = await exec(await login('bob'), 'sha256sum small.txt');
    assert.equal(bobSum.stdout, `${smallSum}  small.txt\n`);
    assert.equal((await exec(mallory, 'sha256sum big.bin')).code, 0, "mallory's connection still runs commands");
  });
});
