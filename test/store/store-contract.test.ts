/**
 * The store contract (SPEC §4, §7): every operation of the Store port, run against both
 * implementations (Hono's shared-suite habit): SqliteStore on a temp file and PostgresStore on a
 * PostgreSQL 15 the suite starts itself (initdb as the postgres user, 127.0.0.1, a free port,
 * stopped by PID), a fresh database per test.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { openStore } from '../../src/store/open-store.js';
import { CREDIT_READ_SLACK_MS, RETAIN_MS } from '../../src/store/quota-store.js';
import { PostgresStore } from '../../src/store/postgres-store.js';
import { StoreUnavailableError, type NewUser, type Store } from '../../src/store/store.js';
import { newKey } from '../support/random-keys.js';
import { InputError, NoSuchUserError } from '../../src/util/errors.js';
import { PG_PASSWORD, startPostgres, type PgServer } from '../support/postgres.js';

const PHC = '$scrypt$ln=12,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';

const newUser = (name: string, over: Partial<NewUser> = {}): NewUser => ({ name, passwordHash: PHC, quotaBytes: 1024 ** 3, disabled: false, keys: [], ...over });

async function rejectsWith(p: Promise<unknown>, cls: new (...a: never[]) => Error, re: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof cls, `expected ${cls.name}, got ${String(err)}`);
    assert.match((err as Error).message, re);
    return true;
  });
}

let pgServer: PgServer;
let tmp: string;
let files = 0;

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'coffer-contract-'));
  pgServer = await startPostgres();
});
after(async () => {
  await pgServer?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

/** A fresh, empty store of each kind. */
const KINDS: Record<string, () => Promise<Store>> = {
  sqlite: () => openStore({ database: '', paths: { dbFile: join(tmp, `s${++files}`, 'coffer.db') } as never }),
  postgres: async () => openStore({ database: await pgServer.createDatabase(), paths: {} as never }),
};

