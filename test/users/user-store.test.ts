import { test, describe, before, after, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputError, NoSuchUserError } from '../../src/util/errors.js';
import { BUSY_TIMEOUT_MS, MIGRATIONS, openDatabase } from '../../src/users/database.js';
import { newKey } from '../support/random-keys.js';
import { UserStore, type NewUser } from '../../src/users/user-store.js';

let base: string;
let counter = 0;

before(() => {
  base = mkdtempSync(join(tmpdir(), 'coffer-store-test-'));
});
after(() => {
  rmSync(base, { recursive: true, force: true });
});

/** A path for a new database file in a folder that does not exist yet. */
function freshDbFile(): string {
  return join(base, `state-${++counter}`, 'db', 'coffer.db');
}

const PHC = '$scrypt$ln=12,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';

function newUser(name: string, over: Partial<NewUser> = {}): NewUser {
  return { name, passwordHash: PHC, quotaBytes: 1024 ** 3, disabled: false, keys: [], ...over };
}

function mode(file: string): number {
  return statSync(file).mode & 0o777;
}

/** Asserts that `fn` throws an InputError (not a subclass unless `cls` says so) matching `re`. */
function assertInputError(fn: () => unknown, re: RegExp, cls: typeof InputError = InputError): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof cls, `expected ${cls.name}, got ${String(err)}`);
    assert.match((err as Error).message, re);
    return true;
  });
}

