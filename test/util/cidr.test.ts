/**
 * IP text <-> bytes (util/ip-address.ts) and CIDR blocks (util/cidr.ts): the forms operators write
 * in proxyProtocol, IPv4-mapped IPv6 taken as IPv4, and the refusals.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CidrList, isCidrProblem, parseCidr } from '../../src/util/cidr.js';
import { canonicalIp, formatIp, parseIp } from '../../src/util/ip-address.js';

describe('ip-address', () => {
  it('parses IPv4 and IPv6 text into bytes', () => {
    assert.deepEqual([...parseIp('203.0.113.7')!], [203, 0, 113, 7]);
    assert.deepEqual([...parseIp('::1')!], [...Array(15).fill(0), 1]);
    assert.deepEqual([...parseIp('2001:db8::8:1')!], [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 1]);
    assert.deepEqual([...parseIp('::ffff:1.2.3.4')!], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4]);
    assert.deepEqual([...parseIp('1:2:3:4:5:6:7:8')!], [0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8]);
    assert.deepEqual([...parseIp('1::')!], [0, 1, ...Array(14).fill(0)]);
  });

  it('refuses what is not an address: leading zeros, zone ids, junk', () => {
    for (const t of ['', '1.2.3', '1.2.3.4.5', '01.2.3.4', '256.1.1.1', '1::2::3', 'fe80::1%eth0', 'example.com', ' 1.2.3.4', '1.2.3.4/8', ':::1']) {
      assert.equal(parseIp(t), null, t);
    }
  });

  it('prints IPv6 as RFC 5952 says, and mapped IPv4 as ::ffff:a.b.c.d', () => {
    const cases: Array<[string, string]> = [
      ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // first of two equal runs
      ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // one zero group stays
      ['0:0:0:0:0:0:0:0', '::'],
      ['0:0:0:0:0:0:0:1', '::1'],
      ['1:0:0:0:0:0:0:0', '1::'],
      ['2001:0db8::0001', '2001:db8::1'],
      ['::ffff:203.0.113.7', '::ffff:203.0.113.7'],
      ['::FFFF:cb00:7107', '::ffff:203.0.113.7'],
      ['1.2.3.4', '1.2.3.4'],
    ];
    for (const [text, canonical] of cases) assert.equal(canonicalIp(text), canonical, text);
    assert.equal(formatIp(Uint8Array.from([10, 0, 0, 1])), '10.0.0.1');
  });
});

describe('cidr', () => {
  it('parses addresses and blocks of both families', () => {
    assert.deepEqual(parseCidr('127.0.0.1'), { bytes: Uint8Array.from([127, 0, 0, 1]), prefix: 32 });
    assert.deepEqual(parseCidr(' 10.0.0.0/8 '), { bytes: Uint8Array.from([10, 0, 0, 0]), prefix: 8 });
    assert.deepEqual(parseCidr('0.0.0.0/0'), { bytes: Uint8Array.from([0, 0, 0, 0]), prefix: 0 });
    const v6 = parseCidr('fd00::/8');
    assert.ok(!isCidrProblem(v6) && v6.prefix === 8 && v6.bytes.length === 16 && v6.bytes[0] === 0xfd);
    const one = parseCidr('::1');
    assert.ok(!isCidrProblem(one) && one.prefix === 128);
  });

  it('takes an IPv4-mapped entry as the IPv4 block it names', () => {
    assert.deepEqual(parseCidr('::ffff:10.0.0.0/104'), { bytes: Uint8Array.from([10, 0, 0, 0]), prefix: 8 });
    assert.deepEqual(parseCidr('::ffff:192.0.2.1'), { bytes: Uint8Array.from([192, 0, 2, 1]), prefix: 32 });
  });

  it('refuses bad entries with a reason', () => {
    const problems: Array<[string, RegExp]> = [
      ['10.0.0.0/33', /prefix length \(0 to 32\)/],
      ['::/129', /prefix length \(0 to 128\)/],
      ['10.0.0.0/', /prefix/],
      ['10.0.0.0/08', /prefix/],
      ['10.0.0.0/-1', /prefix/],
      ['10.0.0.0/8/8', /prefix/],
      ['10.0.0.1/8', /host bits set \(did you mean 10\.0\.0\.0\/8\?\)/],
      ['fd00::1/8', /did you mean fd00::\/8/],
      ['10.0.0', /not an IP address/],
      ['balancer.example', /not an IP address/],
      ['', /not an IP address/],
      ['fe80::1%eth0', /not an IP address/],
    ];
    for (const [entry, re] of problems) {
      const r = parseCidr(entry);
      assert.ok(isCidrProblem(r), entry);
      assert.match(r.problem, re, entry);
    }
  });

  it('matches peers by prefix, each family on its own, mapped peers as IPv4', () => {
    const list = CidrList.parse(['127.0.0.1', '10.0.0.0/8', '192.168.4.0/22', '::1', 'fd00:1::/32']);
    const inside = ['127.0.0.1', '::ffff:127.0.0.1', '10.255.1.2', '::ffff:10.0.0.9', '192.168.7.255', '192.168.4.0', '::1', 'fd00:1:ffff::1'];
    const outside = ['127.0.0.2', '11.0.0.1', '192.168.8.0', '192.168.3.255', '::2', 'fd00:2::1', '::ffff:11.0.0.1', '', 'junk', '::ffff:7f00:2'];
    for (const a of inside) assert.equal(list.contains(a), true, a);
    for (const a of outside) assert.equal(list.contains(a), false, a);
    assert.equal(list.contains(undefined), false);
    assert.equal(list.size, 5);
  });

  it('a bit-level prefix splits inside a byte', () => {
    const list = CidrList.parse(['172.16.0.0/12']);
    assert.equal(list.contains('172.31.255.255'), true);
    assert.equal(list.contains('172.32.0.0'), false);
    assert.equal(list.contains('172.15.255.255'), false);
  });

  it('0.0.0.0/0 holds every IPv4 peer and no IPv6 one; ::/0 the reverse', () => {
    assert.equal(CidrList.parse(['0.0.0.0/0']).contains('8.8.8.8'), true);
    assert.equal(CidrList.parse(['0.0.0.0/0']).contains('2001:db8::1'), false);
    assert.equal(CidrList.parse(['::/0']).contains('2001:db8::1'), true);
    assert.equal(CidrList.parse(['::/0']).contains('::ffff:8.8.8.8'), false);
  });

  it('an empty list holds nothing; a bad entry throws', () => {
    assert.equal(CidrList.parse([]).contains('127.0.0.1'), false);
    assert.throws(() => CidrList.parse(['10.0.0.1/8']), /host bits/);
  });
});
