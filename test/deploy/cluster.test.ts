/**
 * The deployment of SPEC §7 "Several nodes" and docs/deployment.md, for real: PostgreSQL, three
 * coffer-server nodes (separate processes, one state root for keys/ and homes/, one `database`,
 * `proxyProtocol: 127.0.0.1`) and HAProxy 2.6 in front with send-proxy-v2 and TCP health checks
 * (test/support/cluster.ts, the guide's haproxy.cfg). Through HAProxy: OpenSSH sftp, paramiko and
 * the coffer client log in and transfer, on more than one node, with the same host key; failed
 * logins from 127.0.0.5 ban it on every node and nothing else; SIGTERM to a node drains it: HAProxy
 * marks it down, new connections go to the others, and its upload in flight finishes.
 * Skipped (with a message) where HAProxy or PostgreSQL is not installed; .ci/run installs both.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { SFTPWrapper } from 'ssh2';
import { haproxyConfig, haproxyInstalled, startDeployment, type Deployment } from '../support/cluster.js';
import { sftpBatch } from '../support/openssh.js';
import { postgresInstalled } from '../support/postgres.js';
import { PYTHON } from '../support/quota-helpers.js';
import { tempDir, tempDirSync } from '../support/temp-dirs.js';
import { cleanEnv, PROJECT } from '../support/run-cli.js';
import type { ServerProcess } from '../support/server-process.js';
import { connect, makeClientKey, run, tryLogin, type ClientKey, type SshClient } from '../support/ssh-clients.js';
import { waitFor } from '../support/wait.js';

const PASSWORD = 'cluster-pw-1';
const BANNED = '127.0.0.5';
const OTHER = '127.0.0.6';
const missing = [haproxyInstalled() ? '' : 'haproxy', postgresInstalled() ? '' : 'PostgreSQL 15'].filter(Boolean);
if (missing.length > 0) console.log(`# deploy/cluster: skipped: ${missing.join(' and ')} not installed (.ci/run installs them)`);

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
const fileSha = async (path: string): Promise<string> => sha256(await readFile(path));

/** The index of the node that logged `user`'s most recent login (from `address`, if given). */
function nodeOf(dep: Deployment, user: string, address?: string): number {
  let best = -1;
  let bestTime = '';
  dep.nodes.forEach((n, i) => {
    for (const l of n.events('auth.success', address ? { user, address } : { user })) {
      if (String(l.time) >= bestTime) [best, bestTime] = [i, String(l.time)];
    }
  });
  return best;
}

function sftpOf(client: SshClient): Promise<SFTPWrapper> {
  return new Promise((resolve, reject) => client.sftp((err, sftp) => (err ? reject(err) : resolve(sftp))));
}

it("docs/deployment.md's haproxy.cfg is the one this test runs, and HAProxy accepts it", (t) => {
  const guide = readFileSync(join(PROJECT, 'docs', 'deployment.md'), 'utf8');
  const block = /```haproxy\n([\s\S]*?)```/.exec(guide)?.[1];
  const nodes = [1, 2, 3].map((i) => ({ name: `node${i}`, host: `10.0.0.1${i}`, port: 2222 }));
  assert.equal(block, haproxyConfig({ bind: '0.0.0.0:22', nodes }));
  if (!haproxyInstalled()) return t.skip('haproxy is not installed');
  const dir = tempDirSync('coffer-haproxy-cfg-');
  writeFileSync(join(dir, 'haproxy.cfg'), block!);
  const check = spawnSync('haproxy', ['-c', '-f', join(dir, 'haproxy.cfg')], { encoding: 'utf8' });
  assert.equal(check.status, 0, check.stdout + check.stderr);
});

