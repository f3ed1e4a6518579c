/**
 * Real clients against the in-process server: OpenSSH 9.2 `ssh` (ed25519 and RSA keys, password and
 * keyboard-interactive through SSH_ASKPASS), PuTTY 0.78 `plink` (password, .ppk key) and curl
 * (libssh2 1.10: password and key). Until the SFTP engine lands, a login is proven by our exec
 * answer (exit status 1 and the SFTP-only line) plus the auth.success log line; the negotiated
 * algorithms of each client are reported as test diagnostics.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { makeClientKey, run, type ClientKey } from '../support/ssh-clients.js';
import { startTestServer, type TestServer } from '../support/test-server.js';

const PW = 'interop-password-42';
const SFTP_ONLY = 'This service allows SFTP only.';

describe('interoperability with real clients', () => {
  let ts: TestServer;
  let dir: string;
  let ed: ClientKey;
  let rsa: ClientKey;
  let askpass: string;
  let hostFingerprint: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'coffer-interop-'));
    ts = await startTestServer();
    ed = await makeClientKey(dir, 'id_ed25519');
    rsa = await makeClientKey(dir, 'id_rsa', 'rsa', 3072);
    await ts.addUser('alice', { password: PW, keys: [ed.publicLine, rsa.publicLine] });
    askpass = join(dir, 'askpass.sh');
    await writeFile(askpass, `#!/bin/sh\nprintf '%s\\n' '${PW}'\n`);
    await chmod(askpass, 0o700);
    hostFingerprint = ts.server.hostKeys.find((k) => k.type === 'ssh-ed25519')!.fingerprint;
  });
  after(async () => {
    await ts.close();
    await rm(dir, { recursive: true, force: true });
  });

  const sshArgs = (...extra: string[]) => [
    '-F', '/dev/null', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null',
    '-p', String(ts.port), ...extra,
  ];
  const withKey = (key: ClientKey) => ['-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes', '-i', key.privatePath];
  const askpassEnv = () => ({ ...process.env, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' });

  /** The auth.success line of the newest connection whose client identification matches. */
  const loginOf = (ident: RegExp, method: string) => {
    const conns = ts.logs.events('connection').filter((l) => ident.test(String(l.client)));
    const ids = new Set(conns.map((l) => l.conn));
    return ts.logs.events('auth.success').filter((l) => ids.has(l.conn) && l.method === method).at(-1);
  };
  const negotiated = (t: TestContext, ident: RegExp, label: string) => {
    const conn = ts.logs.events('connection').filter((l) => ident.test(String(l.client))).at(-1)?.conn;
    const hs = ts.logs.events('handshake').find((l) => l.conn === conn) as Record<string, any> | undefined; // eslint-disable-line @typescript-eslint/no-explicit-any
    assert.ok(hs, `handshake of ${label} logged`);
    t.diagnostic(`${label}: kex ${hs.kex}, host key ${hs.serverHostKey}, cipher ${hs.cs.cipher}, mac ${hs.cs.mac}, compress ${hs.cs.compress}`);
    assert.equal(hs.cs.compress, 'none');
  };
  const expectLoggedIn = (r: { code: number | null; stderr: string }) => {
    assert.equal(r.code, 1, `exit status 1 after login (stderr: ${r.stderr})`);
    assert.ok(r.stderr.includes(SFTP_ONLY), r.stderr);
  };

  it('OpenSSH ssh logs in with an ed25519 key and with an RSA key (rsa-sha2)', async (t) => {
    expectLoggedIn(await run('ssh', sshArgs(...withKey(ed), 'alice@127.0.0.1', 'md5sum', 'x')));
    assert.ok(loginOf(/OpenSSH/, 'publickey'));
    negotiated(t, /OpenSSH/, 'OpenSSH 9.2 ssh');
    expectLoggedIn(await run('ssh', sshArgs(...withKey(rsa), 'alice@127.0.0.1', 'true')));
    assert.equal(ts.logs.events('auth.success', { method: 'publickey' }).at(-1)?.key, fingerprintOf(rsa));
  });

  it('OpenSSH ssh logs in with a password and with keyboard-interactive (SSH_ASKPASS)', async () => {
    for (const method of ['password', 'keyboard-interactive']) {
      const args = sshArgs('-o', 'PubkeyAuthentication=no', '-o', `PreferredAuthentications=${method}`, '-o', 'NumberOfPasswordPrompts=1', 'alice@127.0.0.1', 'x');
      expectLoggedIn(await run('ssh', args, { env: askpassEnv() }));
      assert.ok(loginOf(/OpenSSH/, method), `${method} login logged`);
    }
  });

  it('OpenSSH ssh: a key not stored is refused; a shell, the sftp subsystem and -R forwarding are refused', async () => {
    const stranger = await makeClientKey(dir, 'id_stranger');
    const denied = await run('ssh', sshArgs(...withKey(stranger), 'alice@127.0.0.1', 'x'));
    assert.equal(denied.code, 255);
    assert.match(denied.stderr, /Permission denied/);
    expectLoggedIn(await run('ssh', sshArgs(...withKey(ed), '-T', 'alice@127.0.0.1')));
    const sub = await run('ssh', sshArgs(...withKey(ed), '-s', 'alice@127.0.0.1', 'sftp'));
    assert.notEqual(sub.code, 0);
    const fwd = await run('ssh', sshArgs(...withKey(ed), '-N', '-o', 'ExitOnForwardFailure=yes', '-R', '0:127.0.0.1:9', 'alice@127.0.0.1'));
    assert.equal(fwd.code, 255);
    assert.match(fwd.stderr, /remote port forwarding failed/);
  });

  it('OpenSSH ssh: RSA host key with SHA-2 works; SHA-1, CBC, SHA-1 MACs and zlib are not negotiable', async () => {
    for (const alg of ['rsa-sha2-512', 'rsa-sha2-256']) {
      expectLoggedIn(await run('ssh', sshArgs(...withKey(ed), '-o', `HostKeyAlgorithms=${alg}`, 'alice@127.0.0.1', 'x')));
      assert.equal(ts.logs.events('handshake').at(-1)?.serverHostKey, alg);
    }
    const refused: Array<[string[], RegExp]> = [
      [['-o', 'HostKeyAlgorithms=ssh-rsa'], /no matching host key type/],
      [['-o', 'KexAlgorithms=diffie-hellman-group14-sha1,diffie-hellman-group1-sha1,diffie-hellman-group-exchange-sha1'], /no matching key exchange/],
      [['-c', 'aes128-cbc,aes256-cbc,3des-cbc'], /no matching cipher/],
      [['-c', 'aes128-ctr', '-o', 'MACs=hmac-sha1,hmac-sha1-etm@openssh.com,umac-64@openssh.com'], /no matching MAC/],
    ];
    for (const [opts, why] of refused) {
      const r = await run('ssh', sshArgs(...withKey(ed), ...opts, 'alice@127.0.0.1', 'x'));
      assert.equal(r.code, 255, opts.join(' '));
      assert.match(r.stderr, why);
    }
    expectLoggedIn(await run('ssh', sshArgs(...withKey(ed), '-C', 'alice@127.0.0.1', 'x')));
    assert.equal((ts.logs.events('handshake').at(-1)?.cs as { compress?: string } | undefined)?.compress, 'none', 'ssh -C still gets no compression');
  });

  it('PuTTY plink logs in with -pw and with a .ppk key', async (t) => {
    const base = ['-batch', '-P', String(ts.port), '-hostkey', hostFingerprint];
    expectLoggedIn(await run('plink', [...base, '-pw', PW, 'alice@127.0.0.1', 'md5sum', 'x']));
    const plinkLogin = loginOf(/PuTTY/, 'keyboard-interactive') ?? loginOf(/PuTTY/, 'password');
    assert.ok(plinkLogin, 'plink password login logged');
    t.diagnostic(`plink -pw authenticated with ${String(plinkLogin.method)}`);
    negotiated(t, /PuTTY/, 'PuTTY 0.78 plink');
    const ppk = join(dir, 'id_ed25519.ppk');
    const conv = await run('puttygen', [ed.privatePath, '-O', 'private', '-o', ppk]);
    assert.equal(conv.code, 0, conv.stderr);
    expectLoggedIn(await run('plink', [...base, '-i', ppk, 'alice@127.0.0.1', 'x']));
    assert.ok(loginOf(/PuTTY/, 'publickey'));
    const wrong = await run('plink', [...base, '-pw', 'not-it', 'alice@127.0.0.1', 'x']);
    assert.notEqual(wrong.code, 0);
  });

  it("curl's libssh2 logs in with a password and with a key", async (t) => {
    const url = `sftp://127.0.0.1:${ts.port}/`;
    await curlUntilLogin(['-sS', '-k', url, '-u', `alice:${PW}`], () => loginOf(/libssh2/, 'password'));
    negotiated(t, /libssh2/, 'curl (libssh2 1.10)');
    await curlUntilLogin(['-sS', '-k', url, '-u', 'alice:', '--key', ed.privatePath, '--pubkey', ed.publicPath], () => loginOf(/libssh2/, 'publickey'));
  });
});

function fingerprintOf(key: ClientKey): string {
  const blob = Buffer.from(key.publicLine.split(' ')[1]!, 'base64');
  return 'SHA256:' + createHash('sha256').update(blob).digest('base64').replace(/=+$/, '');
}

/**
 * Runs curl until our server logged its login. Until the SFTP engine exists libssh2 waits forever
 * for the SFTP version reply, so curl is stopped once the login is seen.
 */
async function curlUntilLogin(args: string[], loggedIn: () => unknown): Promise<void> {
  const child = spawn('curl', args, { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  try {
    const deadline = Date.now() + 10_000;
    while (!loggedIn()) {
      if (Date.now() > deadline) throw new Error('curl did not log in');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 25))]);
    }
  } finally {
    child.kill();
    await exited;
  }
}
