/**
 * Issue 23 (hardening), "one `scp -f` freezes the server": the server compiled a download pattern
 * into a RegExp, whose backtracking took seconds for `*a*a*a*a*a*a*a*a*b` against one name of 44
 * a's (and hours for 200), on the event loop every user shares. Against coffer-server as a
 * subprocess (so this test's own timers keep running when the server's loop is stuck): user A runs
 * the hostile pattern over a raw exec channel (unquoted, as `scp -O 'host:/g/*a*...'` sends it) while user B lists their home over SFTP; B's
 * requests must stay fast, and A gets the shell's "no match" outcome (the word taken as a name).
 * Then the limits a pattern meets, and a pattern that matches, through OpenSSH's `scp -O`.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { SFTPWrapper } from 'ssh2';
import { commonOptions } from '../support/openssh.js';
import { usersCli } from '../support/quota-helpers.js';
import { freshRoot, startServerProcess, type ServerProcess } from '../support/server-process.js';
import { connect, makeClientKey, run, type ClientKey, type SshClient } from '../support/ssh-clients.js';

const ATTACK = '*a*a*a*a*a*a*a*a*b';
/** B's slowest request may take this long (the RegExp made it seconds; a few ms is normal). */
const MAX_LATENCY_MS = 500;
/** How long A's exec may take before the server counts as frozen. */
const DEADLINE_MS = 15_000;

/** What an exec channel returned. */
interface ExecResult {
  code: number | null;
  out: string;
  ms: number;
}

/** Runs `command` on an exec channel, sends scp's first status byte, collects the output. */
function execScp(client: SshClient, command: string): Promise<ExecResult> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    client.exec(command, (err, ch) => {
      if (err) return reject(err);
      const out: Buffer[] = [];
      let code: number | null = null;
      ch.on('data', (d: Buffer) => out.push(d));
      ch.stderr.resume();
      ch.on('exit', (c: number | null) => (code = c));
      ch.on('close', () => resolve({ code, out: Buffer.concat(out).toString('latin1'), ms: performance.now() - started }));
      ch.write(Buffer.from([0]));
    });
  });
}

/** Resolves with `value` after `ms` (a deadline for an event that may never come, not a wait). */
function deadline<T>(ms: number, value: T): { promise: Promise<T>; cancel(): void } {
  let timer: NodeJS.Timeout;
  const promise = new Promise<T>((resolve) => (timer = setTimeout(() => resolve(value), ms)));
  return { promise, cancel: () => clearTimeout(timer) };
}

const sftpOf = (client: SshClient) => new Promise<SFTPWrapper>((resolve, reject) => client.sftp((err, s) => (err ? reject(err) : resolve(s))));
const listing = (sftp: SFTPWrapper, path: string) => new Promise<number>((resolve, reject) => sftp.readdir(path, (err, list) => (err ? reject(err) : resolve(list.length))));
const sftpWrite = (sftp: SFTPWrapper, path: string, data: string) => new Promise<void>((resolve, reject) => sftp.writeFile(path, data, (err) => (err ? reject(err) : resolve())));
const sftpMkdir = (sftp: SFTPWrapper, path: string) => new Promise<void>((resolve, reject) => sftp.mkdir(path, (err) => (err ? reject(err) : resolve())));

