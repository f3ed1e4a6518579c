/**
 * Unit tests of what guards the server before login: the address key (IPv6 /64), the bounded
 * password check queue, the unauthenticated connection slots and the table's admission with
 * eviction, and clip() on client-supplied text.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { addressKey, normalizeAddress } from '../../src/server/address-key.js';
import { ConnectionTable, type ConnectionRecord } from '../../src/server/limits.js';
import { CheckRefusedError, PasswordQueue } from '../../src/server/password-queue.js';
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

/** A work item the test finishes by hand. */
function deferred(): { promise: Promise<string>; finish(v: string): void; started: boolean; work(): Promise<string> } {
  let finish!: (v: string) => void;
  const promise = new Promise<string>((r) => (finish = r));
  const d = { promise, finish, started: false, work: () => ((d.started = true), promise) };
  return d;
}
const tick = () => new Promise((r) => setImmediate(r));
const refusal = (p: Promise<unknown>) =>
  p.then(
    () => 'ran',
    (e: unknown) => (e instanceof CheckRefusedError ? e.code : String(e)),
  );

describe('PasswordQueue', () => {
  it('runs `parallel` checks at once, in arrival order', async () => {
    const q = new PasswordQueue({ perKey: 5, total: 10, parallel: 2 });
    const live = new AbortController().signal;
    const items = [deferred(), deferred(), deferred()];
    const results = items.map((d, i) => q.run(`k${i}`, live, d.work));
    await tick();
    assert.deepEqual(items.map((d) => d.started), [true, true, false]);
    assert.equal(q.running, 2);
    items[1]!.finish('b');
    assert.equal(await results[1], 'b');
    await tick();
    assert.equal(items[2]!.started, true);
    items[0]!.finish('a');
    items[2]!.finish('c');
    assert.deepEqual(await Promise.all(results), ['a', 'b', 'c']);
    assert.equal(q.size, 0);
  });

  it('refuses at once a check that would wait beyond perKey for one address or beyond total in all', async () => {
    const q = new PasswordQueue({ perKey: 2, total: 3, parallel: 1 });
    const live = new AbortController().signal;
    const held = [deferred(), deferred(), deferred()];
    const a = held.map((d) => q.run('a', live, d.work)); // one runs, two wait
    assert.equal(q.running, 1);
    assert.equal(q.sizeOf('a'), 2);
    assert.equal(await refusal(q.run('a', live, deferred().work)), 'COFFER_AUTH_QUEUE_FULL', 'a third waiting check of one address');
    const b = deferred();
    const fromB = q.run('b', live, b.work);
    assert.equal(q.size, 3);
    assert.equal(await refusal(q.run('c', live, deferred().work)), 'COFFER_AUTH_QUEUE_FULL', 'a fourth waiting check in all');
    for (const d of [...held, b]) d.finish('x');
    await Promise.all([...a, fromB]);
    assert.equal(q.size, 0);
    assert.equal(q.sizeOf('a'), 0);
  });

  it('starts a check at once when a slot is free, whatever its address already has running', async () => {
    const q = new PasswordQueue({ perKey: 1, total: 1, parallel: 4 });
    const live = new AbortController().signal;
    const four = Array.from({ length: 4 }, () => deferred());
    const runs = four.map((d) => q.run('a', live, d.work));
    await tick();
    assert.ok(four.every((d) => d.started), 'four sessions of one client log in at once');
    for (const d of four) d.finish('ok');
    assert.deepEqual(await Promise.all(runs), ['ok', 'ok', 'ok', 'ok']);
  });

  it('drops a waiting check whose connection went away, without running it', async () => {
    const q = new PasswordQueue({ perKey: 5, total: 5, parallel: 1 });
    const running = deferred();
    const first = q.run('a', new AbortController().signal, running.work);
    const gone = new AbortController();
    const waiting = deferred();
    const dropped = refusal(q.run('a', gone.signal, waiting.work));
    assert.equal(q.size, 1);
    gone.abort();
    assert.equal(await dropped, 'COFFER_AUTH_CHECK_DROPPED');
    assert.equal(q.size, 0, 'its place is free at once');
    running.finish('done');
    await first;
    await tick();
    assert.equal(waiting.started, false, 'the dropped check never ran');
    assert.equal(await refusal(q.run('a', gone.signal, deferred().work)), 'COFFER_AUTH_CHECK_DROPPED', 'an already closed connection is not queued');
  });

  it('lets a running check finish when its connection goes (libuv cannot stop it), then starts the next', async () => {
    const q = new PasswordQueue({ perKey: 1, total: 5, parallel: 1 });
    const gone = new AbortController();
    const d = deferred();
    const result = q.run('a', gone.signal, d.work);
    const next = deferred();
    const second = q.run('b', new AbortController().signal, next.work);
    await tick();
    gone.abort();
    assert.equal(q.running, 1, 'still running');
    d.finish('late');
    assert.equal(await result, 'late');
    await tick();
    assert.equal(next.started, true);
    next.finish('b');
    await second;
    assert.equal(q.running, 0);
  });

  it('passes a failing check on and keeps counting right', async () => {
    const q = new PasswordQueue({ perKey: 1, total: 1, parallel: 1 });
    await assert.rejects(q.run('a', new AbortController().signal, () => Promise.reject(new Error('db down'))), /db down/);
    assert.equal(q.size, 0);
    assert.equal(await q.run('a', new AbortController().signal, async () => 'ok'), 'ok');
  });
});