for (const [kind, make] of Object.entries(KINDS)) {
  describe(`store contract: ${kind}`, () => {
    let store: Store;
    beforeEach(async () => {
      store = await make();
    });
    afterEach(() => store.close());

    it('is the kind the setting names', () => {
      assert.equal(store.kind, kind);
    });

    it('add, find, get, list, countUsers', async () => {
      const k = newKey('laptop');
      const added = await store.add(newUser('bob', { keys: [k], maxFiles: 50, usedBytes: 7, usedFiles: 2 }));
      await store.add(newUser('alice', { quotaBytes: null }));
      assert.equal(added.name, 'bob');
      assert.equal(added.maxFiles, 50);
      assert.equal(added.usedBytes, 7);
      assert.equal(added.usedFiles, 2);
      assert.equal(added.keys[0]!.fingerprint, k.fingerprint);
      assert.equal(added.keys[0]!.index, 1);
      assert.deepEqual(await store.get('bob'), added);
      assert.equal(await store.find('nobody'), undefined);
      await rejectsWith(store.get('nobody'), NoSuchUserError, /nobody/);
      assert.deepEqual((await store.list()).map((u) => u.name), ['alice', 'bob']);
      assert.equal((await store.list())[0]!.quotaBytes, null);
      assert.equal(await store.countUsers(), 2);
    });

    it('sizes beyond 32 bits survive', async () => {
      await store.add(newUser('big', { quotaBytes: 5 * 1024 ** 4, maxFiles: 3_000_000_000 }));
      await store.setUsage('big', 4 * 1024 ** 4 + 1, 2_500_000_000);
      const u = await store.get('big');
      assert.equal(u.quotaBytes, 5 * 1024 ** 4);
      assert.equal(u.usedBytes, 4 * 1024 ** 4 + 1);
      assert.equal(u.usedFiles, 2_500_000_000);
      assert.equal(u.maxFiles, 3_000_000_000);
    });

    it('refuses a duplicate name, a user without credentials, and keys given twice, changing nothing', async () => {
      await store.add(newUser('bob'));
      await rejectsWith(store.add(newUser('bob')), InputError, /already exists/);
      await rejectsWith(store.add(newUser('carol', { passwordHash: null })), InputError, /password or at least one key/);
      const k = newKey();
      await rejectsWith(store.add(newUser('dave', { keys: [k, k] })), InputError, /given twice/);
      assert.deepEqual((await store.list()).map((u) => u.name), ['bob']);
    });

    it('add runs its work alongside in the transaction: a throw there adds nothing', async () => {
      let seen = '';
      await store.add(newUser('ok'), (u) => void (seen = u.name));
      assert.equal(seen, 'ok');
      await assert.rejects(store.add(newUser('nope'), () => {
        throw new Error('mkdir failed');
      }), /mkdir failed/);
      assert.equal(await store.find('nope'), undefined);
    });

    it('remove (with work alongside), and a throw there keeps the user', async () => {
      await store.add(newUser('bob', { keys: [newKey()] }));
      await assert.rejects(store.remove('bob', () => {
        throw new Error('rename failed');
      }), /rename failed/);
      assert.ok(await store.find('bob'));
      let removed = '';
      await store.remove('bob', (u) => void (removed = u.name));
      assert.equal(removed, 'bob');
      assert.equal(await store.find('bob'), undefined);
      await rejectsWith(store.remove('bob'), NoSuchUserError, /bob/);
    });

    it('password: set, remove only with a key', async () => {
      await store.add(newUser('bob'));
      await rejectsWith(store.setPasswordHash('bob', null), InputError, /has no key/);
      await store.addKeys('bob', [newKey()]);
      await store.setPasswordHash('bob', null);
      assert.equal((await store.get('bob')).passwordHash, null);
      await store.setPasswordHash('bob', PHC);
      assert.equal((await store.get('bob')).passwordHash, PHC);
      await rejectsWith(store.setPasswordHash('ghost', PHC), NoSuchUserError, /ghost/);
    });

    it('quota, entry limit, disabled, last login', async () => {
      await store.add(newUser('bob'));
      await store.setQuota('bob', null);
      await store.setMaxFiles('bob', 10);
      await store.setDisabled('bob', true);
      const when = new Date('2026-01-02T03:04:05.678Z');
      await store.recordLogin('bob', when);
      const u = await store.get('bob');
      assert.equal(u.quotaBytes, null);
      assert.equal(u.maxFiles, 10);
      assert.equal(u.disabled, true);
      assert.equal(u.lastLoginAt, when.toISOString());
      for (const op of [() => store.setQuota('ghost', 1), () => store.setMaxFiles('ghost', 1), () => store.setDisabled('ghost', true), () => store.recordLogin('ghost')]) {
        await rejectsWith(op(), NoSuchUserError, /ghost/);
      }
    });

    it('keys: add (no duplicates), remove by index and fingerprint, never the last one of a key-only user', async () => {
      const [a, b, c] = [newKey('a'), newKey('b'), newKey('c')];
      await store.add(newUser('bob', { passwordHash: null, keys: [a] }));
      await store.addKeys('bob', [b, c]);
      await rejectsWith(store.addKeys('bob', [newKey(), a]), InputError, /already a key/);
      assert.deepEqual((await store.get('bob')).keys.map((k) => k.comment), ['a', 'b', 'c']);
      assert.equal((await store.removeKey('bob', '2')).comment, 'b');
      assert.equal((await store.removeKey('bob', c.fingerprint.replace(/^SHA256:/, ''))).comment, 'c');
      await rejectsWith(store.removeKey('bob', '1'), InputError, /last key/);
      await rejectsWith(store.removeKey('bob', '9'), InputError, /has no key 9/);
      await rejectsWith(store.addKeys('ghost', [newKey()]), NoSuchUserError, /ghost/);
    });

    it('usage: setUsage sets the figures, clears unsure and moves the sequence', async () => {
      await store.add(newUser('bob', { quotaBytes: 1000, maxFiles: 9 }));
      const row = (await store.usage('bob'))!;
      assert.deepEqual({ ...row, seq: 0 }, { usedBytes: 0, quotaBytes: 1000, usedFiles: 0, maxFiles: 9, seq: 0, unsure: false });
      await store.quota.markUnsure('bob');
      assert.equal((await store.usage('bob'))!.unsure, true);
      await store.setUsage('bob', 50, 2);
      const after = (await store.usage('bob'))!;
      assert.deepEqual([after.usedBytes, after.usedFiles, after.unsure], [50, 2, false]);
      assert.ok(after.seq > row.seq);
      assert.equal(await store.usage('ghost'), undefined);
      await rejectsWith(store.setUsage('ghost', 1, 1), NoSuchUserError, /ghost/);
    });

    const P1 = { id: 'p1', host: 'h', pid: 1 };
    const P2 = { id: 'p2', host: 'h', pid: 2 };
    const none = { bytes: 0, files: 0 };
    const settlement = (over: Partial<import('../../src/store/quota-store.js').Settlement>) => ({
      grown: none,
      forced: none,
      returned: none,
      credits: [],
      opened: [],
      closed: [],
      touched: [],
      ...over,
    });

    it('quota: grants never let usage plus every block pass the limit; settles move usage and blocks by deltas', async () => {
      await store.add(newUser('bob', { quotaBytes: 1000, maxFiles: 10, usedBytes: 100 }));
      const q = store.quota;
      await q.heartbeat(P1);
      await q.heartbeat(P2);
      const g1 = await q.grant('p1', 'bob', { bytes: 100, files: 0 }, { bytes: 600, files: 0 });
      assert.deepEqual(g1.granted, { bytes: 600, files: 0 });
      assert.equal(g1.othersHold, false);
      const g2 = await q.grant('p2', 'bob', { bytes: 200, files: 1 }, { bytes: 600, files: 4 });
      assert.deepEqual(g2.granted, { bytes: 300, files: 4 }, 'what is left after usage and the other block');
      assert.equal(g2.othersHold, true);
      const refused = await q.grant('p2', 'bob', { bytes: 1, files: 0 }, { bytes: 1, files: 0 });
      assert.equal(refused.granted, null);
      assert.equal(refused.othersHold, true);
      // p1 wrote 250 of its 600 and gives the rest back; p2 made 2 entries.
      let view = (await q.settle('p1', 'bob', settlement({ grown: { bytes: 250, files: 0 }, returned: { bytes: 350, files: 0 } })))!;
      assert.equal(view.usedBytes, 350);
      view = (await q.settle('p2', 'bob', settlement({ grown: { bytes: 0, files: 2 } })))!;
      assert.equal(view.usedFiles, 2);
      const g3 = await q.grant('p1', 'bob', { bytes: 350, files: 0 }, { bytes: 900, files: 0 });
      assert.deepEqual(g3.granted, { bytes: 350, files: 0 }, '1000 - 350 used - 300 held by p2');
      // Unlimited kinds: nothing asked, nothing refused.
      await store.setMaxFiles('bob', null);
      assert.deepEqual((await q.grant('p2', 'bob', { bytes: 0, files: 5 }, { bytes: 0, files: 64 })).granted, { bytes: 0, files: 64 });
      await rejectsWith(q.grant('p1', 'ghost', { bytes: 1, files: 0 }, { bytes: 1, files: 0 }), Error, /no database row/);
    });

    it('quota: a credit read too long ago to compare is refused only while another process is on the store', async () => {
      await store.add(newUser('cid', { quotaBytes: null, usedBytes: 500, usedFiles: 5 }));
      const q = store.quota;
      await q.heartbeat(P1);
      let view = (await q.settle('p1', 'cid', settlement({ credits: [{ inode: '1:30', bytes: 100, files: 1, at: Date.now() - RETAIN_MS }] })))!;
      assert.deepEqual([view.usedBytes, view.unsure], [400, false], 'alone on the store: no other process can have grown it');
      await q.heartbeat(P2);
      view = (await q.settle('p1', 'cid', settlement({ credits: [{ inode: '1:31', bytes: 100, files: 1, at: Date.now() - RETAIN_MS }] })))!;
      assert.deepEqual([view.usedBytes, view.unsure], [400, true]);
    });

    it('quota: what a process alone on the store finished never makes one registered later unsure; what it still holds open does', async () => {
      await store.add(newUser('eve', { quotaBytes: null, usedBytes: 500, usedFiles: 5 }));
      const q = store.quota;
      await q.heartbeat(P1);
      // Alone: p1 opened and closed 1:40, removed 1:41, made an entry, and still has 1:42 open.
      const made = { bytes: 0, files: 1 };
      await q.settle('p1', 'eve', settlement({ touched: ['1:40'], grown: made, credits: [{ inode: '1:41', bytes: 10, files: 1 }], opened: ['1:42'] }));
      await q.heartbeat(P2);
      // p2 came after all of that was over: the same inodes (a number reused) and names changing
      // there overlap nothing of p1's.
      let view = (await q.settle('p2', 'eve', settlement({ touched: ['1:40'], grown: made, credits: [{ inode: '1:41', bytes: 20, files: 1 }] })))!;
      assert.deepEqual([view.usedBytes, view.usedFiles, view.unsure], [470, 5, false]);
      view = (await q.settle('p2', 'eve', settlement({ touched: ['1:42'] })))!;
      assert.equal(view.unsure, true, '1:42 is still open in p1');
      // With p2 on the store, what p1 finishes is kept again for p2 to see.
      await store.setUsage('eve', 500, 5);
      await q.settle('p1', 'eve', settlement({ touched: ['1:43'] }));
      view = (await q.settle('p2', 'eve', settlement({ touched: ['1:43'] })))!;
      assert.equal(view.unsure, true, 'both had 1:43 open at overlapping times');
    });

    it('quota: a credit for an inode another process has open is refused and makes the usage unsure; others apply', async () => {
      await store.add(newUser('bob', { quotaBytes: null, usedBytes: 500, usedFiles: 5 }));
      const q = store.quota;
      await q.heartbeat(P1);
      await q.heartbeat(P2);
      await q.settle('p2', 'bob', settlement({ opened: ['1:10'] }));
      let view = (await q.settle('p1', 'bob', settlement({ credits: [{ inode: '1:10', bytes: 100, files: 1 }, { inode: '1:11', bytes: 50, files: 1 }, { inode: null, bytes: 0, files: 1 }] })))!;
      assert.deepEqual([view.usedBytes, view.usedFiles, view.unsure], [450, 3, true]);
      assert.deepEqual(await q.unsureUsers(), ['bob']);
      // Closed there and settled before the credit's size was read: the credit applies (the
      // close settled that process's charge, and the size read includes it).
      await store.setUsage('bob', 500, 5);
      await q.settle('p2', 'bob', settlement({ closed: ['1:10'] }));
      // A credit read before that close settled (less the slack) is refused: growth there after
      // the read would stay charged for a file gone (the two-process fuzzer, seed 2053692014).
      view = (await q.settle('p1', 'bob', settlement({ credits: [{ inode: '1:10', bytes: 100, files: 1, at: Date.now() - 200 }] })))!;
      assert.deepEqual([view.usedBytes, view.unsure], [500, true], 'read before the close elsewhere settled');
      await store.setUsage('bob', 500, 5);
      // Time passes: this rule compares clocks (the store's settle time, this process's read time).
      await new Promise((r) => setTimeout(r, CREDIT_READ_SLACK_MS + 100));
      view = (await q.settle('p1', 'bob', settlement({ credits: [{ inode: '1:10', bytes: 100, files: 1, at: Date.now() - RETAIN_MS }] })))!;
      assert.deepEqual([view.usedBytes, view.unsure], [500, true], 'read too long ago to compare with the rows kept');
      await store.setUsage('bob', 500, 5);
      view = (await q.settle('p1', 'bob', settlement({ credits: [{ inode: '1:10', bytes: 100, files: 1 }] })))!;
      assert.deepEqual([view.usedBytes, view.unsure], [400, false]);
      // Two processes with one inode open at overlapping times (closed rows are kept a while).
      view = (await q.settle('p1', 'bob', settlement({ touched: ['1:10'] })))!;
      assert.equal(view.unsure, true, 'both may have charged the same growth');
      // One file removed here and replaced by a rename there, each from its own lstat: credited once.
      await store.setUsage('bob', 500, 5);
      view = (await q.settle('p1', 'bob', settlement({ credits: [{ inode: '1:20', bytes: 70, files: 1 }] })))!;
      assert.deepEqual([view.usedBytes, view.unsure], [430, false]);
      view = (await q.settle('p2', 'bob', settlement({ credits: [{ inode: '1:20', bytes: 70, files: 1 }] })))!;
      assert.deepEqual([view.usedBytes, view.usedFiles, view.unsure], [430, 4, true], 'the second credit of 1:20 is refused');
      // A refused truncate's credit charges the size the file keeps (its view may be stale).
      view = (await q.settle('p2', 'bob', settlement({ credits: [{ inode: '1:20', bytes: 60, files: 0, keeps: 5 }] })))!;
      assert.equal(view.usedBytes, 435);
      // A file another process credited lately, reported open here: its growth here may stay charged.
      await store.setUsage('bob', 500, 5);
      view = (await q.settle('p2', 'bob', settlement({ touched: ['1:20'] })))!;
      assert.equal(view.unsure, true);
      // ...and this process's idea of its size was stale (its writes below it were charged
      // nothing): its charged size is added, over and never under the disk until the recount.
      await store.setUsage('bob', 500, 5);
      view = (await q.settle('p2', 'bob', settlement({ opened: ['1:20'], sizes: { '1:20': 300 } })))!;
      assert.deepEqual([view.usedBytes, view.unsure], [800, true]);
      // Two processes changing names at overlapping times (each checks under its own lock only).
      await store.setUsage('bob', 500, 5);
      view = (await q.settle('p3', 'bob', settlement({ grown: { bytes: 0, files: 1 } })))!;
      assert.equal(view.unsure, true, 'p1 and p2 changed names within RETAIN_MS');
    });

    it('quota: connections count across live processes; an expired process stops counting and its block is charged', async () => {
      await store.add(newUser('bob', { quotaBytes: 1000 }));
      const q = store.quota;
      await q.heartbeat(P1);
      await q.heartbeat(P2);
      assert.equal(await q.connect('p1', 'bob', 2), true);
      assert.equal(await q.connect('p2', 'bob', 2), true);
      assert.equal(await q.connect('p2', 'bob', 2), false, 'two on all processes already');
      assert.equal(await q.otherConnections('p1', 'bob'), 1);
      await q.grant('p2', 'bob', { bytes: 10, files: 0 }, { bytes: 300, files: 0 });
      await q.settle('p2', 'bob', settlement({ opened: ['1:1'] }));
      assert.deepEqual(
        (await q.processes()).map((p) => p.id).sort(),
        ['p1', 'p2'],
      );
      assert.deepEqual(await q.expire(['p2']), ['bob']);
      const view = (await q.view('bob'))!;
      assert.deepEqual([view.usedBytes, view.unsure], [300, true], 'the dead block is charged until a recount');
      assert.equal(await q.otherConnections('p1', 'bob'), 0);
      assert.equal(await q.connect('p1', 'bob', 2), true);
      // A recount applies only while no other process has connections and nothing moved.
      const seq = (await q.usageSeq('bob'))!;
      assert.equal(await q.applyRecount(null, 'bob', seq, { bytes: 40, files: 1 }), false, 'p1 has connections');
      assert.equal(await q.applyRecount('p1', 'bob', seq, { bytes: 40, files: 1 }), true);
      assert.deepEqual((await q.view('bob'))!, { usedBytes: 40, usedFiles: 1, quotaBytes: 1000, maxFiles: null, unsure: false });
      assert.equal(await q.applyRecount('p1', 'bob', seq, { bytes: 1, files: 1 }), false, 'the sequence moved');
      await q.disconnect('p1', 'bob');
      await q.disconnect('p1', 'bob');
      assert.equal(await q.otherConnections('p2', 'bob'), 0);
      await q.retire('p1');
      assert.deepEqual(await q.processes(), []);
    });

    it('bans: saved with the later end kept, listed while in force, forgotten once expired', async () => {
      const now = Date.now();
      await store.saveBan('127.0.0.9', now + 60_000);
      await store.saveBan('127.0.0.9', now + 30_000); // an earlier end does not shorten it
      await store.saveBan('2001:db8:1:2::/64', now + 1000);
      await store.saveBan('10.0.0.1', now - 1);
      const listed = (await store.activeBans(now)).sort((x, y) => x.key.localeCompare(y.key));
      assert.deepEqual(listed, [
        { key: '127.0.0.9', untilMs: now + 60_000 },
        { key: '2001:db8:1:2::/64', untilMs: now + 1000 },
      ]);
      assert.deepEqual(await store.activeBans(now + 2000), [{ key: '127.0.0.9', untilMs: now + 60_000 }]);
    });

    it('copyTo copies every user, key, limit, usage and time into an empty PostgreSQL store; refused when it has users', async () => {
      const k = newKey('desk');
      await store.add(newUser('bob', { keys: [k], quotaBytes: 123456, maxFiles: 77, usedBytes: 1000, usedFiles: 4 }));
      await store.add(newUser('ann', { passwordHash: null, keys: [newKey()], disabled: true }));
      await store.recordLogin('bob', new Date('2026-05-05T05:05:05.000Z'));
      const target = await openStore({ database: await pgServer.createDatabase(), paths: {} as never });
      try {
        assert.equal(await store.copyTo(target), 2);
        const strip = (users: Awaited<ReturnType<Store['list']>>) => users.map((u) => ({ ...u, id: 0 }));
        assert.deepEqual(strip(await target.list()), strip(await store.list()));
        await rejectsWith(store.copyTo(target), InputError, /already has users/);
        assert.equal(await target.countUsers(), 2);
      } finally {
        await target.close();
      }
    });
  });
}

