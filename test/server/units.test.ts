/**
 * Unit tests of the server's pieces: the ban list, public key verification (including what ssh2
 * leaves to us), host key files, the algorithm lists, the command line and the logger.
 */
import assert from 'node:assert/strict';
import { sign } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import ssh2, { type PublicKeyAuthContext } from 'ssh2';
import { serverOptions, settingFlags, helpText } from '../../src/cli/server/main-options.js';
import { CIPHER, COMPRESS, KEX, MAC, SERVER_HOST_KEY } from '../../src/server/algorithms.js';
import { normalizeAddress } from '../../src/server/address-key.js';
import { BanList } from '../../src/server/bans.js';
import { loadHostKeys } from '../../src/server/host-keys.js';
import { verifyPublicKey } from '../../src/server/public-key-auth.js';
import { parseKeyLine } from '../../src/users/public-keys.js';
import type { StoredKey } from '../../src/users/user-store.js';
import { createLogger } from '../../src/util/logger.js';
import { generateKeyPairSync } from '../../src/util/ssh-keygen.js';
import { LogCapture } from '../support/log-capture.js';
import { run } from '../support/ssh-clients.js';

describe('BanList', () => {
  const policy = { threshold: 3, windowMs: 1000, banMs: 5000 };

  it('bans at the threshold within the window, per address, and lifts the ban after banMs', () => {
    let now = 0;
    const bans = new BanList(policy, () => now);
    assert.deepEqual(bans.fail('10.0.0.1'), { banned: false, failures: 1 });
    bans.fail('10.0.0.1');
    bans.fail('10.0.0.2');
    const third = bans.fail('10.0.0.1');
    assert.equal(third.banned, true);
    assert.equal(third.until, 5000);
    assert.equal(bans.isBanned('10.0.0.1'), true);
    assert.equal(bans.isBanned('10.0.0.2'), false, 'each address counts on its own');
    now = 5001;
    assert.equal(bans.isBanned('10.0.0.1'), false);
  });

  it('forgets failures older than the window; threshold 0 never bans', () => {
    let now = 0;
    const bans = new BanList(policy, () => now);
    bans.fail('a');
    bans.fail('a');
    now = 1500;
    assert.equal(bans.fail('a').failures, 1);
    const never = new BanList({ ...policy, threshold: 0 });
    for (let i = 0; i < 100; i++) assert.equal(never.fail('a').banned, false);
  });

  it('normalizes IPv4-mapped IPv6 addresses', () => {
    assert.equal(normalizeAddress('::ffff:192.0.2.7'), '192.0.2.7');
    assert.equal(normalizeAddress('2001:db8::1'), '2001:db8::1');
  });
});

describe('verifyPublicKey', () => {
  const pair = generateKeyPairSync('ed25519');
  const stored: StoredKey = { ...parseKeyLine(pair.public, 'test'), index: 1, addedAt: '' };
  const blob = Buffer.from(stored.blob, 'base64');
  const data = Buffer.from('session id and request');
  const parsedPriv = ssh2.utils.parseKey(pair.private) as ssh2.ParsedKey;
  const goodSig = parsedPriv.sign(data);
  const ctx = (over: Partial<PublicKeyAuthContext>) =>
    ({ method: 'publickey', username: 'alice', key: { algo: 'ssh-ed25519', data: blob }, ...over }) as unknown as PublicKeyAuthContext;

  it('gives PK_OK to a query for a stored key, and accepts only a valid signature', () => {
    assert.equal(verifyPublicKey(ctx({}), [stored]), 'pk-ok');
    assert.equal(verifyPublicKey(ctx({ blob: data, signature: goodSig }), [stored]), 'accept');
    assert.equal(verifyPublicKey(ctx({ blob: data, signature: Buffer.alloc(64, 7) }), [stored]), 'bad signature');
    assert.equal(verifyPublicKey(ctx({ blob: data, signature: Buffer.alloc(3) }), [stored]), 'bad signature', 'verify() returning an Error is not a pass');
    assert.equal(verifyPublicKey(ctx({ blob: Buffer.from('other data'), signature: goodSig }), [stored]), 'bad signature');
  });

  it('refuses keys that are not stored, or stored under another algorithm', () => {
    assert.equal(verifyPublicKey(ctx({ blob: data, signature: goodSig }), []), 'key not authorised');
    assert.equal(verifyPublicKey(ctx({ key: { algo: 'ecdsa-sha2-nistp256', data: blob } as never }), [stored]), 'key not authorised');
  });

  it('refuses SHA-1 ssh-rsa signatures even from a stored RSA key', () => {
    const rsa = ssh2.utils.generateKeyPairSync('rsa', { bits: 2048 });
    const pem = (ssh2.utils.parseKey(rsa.private) as ssh2.ParsedKey).getPrivatePEM();
    const rsaStored: StoredKey = { ...parseKeyLine(rsa.public, 'test'), index: 1, addedAt: '' };
    const rsaBlob = Buffer.from(rsaStored.blob, 'base64');
    const sha1Sig = sign('sha1', data, pem);
    const sha256Sig = sign('sha256', data, pem);
    const rctx = (hashAlgo: string | undefined, signature: Buffer) =>
      ({ method: 'publickey', username: 'a', key: { algo: 'ssh-rsa', data: rsaBlob }, hashAlgo, blob: data, signature }) as unknown as PublicKeyAuthContext;
    assert.equal(verifyPublicKey(rctx(undefined, sha1Sig), [rsaStored]), 'sha1 rsa signature');
    assert.equal(verifyPublicKey(rctx('sha256', sha256Sig), [rsaStored]), 'accept');
    assert.equal(verifyPublicKey(rctx('sha512', sha256Sig), [rsaStored]), 'bad signature');
  });
});

