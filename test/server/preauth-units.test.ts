/**
 * Unit tests of what guards the server before login: clip() on client-supplied text, the address
 * key (IPv6 /64), the unauthenticated connection slots and the table's admission with eviction.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { addressKey, normalizeAddress } from '../../src/server/address-key.js';
import { ConnectionTable, type ConnectionRecord } from '../../src/server/limits.js';
import { StartupSlots } from '../../src/server/startup-slots.js';
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

describe('StartupSlots', () => {
  it('evicts the oldest connection of the address holding the most slots', () => {
    const slots = new StartupSlots<{ key: string; name: string }>();
    const recs = [
      { key: 'a', name: 'a1' },
      { key: 'b', name: 'b1' },
      { key: 'b', name: 'b2' },
      { key: 'c', name: 'c1' },
      { key: 'b', name: 'b3' },
    ];
    for (const r of recs) slots.add(r);
    assert.equal(slots.size, 5);
    assert.equal(slots.countOf('b'), 3);
    assert.equal(slots.victim()?.name, 'b1');
    slots.remove(recs[1]!);
    slots.remove(recs[2]!);
    assert.equal(slots.victim()?.name, 'a1', 'a tie goes to the oldest');
    assert.equal(slots.remove(recs[1]!), false, 'a second remove is harmless');
    for (const r of recs) slots.remove(r);
    assert.equal(slots.size, 0);
    assert.equal(slots.victim(), undefined);
  });
});

let port = 1;
function record(key: string): ConnectionRecord {
  return { id: port, address: key, key, port: port++, failures: 0, banFailures: 0, authRequests: 0, sessions: new Set(), abort: new AbortController(), ending: false } as unknown as ConnectionRecord;
}

describe('ConnectionTable admission', () => {
  const caps = { maxConnections: 6, maxConnectionsPerIp: 4, maxSessionsPerUser: 2, maxStartups: 4, maxStartupsPerIp: 2 };

  it('refuses an address at maxStartupsPerIp, evicts when maxStartups is full, and logged-in connections hold no slot', () => {
    const table = new ConnectionTable(caps);
    const admitted = (key: string) => {
      const a = table.admit(key);
      assert.equal(a.refused, null, `admit ${key}: ${a.refused}`);
      if (a.refused === null && a.evict) table.remove(a.evict);
      const rec = record(key);
      table.add(rec);
      return { rec, evicted: a.refused === null ? a.evict : undefined };
    };
    const a1 = admitted('a').rec;
    admitted('a');
    assert.deepEqual(table.admit('a'), { refused: 'max-startups-per-ip' });
    admitted('b');
    const c1 = admitted('c').rec;
    // Four unauthenticated: the next one evicts the oldest of `a`, which holds the most.
    assert.equal(admitted('d').evicted, a1);
    assert.equal(table.unauthenticated, 4);
    table.setUser(c1, 'alice');
    assert.equal(table.unauthenticated, 3, 'a login gives its slot back');
    assert.equal(admitted('e').evicted, undefined);
    assert.equal(table.size, 5);
  });

  it('evicts an unauthenticated connection when maxConnections is full, and refuses when only logged-in ones are left', () => {
    const table = new ConnectionTable({ ...caps, maxConnections: 3, maxStartups: 3 });
    const recs = ['a', 'b', 'c'].map((k) => {
      const r = record(k);
      table.add(r);
      return r;
    });
    table.setUser(recs[0]!, 'u1');
    table.setUser(recs[1]!, 'u2');
    const a = table.admit('d');
    assert.equal(a.refused === null && a.evict, recs[2]);
    table.remove(recs[2]!);
    table.add(record('d'));
    table.setUser(table.all()[2]!, 'u3');
    assert.deepEqual(table.admit('e'), { refused: 'max-connections' });
  });

  it('counts maxConnectionsPerIp by address key', () => {
    const table = new ConnectionTable({ ...caps, maxStartupsPerIp: 4, maxConnectionsPerIp: 2 });
    for (let i = 0; i < 2; i++) table.add(record('2001:db8::/64'));
    assert.deepEqual(table.admit('2001:db8::/64'), { refused: 'max-connections-per-ip' });
    assert.equal(table.admit('2001:db8:0:1::/64').refused, null);
  });
});