describe('PostgreSQL store: unreachable or refused', () => {
  it('an unreachable server: StoreUnavailableError naming the host, never the password', async () => {
    const url = `postgres://coffer:${PG_PASSWORD}@127.0.0.1:1/coffer`;
    await assert.rejects(PostgresStore.connect(url), (err: unknown) => {
      assert.ok(err instanceof StoreUnavailableError);
      assert.match((err as Error).message, /^cannot reach the PostgreSQL store at 127\.0\.0\.1:1\/coffer: /);
      assert.ok(!(err as Error).message.includes(PG_PASSWORD));
      return true;
    });
  });

  it('a wrong password or a missing database: the same, with the reason', async () => {
    const wrong = pgServer.url().replace(PG_PASSWORD, 'not-the-password-9');
    await assert.rejects(PostgresStore.connect(wrong), (err: unknown) => {
      assert.ok(err instanceof StoreUnavailableError);
      assert.match((err as Error).message, /password authentication failed/);
      assert.ok(!(err as Error).message.includes('not-the-password-9'));
      return true;
    });
    await assert.rejects(PostgresStore.connect(pgServer.url('no_such_db')), (err: unknown) => {
      assert.ok(err instanceof StoreUnavailableError);
      assert.match((err as Error).message, /no_such_db/);
      return true;
    });
  });

  it('a connection that dies while checked out (between two queries of a transaction) fails that work with StoreUnavailableError and crashes nothing', async () => {
    // The CI failure of 2026-12-06: pg-pool takes its error listener off a client while it is
    // checked out, so the client's 'error' on an unexpected end was an uncaught exception.
    const url = await pgServer.createDatabase();
    const store = await PostgresStore.connect(url);
    const killer = new pg.Client({ connectionString: url });
    await killer.connect();
    try {
      await store.add(newUser('bob'));
      const tx = (store as unknown as { tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> }).tx.bind(store);
      const work = tx(async (c) => {
        const pid = (await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
        const ended = new Promise((resolve) => c.once('end', resolve));
        await killer.query('SELECT pg_terminate_backend($1)', [pid]);
        await ended; // the socket is gone: this is where the unguarded client threw
        await c.query('SELECT 1');
      });
      await rejectsWith(work, StoreUnavailableError, /^cannot reach the PostgreSQL store at 127\.0\.0\.1:\d+\/t\w+: /);
      // The dead connection is not reused: the next operations run on a fresh one.
      assert.equal(await store.countUsers(), 1);
      assert.equal((await store.get('bob')).name, 'bob');
    } finally {
      await killer.end();
      await store.close();
    }
  });

  it('two processes migrating one empty database at once apply the schema once', async () => {
    const url = await pgServer.createDatabase();
    const stores = await Promise.all([PostgresStore.connect(url), PostgresStore.connect(url), PostgresStore.connect(url)]);
    try {
      await stores[0]!.add(newUser('bob'));
      assert.equal(await stores[2]!.countUsers(), 1);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });
});
