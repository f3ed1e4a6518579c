/**
 * ssh-keygen.ts: ssh2's generator sometimes writes an ed25519 key that cannot be loaded (its
 * public key's leading zero byte stripped); the checked generators discard such a pair and
 * return the next usable one, give up after a bounded number of tries, and every key they
 * return loads.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import ssh2 from 'ssh2';
import { generateKeyPair, generateKeyPairSync, usableKeyPair, type KeyPair } from '../../src/util/ssh-keygen.js';

/** A pair as ssh2.utils.generateKeyPairSync('ed25519') wrote it: a 31-byte public key (0x1f). */
const BROKEN: KeyPair = {
  private: [
    '-----BEGIN OPENSSH PRIVATE KEY-----',
    'b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMgAAAAtz',
    'c2gtZWQyNTUxOQAAAB8Nb0GQSjzzPThzUUQO6Sqtqx8CfQWFppcvsPrLA4dFAAAA',
    'iB8C5EofAuRKAAAAC3NzaC1lZDI1NTE5AAAAHw1vQZBKPPM9OHNRRA7pKq2rHwJ9',
    'BYWmly+w+ssDh0UAAAA/+gDLcgu2p5hNq7X3eN6DIZzGzul42J2FI0hqMbc+f20N',
    'b0GQSjzzPThzUUQO6Sqtqx8CfQWFppcvsPrLA4dFAAAAA2JhZAECAwQ=',
    '-----END OPENSSH PRIVATE KEY-----',
    '',
  ].join('\n'),
  public: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAHw1vQZBKPPM9OHNRRA7pKq2rHwJ9BYWmly+w+ssDh0U= bad',
};

describe('checked key generation', () => {
  test("ssh2 cannot load the broken pair; usableKeyPair says so, and accepts a good one", () => {
    assert.ok(ssh2.utils.parseKey(BROKEN.private) instanceof Error);
    assert.equal(usableKeyPair(BROKEN), false);
    assert.equal(usableKeyPair({ ...BROKEN, private: 'not a key' }), false);
    assert.equal(usableKeyPair(ssh2.utils.generateKeyPairSync('rsa', { bits: 2048 })), true);
  });

  test('a broken pair from the generator is discarded and the next one returned', async () => {
    const good = generateKeyPairSync('ed25519', { comment: 'good' });
    let calls = 0;
    const sync = () => (++calls < 3 ? BROKEN : good);
    assert.equal(generateKeyPairSync('ed25519', {}, sync), good);
    assert.equal(calls, 3);
    calls = 0;
    assert.equal(await generateKeyPair('ed25519', {}, async () => (++calls < 2 ? BROKEN : good)), good);
    assert.equal(calls, 2);
  });

  test('a generator that only makes broken pairs is given up on', async () => {
    let calls = 0;
    assert.throws(() => generateKeyPairSync('ed25519', {}, () => (calls++, BROKEN)), /could not generate a usable ed25519 key in 16 tries/);
    assert.equal(calls, 16);
    await assert.rejects(generateKeyPair('ed25519', {}, async () => BROKEN), /16 tries/);
  });

  test('every key from the real generator loads, with its comment', () => {
    for (let i = 0; i < 600; i++) {
      const pair = generateKeyPairSync('ed25519', { comment: `k${i}` });
      assert.ok(usableKeyPair(pair), pair.private);
      assert.ok(pair.public.endsWith(` k${i}`));
    }
  });
});
