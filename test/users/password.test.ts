import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import {
  CURRENT_PARAMS,
  hashPassword,
  isPasswordHash,
  MAX_PASSWORD_BYTES,
  needsRehash,
  verifyPassword,
  type ScryptParams,
} from '../../src/users/password.js';

/** Cheap parameters for most tests: the code paths are the same, the cost is 1/32 of the default. */
const CHEAP: ScryptParams = { ln: 12, r: 8, p: 1 };
const PHC_SHAPE = /^\$scrypt\$ln=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/;

function parts(phc: string) {
  const m = PHC_SHAPE.exec(phc);
  assert.ok(m, `not a PHC scrypt string: ${phc}`);
  return { ln: Number(m[1]), r: Number(m[2]), p: Number(m[3]), salt: m[4]!, hash: m[5]! };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

describe('hashPassword', () => {
  test('with the default parameters: PHC $scrypt$ln=17,r=8,p=1$salt$hash (OWASP level)', async () => {
    assert.deepEqual(CURRENT_PARAMS, { ln: 17, r: 8, p: 1 });
    const phc = await hashPassword('correct horse battery staple');
    assert.match(phc, /^\$scrypt\$ln=17,r=8,p=1\$/);
    const { salt, hash } = parts(phc);
    assert.equal(Buffer.from(salt, 'base64').length, 16, '16-byte salt');
    assert.equal(Buffer.from(hash, 'base64').length, 32, '32-byte hash');
    assert.equal(salt.length, 22, 'unpadded base64 of 16 bytes');
    assert.equal(hash.length, 43, 'unpadded base64 of 32 bytes');
    assert.equal(isPasswordHash(phc), true);
    assert.equal(needsRehash(phc), false);
  });

  test('the parameters given are the ones written', async () => {
    const phc = await hashPassword('pw', { ln: 11, r: 4, p: 2 });
    const { ln, r, p } = parts(phc);
    assert.deepEqual({ ln, r, p }, { ln: 11, r: 4, p: 2 });
  });

  test('two hashes of the same password differ (random salt)', async () => {
    const a = await hashPassword('same password', CHEAP);
    const b = await hashPassword('same password', CHEAP);
    assert.notEqual(a, b);
    assert.notEqual(parts(a).salt, parts(b).salt);
    assert.notEqual(parts(a).hash, parts(b).hash);
    assert.equal(await verifyPassword('same password', a, CHEAP), true);
    assert.equal(await verifyPassword('same password', b, CHEAP), true);
  });

  test('the password does not appear in the hash', async () => {
    const password = 'VeryRecognisablePassword123';
    const phc = await hashPassword(password, CHEAP);
    assert.ok(!phc.includes(password));
    assert.ok(!phc.includes(Buffer.from(password).toString('base64').replace(/=+$/, '')));
  });
});

describe('verifyPassword', () => {
  let phc: string;
  before(async () => {
    phc = await hashPassword('s3cret pässword', CHEAP);
  });

  test('true for the right password', async () => {
    assert.equal(await verifyPassword('s3cret pässword', phc, CHEAP), true);
  });

  test('false for wrong passwords', async () => {
    for (const wrong of ['s3cret password', 's3cret pässword ', 'S3cret pässword', '', 's3cret', 's3cret pässwor']) {
      assert.equal(await verifyPassword(wrong, phc, CHEAP), false, JSON.stringify(wrong));
    }
  });

  test('uses the parameters stored in the hash, not the ones passed', async () => {
    // A hash made with other parameters still verifies: params only matter for the dummy hash.
    const other = await hashPassword('pw', { ln: 10, r: 8, p: 1 });
    assert.equal(await verifyPassword('pw', other, CHEAP), true);
    assert.equal(await verifyPassword('nope', other, CHEAP), false);
  });

  test('the empty password can be hashed and verified', async () => {
    const empty = await hashPassword('', CHEAP);
    assert.equal(await verifyPassword('', empty, CHEAP), true);
    assert.equal(await verifyPassword(' ', empty, CHEAP), false);
  });

  test('a null hash (unknown user, or no password) is always false', async () => {
    for (const password of ['', 'anything', 's3cret pässword']) {
      assert.equal(await verifyPassword(password, null, CHEAP), false);
    }
  });

  test('malformed hashes are false, not errors', async () => {
    const { salt, hash } = parts(phc);
    const bad = [
      '',
      'garbage',
      '$2b$10$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234', // bcrypt
      '$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG',
      phc.slice(0, -10) + '!!!!!!!!!!',
      phc + '$extra',
      `$scrypt$ln=12,r=8,p=1$${salt}`,
      `$scrypt$ln=12,r=8$${salt}$${hash}`,
      `$scrypt$ln=30,r=8,p=1$${salt}$${hash}`, // 2^30: would need 1 TiB of memory
      `$scrypt$ln=9,r=8,p=1$${salt}$${hash}`,
      `$scrypt$ln=12,r=99,p=1$${salt}$${hash}`,
      `$scrypt$ln=12,r=8,p=9$${salt}$${hash}`,
      `$scrypt$ln=12,r=0,p=1$${salt}$${hash}`,
      `$scrypt$ln=12,r=8,p=1$short$${hash}`,
      ` ${phc}`,
      `${phc}\n`,
    ];
    for (const b of bad) {
      assert.equal(await verifyPassword('s3cret pässword', b, CHEAP), false, b);
      assert.equal(isPasswordHash(b), false, b);
    }
    // Well-formed, but a hash of another length than the 32 bytes derived can never match.
    assert.equal(await verifyPassword('s3cret pässword', `$scrypt$ln=12,r=8,p=1$${salt}$${hash.slice(0, 20)}`, CHEAP), false);
  });

  test(`a password over ${MAX_PASSWORD_BYTES} bytes is false, even against its own hash`, async () => {
    const atLimit = 'a'.repeat(MAX_PASSWORD_BYTES);
    const overLimit = 'a'.repeat(MAX_PASSWORD_BYTES + 1);
    assert.equal(await verifyPassword(atLimit, await hashPassword(atLimit, CHEAP), CHEAP), true);
    assert.equal(await verifyPassword(overLimit, await hashPassword(overLimit, CHEAP), CHEAP), false);
    // The limit is in bytes: 513 two-byte characters are 1026 bytes.
    const multiByte = 'é'.repeat(513);
    assert.equal(await verifyPassword(multiByte, await hashPassword(multiByte, CHEAP), CHEAP), false);
  });

  test('an over-long password does not match the hash of the empty password', async () => {
    // The over-long path hashes '' to keep the timing; that must never count as a match.
    const empty = await hashPassword('', CHEAP);
    assert.equal(await verifyPassword('x'.repeat(MAX_PASSWORD_BYTES + 1), empty, CHEAP), false);
  });

  test('many verifications at once all get the right answer', async () => {
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => verifyPassword(i % 2 === 0 ? 's3cret pässword' : 'wrong', i % 3 === 0 ? null : phc, CHEAP)),
    );
    assert.deepEqual(
      results,
      Array.from({ length: 8 }, (_, i) => i % 2 === 0 && i % 3 !== 0),
    );
  });

  test('a null hash takes about as long as a real one with the same parameters', async () => {
    // Unknown users must not answer faster than known ones. ln=14 makes each hash ~40 ms, long
    // enough that scheduling noise is small; medians of interleaved runs, loose bounds.
    const params: ScryptParams = { ln: 14, r: 8, p: 1 };
    const real = await hashPassword('the real one', params);
    await verifyPassword('warm-up', null, params); // the dummy hash is made once per process
    await verifyPassword('warm-up', real, params);
    const realTimes: number[] = [];
    const dummyTimes: number[] = [];
    for (let i = 0; i < 11; i++) {
      let t = performance.now();
      assert.equal(await verifyPassword('wrong guess', real, params), false);
      realTimes.push(performance.now() - t);
      t = performance.now();
      assert.equal(await verifyPassword('wrong guess', null, params), false);
      dummyTimes.push(performance.now() - t);
    }
    const ratio = median(dummyTimes) / median(realTimes);
    assert.ok(ratio > 0.5 && ratio < 2, `dummy/real = ${ratio.toFixed(2)} (real ${median(realTimes).toFixed(1)} ms)`);
  });

  test('the first null-hash check of a parameter set costs one hash, not two (no dummy to make first)', async () => {
    // Parameter sets no other test uses, so no stand-in exists yet for any of them. A hash of a
    // random password as the stand-in made each first check cost two hashes (~2x), and made the
    // server hash at start. One first check per set, between two real checks; median of 5 sets.
    const ratios: number[] = [];
    for (const r of [9, 10, 11, 12, 13]) {
      const params: ScryptParams = { ln: 13, r, p: 1 };
      const real = await hashPassword('the real one', params);
      const time = async (phc: string | null) => {
        const t = performance.now();
        assert.equal(await verifyPassword('wrong guess', phc, params), false);
        return performance.now() - t;
      };
      const before = await time(real);
      const first = await time(null);
      const after = await time(real);
      ratios.push(first / ((before + after) / 2));
    }
    const ratio = median(ratios);
    assert.ok(ratio < 1.5, `first dummy check / real: median ${ratio.toFixed(2)} of ${ratios.map((x) => x.toFixed(2)).join(' ')}`);
  });
});

describe('needsRehash', () => {
  test('false for a hash made with the parameters in use', async () => {
    const phc = await hashPassword('pw', CHEAP);
    assert.equal(needsRehash(phc, CHEAP), false);
  });

  test('true for a hash made with other parameters', async () => {
    const phc = await hashPassword('pw', CHEAP);
    assert.equal(needsRehash(phc), true, 'ln=12 against the default ln=17');
    assert.equal(needsRehash(phc, { ...CHEAP, ln: 13 }), true);
    assert.equal(needsRehash(phc, { ...CHEAP, r: 16 }), true);
    assert.equal(needsRehash(phc, { ...CHEAP, p: 2 }), true);
  });

  test('true for garbage and for hashes of other algorithms', () => {
    for (const bad of ['', 'garbage', '$2b$10$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234', '$scrypt$ln=17,r=8,p=1$$']) {
      assert.equal(needsRehash(bad), true, bad);
      assert.equal(needsRehash(bad, CHEAP), true, bad);
    }
  });
});