describe('database file', () => {
  test('created 0600 in a 0700 folder, with -wal and -shm 0600 too', (t) => {
    const file = freshDbFile();
    const store = UserStore.open(file);
    t.after(() => store.close());
    store.add(newUser('alice'));
    assert.equal(mode(file), 0o600);
    assert.equal(mode(join(file, '..')), 0o700);
    let sidecars = 0;
    for (const suffix of ['-wal', '-shm']) {
      if (!existsSync(file + suffix)) continue;
      sidecars += 1;
      assert.equal(mode(file + suffix), 0o600, suffix);
    }
    assert.ok(sidecars > 0, 'a WAL database with an open connection has its -wal/-shm files');
  });

  test('an existing database file with looser permissions is made 0600', (t) => {
    const file = freshDbFile();
    mkdirSync(join(file, '..'), { recursive: true });
    writeFileSync(file, '', { mode: 0o644 });
    assert.equal(mode(file), 0o644);
    const store = UserStore.open(file);
    t.after(() => store.close());
    assert.equal(mode(file), 0o600);
  });

  test('WAL journal, busy timeout, foreign keys on', (t) => {
    const store = UserStore.open(freshDbFile());
    t.after(() => store.close());
    assert.equal(store.db.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(store.db.pragma('busy_timeout', { simple: true }), BUSY_TIMEOUT_MS);
    assert.equal(store.db.pragma('foreign_keys', { simple: true }), 1);
  });

  test('user_version is the number of migrations', (t) => {
    const store = UserStore.open(freshDbFile());
    t.after(() => store.close());
    assert.ok(MIGRATIONS.length >= 1);
    assert.equal(store.db.pragma('user_version', { simple: true }), MIGRATIONS.length);
  });

  test('reopening keeps the data and does not run the migrations again', () => {
    const file = freshDbFile();
    const first = UserStore.open(file);
    first.add(newUser('alice', { keys: [newKey()] }));
    first.close();
    // Running the first migration twice would fail (CREATE TABLE users: already exists).
    const again = UserStore.open(file);
    try {
      assert.equal(again.db.pragma('user_version', { simple: true }), MIGRATIONS.length);
      assert.equal(again.get('alice').keys.length, 1);
      assert.equal(again.list().length, 1);
    } finally {
      again.close();
    }
  });

  test('a database from a newer Coffer (higher user_version) is refused', () => {
    const file = freshDbFile();
    const db = openDatabase(file);
    db.pragma(`user_version = ${MIGRATIONS.length + 1}`);
    db.close();
    assert.throws(() => openDatabase(file), /newer/);
  });

  test('close() twice is harmless', () => {
    const store = UserStore.open(freshDbFile());
    store.close();
    assert.doesNotThrow(() => store.close());
    assert.equal(store.db.open, false);
  });
});

describe('UserStore', () => {
  let file: string;
  let store: UserStore;
  beforeEach(() => {
    file = freshDbFile();
    store = UserStore.open(file);
  });
  afterEach(() => {
    store.close();
  });

  describe('add, find, get, list', () => {
    test('add returns the stored user', () => {
      const k = newKey('alice@laptop');
      const before = Date.now();
      const u = store.add(newUser('alice', { quotaBytes: 5000, disabled: true, keys: [k], usedBytes: 42 }));
      assert.equal(u.name, 'alice');
      assert.equal(u.passwordHash, PHC);
      assert.equal(u.quotaBytes, 5000);
      assert.equal(u.usedBytes, 42);
      assert.equal(u.disabled, true);
      assert.equal(u.lastLoginAt, null);
      assert.ok(Date.parse(u.createdAt) >= before - 1000 && Date.parse(u.createdAt) <= Date.now() + 1000);
      assert.equal(new Date(u.createdAt).toISOString(), u.createdAt);
      assert.equal(u.keys.length, 1);
      assert.deepEqual({ ...u.keys[0], addedAt: undefined }, { ...k, index: 1, addedAt: undefined });
      assert.equal(u.keys[0]?.addedAt, u.createdAt);
      assert.deepEqual(store.get('alice'), u);
      assert.deepEqual(store.find('alice'), u);
    });

    test('defaults: usedBytes 0, unlimited quota as null', () => {
      const u = store.add(newUser('bob', { quotaBytes: null }));
      assert.equal(u.usedBytes, 0);
      assert.equal(u.quotaBytes, null);
      assert.equal(u.disabled, false);
      assert.deepEqual(u.keys, []);
    });

    test('a key-only user', () => {
      const u = store.add(newUser('carol', { passwordHash: null, keys: [newKey(), newKey()] }));
      assert.equal(u.passwordHash, null);
      assert.deepEqual(
        u.keys.map((k) => k.index),
        [1, 2],
      );
    });

    test('find gives undefined and get throws NoSuchUserError for unknown names', () => {
      store.add(newUser('alice'));
      assert.equal(store.find('alicia'), undefined);
      assert.equal(store.find('Alice'), undefined);
      assert.throws(() => store.get('nobody'), (err: unknown) => err instanceof NoSuchUserError && err.user === 'nobody' && err.code === 'COFFER_NO_SUCH_USER');
    });

    test('list is ordered by name, each user with their own keys', () => {
      const kz = newKey('z');
      const ka1 = newKey('a1');
      const ka2 = newKey('a2');
      store.add(newUser('zed', { keys: [kz] }));
      store.add(newUser('anna', { keys: [ka1, ka2] }));
      store.add(newUser('mike'));
      const users = store.list();
      assert.deepEqual(
        users.map((u) => u.name),
        ['anna', 'mike', 'zed'],
      );
      assert.deepEqual(
        users.map((u) => u.keys.map((k) => [k.index, k.fingerprint])),
        [[[1, ka1.fingerprint], [2, ka2.fingerprint]], [], [[1, kz.fingerprint]]],
      );
      assert.deepEqual(users, ['anna', 'mike', 'zed'].map((n) => store.get(n)));
    });

    test('list of an empty store is empty', () => {
      assert.deepEqual(store.list(), []);
    });

    test('a duplicate user is refused and nothing changes', () => {
      const original = store.add(newUser('alice', { quotaBytes: 100, keys: [newKey()] }));
      assertInputError(() => store.add(newUser('alice', { quotaBytes: 999, keys: [newKey(), newKey()] })), /'alice' already exists/);
      assert.deepEqual(store.get('alice'), original);
      assert.equal(store.list().length, 1);
      assert.deepEqual(store.db.prepare('SELECT count(*) AS n FROM user_keys').get(), { n: 1 });
    });

    test('a user with neither password nor key is refused', () => {
      assertInputError(() => store.add(newUser('nokey', { passwordHash: null, keys: [] })), /password or at least one key/);
      assert.equal(store.find('nokey'), undefined);
    });

    test('when alongside throws, the user is not added', () => {
      const boom = new Error('mkdir failed');
      let seen: string | undefined;
      assert.throws(
        () =>
          store.add(newUser('alice', { keys: [newKey()] }), (u) => {
            seen = u.name;
            assert.equal(u.keys.length, 1, 'alongside sees the user as added');
            throw boom;
          }),
        (err: unknown) => err === boom,
      );
      assert.equal(seen, 'alice');
      assert.equal(store.find('alice'), undefined);
      assert.deepEqual(store.db.prepare('SELECT count(*) AS n FROM user_keys').get(), { n: 0 });
      // and the name is free afterwards
      assert.equal(store.add(newUser('alice')).name, 'alice');
    });

    test('alongside that returns normally keeps the user', () => {
      let calls = 0;
      store.add(newUser('alice'), () => {
        calls += 1;
      });
      assert.equal(calls, 1);
      assert.ok(store.find('alice'));
    });
  });

  describe('setters', () => {
    beforeEach(() => {
      store.add(newUser('alice', { quotaBytes: 1000 }));
      store.add(newUser('bob', { quotaBytes: 2000 }));
    });

    test('setQuota, including unlimited', () => {
      store.setQuota('alice', 12345);
      assert.equal(store.get('alice').quotaBytes, 12345);
      store.setQuota('alice', null);
      assert.equal(store.get('alice').quotaBytes, null);
      assert.equal(store.get('bob').quotaBytes, 2000, 'other users untouched');
    });

    test('setDisabled', () => {
      store.setDisabled('alice', true);
      assert.equal(store.get('alice').disabled, true);
      assert.equal(store.get('bob').disabled, false);
      store.setDisabled('alice', false);
      assert.equal(store.get('alice').disabled, false);
    });

    test('setUsage, beyond 32 bits', () => {
      store.setUsage('alice', 5 * 1024 ** 4, 0);
      assert.equal(store.get('alice').usedBytes, 5 * 1024 ** 4);
      assert.equal(store.get('bob').usedBytes, 0);
    });

    test('recordLogin stores the given time, or now', () => {
      const when = new Date('2024-05-06T07:08:09.123Z');
      store.recordLogin('alice', when);
      assert.equal(store.get('alice').lastLoginAt, '2024-05-06T07:08:09.123Z');
      const before = Date.now();
      store.recordLogin('bob');
      const at = Date.parse(store.get('bob').lastLoginAt ?? '');
      assert.ok(at >= before - 1000 && at <= Date.now() + 1000);
    });

    test('setPasswordHash replaces the hash', () => {
      const other = PHC.replace('ln=12', 'ln=13');
      store.setPasswordHash('alice', other);
      assert.equal(store.get('alice').passwordHash, other);
      assert.equal(store.get('bob').passwordHash, PHC);
    });

    test('setPasswordHash(null) is refused for a user without keys, allowed with one', () => {
      assertInputError(() => store.setPasswordHash('alice', null), /password or at least one key/);
      assert.equal(store.get('alice').passwordHash, PHC);
      store.addKeys('alice', [newKey()]);
      store.setPasswordHash('alice', null);
      assert.equal(store.get('alice').passwordHash, null);
    });

    test('every method refuses an unknown user with NoSuchUserError', () => {
      const calls: Array<[string, () => unknown]> = [
        ['get', () => store.get('ghost')],
        ['remove', () => store.remove('ghost')],
        ['setQuota', () => store.setQuota('ghost', 1)],
        ['setDisabled', () => store.setDisabled('ghost', true)],
        ['setUsage', () => store.setUsage('ghost', 1, 0)],
        ['recordLogin', () => store.recordLogin('ghost')],
        ['setPasswordHash', () => store.setPasswordHash('ghost', PHC)],
        ['addKeys', () => store.addKeys('ghost', [newKey()])],
        ['removeKey', () => store.removeKey('ghost', '1')],
      ];
      for (const [name, call] of calls) {
        assert.throws(call, (err: unknown) => err instanceof NoSuchUserError && err.user === 'ghost' && /no such user 'ghost'/.test(err.message), name);
      }
      assert.deepEqual(
        store.list().map((u) => u.name),
        ['alice', 'bob'],
      );
    });
  });

  describe('keys', () => {
    test('addKeys appends keys with the next indexes', () => {
      const k1 = newKey('one');
      store.add(newUser('alice', { keys: [k1] }));
      const k2 = newKey('two');
      const k3 = newKey('three');
      store.addKeys('alice', [k2, k3]);
      const keys = store.get('alice').keys;
      assert.deepEqual(
        keys.map((k) => [k.index, k.fingerprint, k.comment]),
        [
          [1, k1.fingerprint, 'one'],
          [2, k2.fingerprint, 'two'],
          [3, k3.fingerprint, 'three'],
        ],
      );
    });

    test('addKeys refuses a key the user already has', () => {
      const k1 = newKey();
      store.add(newUser('alice', { keys: [k1] }));
      assertInputError(() => store.addKeys('alice', [{ ...k1, comment: 'same key, other comment' }]), /already a key of 'alice'/);
      assert.equal(store.get('alice').keys.length, 1);
      assert.equal(store.get('alice').keys[0]?.comment, k1.comment);
    });

    test('addKeys is all or nothing when one of several is a duplicate', () => {
      const k1 = newKey();
      store.add(newUser('alice', { keys: [k1] }));
      const fresh1 = newKey();
      const fresh2 = newKey();
      assertInputError(() => store.addKeys('alice', [fresh1, k1, fresh2]), new RegExp(k1.fingerprint.replace(/[+/]/g, '\\$&')));
      assert.deepEqual(
        store.get('alice').keys.map((k) => k.fingerprint),
        [k1.fingerprint],
      );
    });

    test('addKeys refuses a key listed twice in one call, adding none', () => {
      store.add(newUser('alice'));
      const k = newKey();
      assert.throws(() => store.addKeys('alice', [newKey(), k, k]));
      assert.deepEqual(store.get('alice').keys, []);
    });

    test('the same key may belong to two users', () => {
      const k = newKey();
      store.add(newUser('alice', { keys: [k] }));
      store.add(newUser('bob', { keys: [k] }));
      assert.equal(store.get('bob').keys[0]?.fingerprint, k.fingerprint);
    });

    test('removeKey by fingerprint, with and without the SHA256: prefix', () => {
      const [k1, k2, k3] = [newKey('1'), newKey('2'), newKey('3')];
      store.add(newUser('alice', { keys: [k1, k2, k3] }));
      const removed = store.removeKey('alice', k2.fingerprint);
      assert.equal(removed.fingerprint, k2.fingerprint);
      assert.equal(removed.index, 2);
      const bare = k3.fingerprint.slice('SHA256:'.length);
      assert.equal(store.removeKey('alice', bare).fingerprint, k3.fingerprint);
      assert.deepEqual(
        store.get('alice').keys.map((k) => [k.index, k.fingerprint]),
        [[1, k1.fingerprint]],
      );
    });

    test('removeKey by 1-based index, indexes close up afterwards', () => {
      const [k1, k2, k3] = [newKey('1'), newKey('2'), newKey('3')];
      store.add(newUser('alice', { keys: [k1, k2, k3] }));
      assert.equal(store.removeKey('alice', '1').fingerprint, k1.fingerprint);
      assert.deepEqual(
        store.get('alice').keys.map((k) => [k.index, k.fingerprint]),
        [
          [1, k2.fingerprint],
          [2, k3.fingerprint],
        ],
      );
      assert.equal(store.removeKey('alice', '2').fingerprint, k3.fingerprint);
      assert.deepEqual(
        store.get('alice').keys.map((k) => k.fingerprint),
        [k2.fingerprint],
      );
    });

    test('removeKey only touches the named user', () => {
      const k = newKey();
      store.add(newUser('alice', { keys: [k] }));
      store.add(newUser('bob', { keys: [k] }));
      store.removeKey('alice', k.fingerprint);
      assert.equal(store.get('alice').keys.length, 0);
      assert.equal(store.get('bob').keys.length, 1);
    });

    test('removeKey refuses an unknown selector and changes nothing', () => {
      const k = newKey();
      const other = newKey();
      store.add(newUser('alice', { keys: [k, newKey()] }));
      for (const selector of ['0', '3', '99', '-1', '', other.fingerprint, other.fingerprint.slice(7), 'SHA256:', 'sha256:' + k.fingerprint.slice(7), k.fingerprint.slice(0, 20)]) {
        assertInputError(() => store.removeKey('alice', selector), /has no key/);
      }
      assert.equal(store.get('alice').keys.length, 2);
    });

    test('removing the last key of a password-less user is refused', () => {
      const k = newKey();
      store.add(newUser('alice', { passwordHash: null, keys: [k] }));
      assertInputError(() => store.removeKey('alice', '1'), /last key/);
      assertInputError(() => store.removeKey('alice', k.fingerprint), /last key/);
      assert.equal(store.get('alice').keys.length, 1);
    });

    test('a password-less user may lose keys down to one', () => {
      store.add(newUser('alice', { passwordHash: null, keys: [newKey(), newKey()] }));
      store.removeKey('alice', '1');
      assert.equal(store.get('alice').keys.length, 1);
    });

    test('a user with a password may remove their last key', () => {
      store.add(newUser('alice', { keys: [newKey()] }));
      store.removeKey('alice', '1');
      assert.deepEqual(store.get('alice').keys, []);
    });
  });

  describe('remove', () => {
    test('removes the user and cascades to their keys', () => {
      const k = newKey();
      store.add(newUser('alice', { keys: [k, newKey()] }));
      store.add(newUser('bob', { keys: [newKey()] }));
      store.remove('alice');
      assert.equal(store.find('alice'), undefined);
      assert.deepEqual(store.db.prepare('SELECT count(*) AS n FROM user_keys WHERE fingerprint = ?').get(k.fingerprint), { n: 0 });
      assert.deepEqual(store.db.prepare('SELECT count(*) AS n FROM user_keys').get(), { n: 1 });
      assert.equal(store.get('bob').keys.length, 1);
    });

    test('when alongside throws, the user stays', () => {
      store.add(newUser('alice', { keys: [newKey()] }));
      const boom = new Error('rm failed');
      assert.throws(
        () =>
          store.remove('alice', () => {
            throw boom;
          }),
        (err: unknown) => err === boom,
      );
      assert.equal(store.get('alice').keys.length, 1);
    });

    test('a removed name can be added again, fresh', () => {
      store.add(newUser('alice', { quotaBytes: 1, keys: [newKey()] }));
      store.remove('alice');
      const again = store.add(newUser('alice', { quotaBytes: 2 }));
      assert.equal(again.quotaBytes, 2);
      assert.deepEqual(again.keys, []);
    });
  });

  describe('two connections on one file', () => {
    test('dataVersion changes after another connection commits, not after our own', (t) => {
      const other = UserStore.open(file);
      t.after(() => other.close());
      store.add(newUser('alice'));
      const v0 = store.dataVersion();
      assert.equal(typeof v0, 'number');
      store.setQuota('alice', 1);
      assert.equal(store.dataVersion(), v0, 'own commits do not count');
      other.setQuota('alice', 2);
      const v1 = store.dataVersion();
      assert.notEqual(v1, v0);
      assert.equal(store.dataVersion(), v1, 'stable while nothing else commits');
      other.addKeys('alice', [newKey()]);
      assert.notEqual(store.dataVersion(), v1);
    });

    test('changes by one connection are seen by the other at once', (t) => {
      const other = UserStore.open(file);
      t.after(() => other.close());
      store.add(newUser('alice'));
      other.setDisabled('alice', true);
      assert.equal(store.get('alice').disabled, true);
      other.remove('alice');
      assert.equal(store.find('alice'), undefined);
    });
  });
});
