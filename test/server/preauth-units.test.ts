/**
 * Unit tests of what guards the server before login: clip() on client-supplied text and the
 * address key (IPv6 /64).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { addressKey, normalizeAddress } from '../../src/server/address-key.js';
import { clip } from '../../src/util/logger.js';

describe('clip', () => {
  it('escapes control, line-separator and bidi characters and backslashes', () => {
    assert.equal(clip('a\nb\r\tc\u001b[0m\u007f\u0085'), 'a\\nb\\r\\tc\\x1b[0m\\x7f\\x85');
    assert.equal(clip('x\u2028y\u202ez\u2066\u200f'), 'x\\u2028y\\u202ez\\u2066\\u200f');
    assert.equal(clip('back\\slash'), 'back\\\\slash');
    assert.equal(clip('lone \ud800 surrogate'), 'lone \\ud800 surrogate');
    assert.equal(clip('héllo wörld 日本 😀'), 'héllo wörld 日本 😀', 'printable text is kept');
  });

  it('keeps at most `max` characters, never cutting a pair or an escape', () => {
    assert.equal(clip('u'.repeat(30_000)), `${'u'.repeat(64)}...`);
    assert.equal(clip('abc', 3), 'abc');
    assert.equal(clip('ab😀', 3), 'ab...');
    assert.equal(clip('ab\n', 3), 'ab...');
    assert.equal(clip('\n'.repeat(100)).length, 64 + 3);
  });
});

describe('addressKey', () => {
  it('keys IPv4 by the address and IPv6 by its /64', () => {
    const cases: Array<[string, string]> = [
      ['192.0.2.7', '192.0.2.7'],
      ['2001:db8:1:2::1', '2001:db8:1:2::/64'],
      ['2001:DB8:0001:0002:aaaa:bbbb:cccc:dddd', '2001:db8:1:2::/64'],
      ['2001:db8::1', '2001:db8::/64'],
      ['2001:db8:0:0:1::', '2001:db8::/64'],
      ['fe80::1%eth0', 'fe80::/64'],
      ['::1', '::/64'],
      ['::', '::/64'],
      ['64:ff9b::192.0.2.1', '64:ff9b::/64'],
      ['1:2:3:4:5:6:7:8', '1:2:3:4::/64'],
    ];
    for (const [address, key] of cases) assert.equal(addressKey(address), key, address);
  });

  it('treats IPv4-mapped IPv6 as the IPv4 address, in every spelling', () => {
    for (const mapped of ['::ffff:192.0.2.7', '::FFFF:192.0.2.7', '0:0:0:0:0:ffff:192.0.2.7', '::ffff:c000:207']) {
      assert.equal(normalizeAddress(mapped), '192.0.2.7', mapped);
      assert.equal(addressKey(mapped), '192.0.2.7', mapped);
    }
    assert.equal(normalizeAddress('2001:db8::1'), '2001:db8::1', 'other IPv6 addresses are logged as they are');
    assert.equal(normalizeAddress(undefined), 'unknown');
    assert.equal(addressKey('unknown'), 'unknown');
  });
});