describe('a 3-node deployment behind HAProxy', { skip: missing.length > 0 ? `${missing.join(', ')} not installed` : false }, () => {
  let dep: Deployment;
  let key: ClientKey;
  let work: string;
  before(async () => {
    work = await tempDir('coffer-deploy-');
    key = await makeClientKey(work, 'id_ed25519');
    dep = await startDeployment({ nodes: 3, nodeFlags: ['--ban-threshold', '3', '--max-auth-tries', '1', '--shutdown-grace-seconds', '120'] });
    for (const user of ['alice', 'bob', 'drainer']) dep.addUser(user, PASSWORD, [key.publicLine]);
  });
  after(async () => {
    await dep?.stop();
    for (const n of dep?.nodes ?? []) assert.ok(!n.alive(), 'every node is stopped');
  });

  it('OpenSSH sftp: uploads and downloads through HAProxy, spread over the nodes; logs name the client', async () => {
    const data = randomBytes(1024 * 1024);
    await writeFile(join(work, 'up.bin'), data);
    for (let i = 0; i < 3; i++) {
      const r = await sftpBatch({ port: dep.haproxy.port, user: 'alice', key, cwd: work }, [`put up.bin sftp-${i}.bin`, `get sftp-${i}.bin down-${i}.bin`]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await fileSha(join(work, `down-${i}.bin`)), sha256(data));
      assert.equal(await fileSha(join(dep.root, 'homes', 'alice', `sftp-${i}.bin`)), sha256(data));
    }
    await waitFor(() => dep.nodes.reduce((sum, n) => sum + n.events('auth.success', { user: 'alice' }).length, 0) >= 3, 10_000, 'three logins logged');
    const served = dep.nodes.filter((n) => n.events('auth.success', { user: 'alice', via: '127.0.0.1', address: '127.0.0.1' }).length > 0);
    assert.ok(served.length >= 2, `least connections spreads three logins over ${served.length} node(s)`);
  });

  it('paramiko: upload and download through HAProxy, checksums agree', async () => {
    const script = [
      'import hashlib, os, paramiko, sys',
      'data = os.urandom(3 * 1024 * 1024 + 17)',
      't = paramiko.Transport(("127.0.0.1", int(sys.argv[1])))',
      't.connect(username="bob", password=sys.argv[2])',
      'sftp = paramiko.SFTPClient.from_transport(t)',
      'with sftp.open("paramiko.bin", "wb") as f:',
      '    f.set_pipelined(True)',
      '    f.write(data)',
      'with sftp.open("paramiko.bin", "rb") as f:',
      '    back = f.read()',
      'sftp.close(); t.close()',
      'assert back == data, "downloaded bytes differ"',
      'print(hashlib.sha256(data).hexdigest())',
    ].join('\n');
    const r = await run(PYTHON, ['-c', script, String(dep.haproxy.port), PASSWORD], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await fileSha(join(dep.root, 'homes', 'bob', 'paramiko.bin')), r.stdout.trim());
  });

  it('the coffer client: put, then get three times with one known_hosts (the nodes share host keys)', async () => {
    const home = join(work, 'client-home');
    await mkdir(join(home, '.ssh'), { recursive: true, mode: 0o700 });
    const data = randomBytes(2 * 1024 * 1024 + 5);
    await writeFile(join(work, 'coffer-up.bin'), data);
    const coffer = (args: string[]) =>
      run(process.execPath, [join(PROJECT, 'bin', 'coffer.js'), '-P', String(dep.haproxy.port), '-i', key.privatePath, ...args], {
        env: cleanEnv({ HOME: home, SSH_AUTH_SOCK: '' }),
        timeoutMs: 60_000,
      });
    const put = await coffer(['--accept-new-host-key', 'put', join(work, 'coffer-up.bin'), 'alice@127.0.0.1:coffer.bin']);
    assert.equal(put.code, 0, put.stderr);
    for (let i = 0; i < 3; i++) {
      // No --accept-new-host-key: a node with another host key would be refused.
      const get = await coffer(['get', 'alice@127.0.0.1:coffer.bin', join(work, `coffer-down-${i}.bin`)]);
      assert.equal(get.code, 0, get.stderr);
      assert.equal(await fileSha(join(work, `coffer-down-${i}.bin`)), sha256(data));
    }
  });

  it(`failed logins from ${BANNED} ban it on every node, and only it`, async () => {
    for (let i = 0; i < 12 && !dep.nodes.some((n) => n.events('ban', { key: BANNED }).length > 0); i++) {
      assert.notEqual(await tryLogin(dep.haproxy.port, { username: 'alice', password: 'wrong', localAddress: BANNED }), 'ok');
    }
    assert.ok(dep.nodes.some((n) => n.events('ban', { key: BANNED }).length > 0), 'a node banned the address HAProxy reported');
    for (const [i, node] of dep.nodes.entries()) {
      // Directly (not from the balancer: no PROXY header expected) and through HAProxy.
      await waitFor(async () => (await tryLogin(node.port, { username: 'alice', password: PASSWORD, localAddress: BANNED })) !== 'ok', 5000, `node ${i + 1} to refuse ${BANNED}`);
      assert.equal(await tryLogin(node.port, { username: 'alice', password: PASSWORD, localAddress: OTHER }), 'ok', `node ${i + 1} serves ${OTHER}`);
    }
    for (let i = 0; i < 3; i++) {
      assert.notEqual(await tryLogin(dep.haproxy.port, { username: 'alice', password: PASSWORD, localAddress: BANNED }), 'ok');
      assert.equal(await tryLogin(dep.haproxy.port, { username: 'alice', password: PASSWORD, localAddress: OTHER }), 'ok');
    }
  });

  it('SIGTERM drains a node: HAProxy marks it down, new logins go to the others, its upload finishes', async (t) => {
    let draining: ServerProcess | undefined;
    // On failure, what the draining node and HAProxy said.
    t.after(() => {
      if (!passed) t.diagnostic(`draining node:\n${draining?.output().slice(-4000)}\nhaproxy:\n${dep.haproxy.stderr().slice(-2000)}`);
    });
    let passed = false;
    const client = await connect(dep.haproxy.port, { username: 'drainer', password: PASSWORD, localAddress: '127.0.0.7' });
    await waitFor(() => nodeOf(dep, 'drainer') >= 0, 10_000, "drainer's login line");
    const index = nodeOf(dep, 'drainer');
    draining = dep.nodes[index]!;
    const sftp = await sftpOf(client);
    const handle = await new Promise<Buffer>((resolve, reject) => sftp.open('drain.bin', 'w', (err, h) => (err ? reject(err) : resolve(h))));
    const parts = [randomBytes(4 * 1024 * 1024), randomBytes(4 * 1024 * 1024)];
    const write = (data: Buffer, offset: number) => new Promise<void>((resolve, reject) => sftp.write(handle, data, 0, data.length, offset, (err) => (err ? reject(err) : resolve())));
    await write(parts[0]!, 0);

    draining.child.kill('SIGTERM');
    await draining.waitFor('shutdown', {}, 10_000);
    const name = `node${index + 1}`;
    await waitFor(() => new RegExp(`Server coffer/${name} is DOWN`).test(dep.haproxy.stderr()), 15_000, `HAProxy to mark ${name} down:\n${dep.haproxy.stderr()}`);
    const before = draining.events('auth.success').length;
    for (let i = 0; i < 4; i++) {
      assert.equal(await tryLogin(dep.haproxy.port, { username: 'alice', password: PASSWORD, localAddress: '127.0.0.8' }), 'ok', `login ${i + 1} while ${name} drains`);
    }
    assert.equal(draining.events('auth.success').length, before, 'no new login reached the draining node');
    assert.ok(draining.alive(), 'the node waits for its upload');

    await write(parts[1]!, parts[0]!.length);
    await new Promise<void>((resolve, reject) => sftp.close(handle, (err) => (err ? reject(err) : resolve())));
    const { code, signal } = await draining.exited;
    assert.deepEqual({ code, signal }, { code: 0, signal: null });
    client.end();
    assert.equal(await fileSha(join(dep.root, 'homes', 'drainer', 'drain.bin')), sha256(Buffer.concat(parts)));
    passed = true;
  });
});