describe('host keys', () => {
  it('are generated once (0600, ed25519 + RSA 3072), reused afterwards, and match ssh-keygen fingerprints', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'coffer-hostkeys-'));
    try {
      const first = await loadHostKeys(join(dir, 'keys'));
      assert.deepEqual(first.map((k) => [k.type, k.created]), [['ssh-ed25519', true], ['ssh-rsa', true]]);
      for (const k of first) assert.equal((await stat(k.file)).mode & 0o777, 0o600);
      assert.equal((await stat(join(dir, 'keys'))).mode & 0o777, 0o700);
      const rsaInfo = await run('ssh-keygen', ['-lf', first[1]!.file]);
      assert.match(rsaInfo.stdout, /^3072 /);
      assert.ok(rsaInfo.stdout.includes(first[1]!.fingerprint));
      const before = await readFile(first[0]!.file);
      const second = await loadHostKeys(join(dir, 'keys'));
      assert.deepEqual(second.map((k) => k.created), [false, false]);
      assert.deepEqual(second.map((k) => k.fingerprint), first.map((k) => k.fingerprint));
      assert.ok(before.equals(await readFile(second[0]!.file)));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a key file that is not a private key', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'coffer-hostkeys-'));
    try {
      await loadHostKeys(dir);
      await writeFile(join(dir, 'ssh_host_ed25519_key'), 'not a key');
      await assert.rejects(loadHostKeys(dir), { code: 'COFFER_HOST_KEY' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('algorithm lists', () => {
  it('hold no SHA-1, CBC, zlib, DH-GEX or large DH groups', () => {
    const all = [...KEX, ...SERVER_HOST_KEY, ...CIPHER, ...MAC, ...COMPRESS];
    for (const a of all) assert.doesNotMatch(a, /sha1|cbc|zlib|group-exchange|group1[5-8]|^ssh-rsa$|md5|arcfour|3des/, a);
    assert.deepEqual(COMPRESS, ['none']);
  });
});

describe('coffer-server command line', () => {
  it('has a flag per setting, --no-X for booleans, and help for each', () => {
    const opts = serverOptions();
    for (const flag of ['max-connections-per-ip', 'login-grace-seconds', 'symlinks', 'no-symlinks', 'no-legacy-scp', 'root', 'config']) {
      assert.ok(flag in opts, flag);
    }
    const argv = ['--port', '2299', '--no-symlinks', '--legacy-scp', '--no-legacy-scp'];
    assert.deepEqual(settingFlags({ port: '2299' }, argv), { port: '2299', symlinks: false, legacyScp: false });
    assert.match(helpText(), /--max-connections-per-ip N/);
  });
});

describe('logger', () => {
  it('writes JSON lines and never a password field', () => {
    const out = new LogCapture();
    const log = createLogger({ level: 'info', format: 'json', destination: out });
    log.info({ event: 'x', password: 'hunter2', nested: { password: 'hunter3' } }, 'hello');
    assert.equal(out.lines[0]!.event, 'x');
    assert.ok(!out.text().includes('hunter2') && !out.text().includes('hunter3'));
  });
});