describe('hardening: scp download patterns (issue 23)', { timeout: 120_000 }, () => {
  let root: string;
  let scratch: string;
  let key: ClientKey;
  let srv: ServerProcess;
  let alice: SshClient;
  let bob: SshClient;
  let bobSftp: SFTPWrapper;

  before(async () => {
    root = await freshRoot('coffer-glob-');
    scratch = await mkdtemp(join(tmpdir(), 'coffer-glob-scratch-'));
    key = await makeClientKey(scratch, 'id_ed25519');
    for (const name of ['alice', 'bob']) {
      const r = await usersCli(root, ['add', name, '--no-password', '--key', key.publicPath]);
      assert.equal(r.code, 0, `add ${name}: ${r.stderr}`);
    }
    srv = await startServerProcess(root, ['--max-connections-per-ip', '100', '--ban-threshold', '0']);
    alice = await connect(srv.port, { username: 'alice', privateKey: key.privateKey });
    bob = await connect(srv.port, { username: 'bob', privateKey: key.privateKey });
    bobSftp = await sftpOf(bob);
    const aliceSftp = await sftpOf(alice);
    await sftpMkdir(aliceSftp, '/g');
    await sftpWrite(aliceSftp, `/g/${'a'.repeat(44)}`, 'x');
    await sftpMkdir(aliceSftp, '/h');
    await sftpWrite(aliceSftp, `/h/${'a'.repeat(44)}`, 'x');
    await sftpWrite(aliceSftp, `/h/${'a'.repeat(250)}`, 'x');
    aliceSftp.end();
  });
  after(async () => {
    alice?.end();
    bob?.end();
    await srv?.kill();
    await rm(root, { recursive: true, force: true });
    await rm(scratch, { recursive: true, force: true });
  });

  /**
   * Runs A's `command` while B lists their home again and again; returns A's result (null if it
   * did not end by the deadline) and B's slowest listing (one still pending counts until then).
   */
  async function underAttack(command: string): Promise<{ a: ExecResult | null; slowestB: number; listings: number }> {
    await listing(bobSftp, '/'); // warm
    const limit = deadline(DEADLINE_MS, null);
    let done = false;
    const a = execScp(alice, command).finally(() => (done = true));
    let slowestB = 0;
    let listings = 0;
    try {
      do {
        const started = performance.now();
        const answered = await Promise.race([listing(bobSftp, '/').then(() => true), limit.promise.then(() => false)]);
        slowestB = Math.max(slowestB, performance.now() - started);
        if (!answered) break;
        listings += 1;
      } while (!done);
      return { a: await Promise.race([a, limit.promise]), slowestB, listings };
    } finally {
      limit.cancel();
    }
  }

  it(`a name of 44 a's: A's ${ATTACK} ends at once with "no match", B's listings stay fast`, async (t) => {
    const r = await underAttack(`scp -f /g/${ATTACK}`);
    t.diagnostic(`A's exec: ${r.a ? `${r.a.ms.toFixed(0)} ms` : `not done in ${DEADLINE_MS} ms`}; B's slowest listing ${r.slowestB.toFixed(1)} ms of ${r.listings}`);
    assert.ok(r.a, `A's exec ended within ${DEADLINE_MS} ms`);
    assert.ok(r.slowestB < MAX_LATENCY_MS, `B's slowest listing took ${r.slowestB.toFixed(0)} ms`);
    assert.equal(r.a.out, `\x01scp: /g/${ATTACK}: No such file or directory\n`);
    assert.equal(r.a.code, 1);
  });

  it('names of 44 and 250 a\'s: the same', async (t) => {
    const r = await underAttack(`scp -f /h/${ATTACK}`);
    t.diagnostic(`A's exec: ${r.a ? `${r.a.ms.toFixed(0)} ms` : `not done in ${DEADLINE_MS} ms`}; B's slowest listing ${r.slowestB.toFixed(1)} ms of ${r.listings}`);
    assert.ok(r.a, `A's exec ended within ${DEADLINE_MS} ms`);
    assert.ok(r.slowestB < MAX_LATENCY_MS, `B's slowest listing took ${r.slowestB.toFixed(0)} ms`);
    assert.equal(r.a.out, `\x01scp: /h/${ATTACK}: No such file or directory\n`);
  });

  it('a folder of 3000 names of 255 bytes: matched in short turns, B unaffected', async (t) => {
    const dir = join(root, 'homes', 'alice', 'full');
    await mkdir(dir);
    for (let i = 0; i < 3000; i += 1) await writeFile(join(dir, `${i}`.padEnd(255, 'a')), '');
    const r = await underAttack(`scp -f /full/${ATTACK} /full/*?*?*?*?*?*?*?*?*?*?*?*?*?*?b`);
    t.diagnostic(`A's exec: ${r.a ? `${r.a.ms.toFixed(0)} ms` : `not done in ${DEADLINE_MS} ms`}; B's slowest listing ${r.slowestB.toFixed(1)} ms of ${r.listings}`);
    assert.ok(r.a, `A's exec ended within ${DEADLINE_MS} ms`);
    assert.ok(r.slowestB < MAX_LATENCY_MS, `B's slowest listing took ${r.slowestB.toFixed(0)} ms`);
    assert.match(r.a.out, /^\x01scp: \/full\/\*a\*a.*: No such file or directory\n\x01scp: \/full\/\*\?.*: No such file or directory\n$/);
  });

  it('a pattern over 1024 bytes gets a clear error; the session goes on to the next word', async () => {
    const long = '*' + 'a'.repeat(1100);
    const r = await execScp(alice, `scp -f /g/${long} /g/nothing`);
    assert.equal(r.out, `\x01scp: /g/${long.slice(0, 197)}...: pattern too long (more than 1024 bytes)\n\x01scp: /g/nothing: No such file or directory\n`);
    assert.equal(r.code, 1);
    // Logged after the turn that answered, within 20 ms (line-writer.ts): waited for, not read at once.
    await srv.waitFor('scp.glob_refused', {}, 10_000);
  });

  it('OpenSSH scp -O still downloads what a pattern matches', async () => {
    const down = join(scratch, 'down');
    await mkdir(down);
    const r = await run('scp', ['-O', ...commonOptions(key), '-P', String(srv.port), `alice@127.0.0.1:/h/a*`, down], { timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((await readdir(down)).sort(), ['a'.repeat(44), 'a'.repeat(250)]);
    const none = await run('scp', ['-O', ...commonOptions(key), '-P', String(srv.port), `alice@127.0.0.1:/g/${ATTACK}`, down], { timeoutMs: 30_000 });
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /No such file or directory/);
  });
});
