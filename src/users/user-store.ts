/**
 * UserStore: users and their public keys in SQLite (better-sqlite3, synchronous). Every change is
 * one transaction that either applies whole or not at all, and keeps the invariant that each user
 * has a password or at least one key. Both the server and coffer-users use it on the same file.
 */
import { InputError, NoSuchUserError } from '../util/errors.js';
import { openDatabase, type Db, type OpenOptions } from './database.js';
import { checkDistinctKeys, userFromRows, type KeyRow, type UserRow } from '../store/rows.js';
import { NEEDS_CREDENTIAL, selectKey, type NewUser, type StoredKey, type UsageRow, type User } from '../store/store.js';
import type { PublicKey } from './public-keys.js';

export type { NewUser, StoredKey, UsageRow, User } from '../store/store.js';

/** The user store on one SQLite file. */
export class UserStore {
  private constructor(readonly db: Db) {}

  /** Opens (and creates or migrates) the database at `file`. */
  static open(file: string, options: OpenOptions = {}): UserStore {
    return new UserStore(openDatabase(file, options));
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /** The user, or undefined. */
  find(name: string): User | undefined {
    const row = this.db.prepare<[string], UserRow>('SELECT * FROM users WHERE name = ?').get(name);
    return row && userFromRows(row, this.keyRows(row.id));
  }

  /** The user, or a NoSuchUserError. */
  get(name: string): User {
    const user = this.find(name);
    if (!user) throw new NoSuchUserError(name);
    return user;
  }

  /** All users, ordered by name. */
  list(): User[] {
    const rows = this.db.prepare<[], UserRow>('SELECT * FROM users ORDER BY name').all();
    const keys = this.db.prepare<[], KeyRow>('SELECT * FROM user_keys ORDER BY id').all();
    return rows.map((r) => userFromRows(r, keys.filter((k) => k.user_id === r.id)));
  }

  /**
   * Adds a user. `alongside` runs inside the same transaction (coffer-users creates the home
   * folder there), so if it throws, the user is not added.
   */
  add(user: NewUser, alongside?: (u: User) => void): User {
    if (user.passwordHash === null && user.keys.length === 0) throw new InputError(NEEDS_CREDENTIAL);
    return this.db.transaction(() => {
      if (this.find(user.name)) throw new InputError(`user '${user.name}' already exists`);
      const now = new Date().toISOString();
      const { lastInsertRowid } = this.db
        .prepare('INSERT INTO users (name, password_hash, quota_bytes, used_bytes, max_files, used_files, disabled, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
        .run(user.name, user.passwordHash, user.quotaBytes, user.usedBytes ?? 0, user.maxFiles ?? null, user.usedFiles ?? 0, user.disabled ? 1 : 0, now);
      this.insertKeys(Number(lastInsertRowid), user.keys, now);
      const added = this.get(user.name);
      alongside?.(added);
      return added;
    }).immediate();
  }

  /** Removes a user and their keys. `alongside` runs inside the transaction, as for add. */
  remove(name: string, alongside?: (u: User) => void): void {
    this.db.transaction(() => {
      const user = this.get(name);
      this.db.prepare('DELETE FROM users WHERE id = ?').run(user.id);
      alongside?.(user);
    }).immediate();
  }

  /** Sets or (with null) removes the password; removing needs at least one key. */
  setPasswordHash(name: string, hash: string | null): void {
    this.db.transaction(() => {
      const user = this.get(name);
      if (hash === null && user.keys.length === 0) throw new InputError(`${NEEDS_CREDENTIAL}; '${name}' has no key`);
      this.db.prepare('UPDATE users SET password_hash = ? WHERE id = ?').run(hash, user.id);
    }).immediate();
  }

  /** Sets the quota in bytes (null = unlimited). */
  setQuota(name: string, bytes: number | null): void {
    this.update(name, 'quota_bytes', bytes);
  }

  /** Sets the entry limit (null = unlimited). */
  setMaxFiles(name: string, count: number | null): void {
    this.update(name, 'max_files', count);
  }

  setDisabled(name: string, disabled: boolean): void {
    this.update(name, 'disabled', disabled ? 1 : 0);
  }

  /**
   * Sets the usage counters (a count of the disk, or a restore) and moves the usage sequence, so
   * a recount under way elsewhere does not apply a count taken before this.
   */
  setUsage(name: string, bytes: number, files: number): void {
    const { changes } = this.db
      .prepare('UPDATE users SET used_bytes = ?, used_files = ?, usage_seq = usage_seq + 1, usage_unsure = 0 WHERE name = ?')
      .run(bytes, files, name);
    if (changes === 0) throw new NoSuchUserError(name);
  }

  /** A user's usage figures, or undefined if the user is gone. */
  usage(name: string): UsageRow | undefined {
    const row = this.db
      .prepare<[string], Pick<UserRow, 'used_bytes' | 'quota_bytes' | 'used_files' | 'max_files'> & { usage_seq: number; usage_unsure: number }>(
        'SELECT used_bytes, quota_bytes, used_files, max_files, usage_seq, usage_unsure FROM users WHERE name = ?',
      )
      .get(name);
    return (
      row && {
        usedBytes: row.used_bytes,
        quotaBytes: row.quota_bytes,
        usedFiles: row.used_files,
        maxFiles: row.max_files,
        seq: row.usage_seq,
        unsure: row.usage_unsure !== 0,
      }
    );
  }

  /** Records a successful login now. */
  recordLogin(name: string, when = new Date()): void {
    this.update(name, 'last_login_at', when.toISOString());
  }

  /** Adds keys to a user; refuses all of them if any is already one of the user's keys. */
  addKeys(name: string, keys: PublicKey[]): void {
    this.db.transaction(() => {
      const user = this.get(name);
      for (const key of keys) {
        if (user.keys.some((k) => k.fingerprint === key.fingerprint)) {
          throw new InputError(`key ${key.fingerprint} is already a key of '${name}'`);
        }
      }
      this.insertKeys(user.id, keys, new Date().toISOString());
    }).immediate();
  }

  /**
   * Removes one key, chosen by fingerprint or by its 1-based index in `key list`. Refused when it
   * is the last key of a user without a password. Returns the removed key.
   */
  removeKey(name: string, selector: string): StoredKey {
    return this.db.transaction(() => {
      const user = this.get(name);
      const key = selectKey(user.keys, selector);
      if (!key) throw new InputError(`'${name}' has no key ${selector} (see 'coffer-users key list ${name}')`);
      if (user.keys.length === 1 && user.passwordHash === null) {
        throw new InputError(`${NEEDS_CREDENTIAL}; this is the last key of '${name}', who has no password`);
      }
      this.db.prepare('DELETE FROM user_keys WHERE user_id = ? AND fingerprint = ?').run(user.id, key.fingerprint);
      return key;
    }).immediate();
  }

  /** How many users there are. */
  countUsers(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM users').get() as { n: number }).n;
  }

  /**
   * Inserts users exactly as given (names, hashes, limits, usage, times, keys), in one
   * transaction; refused when the database already has a user (the target of copy-to).
   */
  restore(users: User[]): void {
    this.db.transaction(() => {
      if (this.countUsers() > 0) throw new InputError('the target store already has users; copy-to needs an empty one');
      const insert = this.db.prepare(
        `INSERT INTO users (name, password_hash, quota_bytes, used_bytes, max_files, used_files, disabled, created_at, last_login_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      const key = this.db.prepare(
        'INSERT INTO user_keys (user_id, algorithm, bits, key_blob, fingerprint, comment, added_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      );
      for (const u of users) {
        const { lastInsertRowid } = insert.run(u.name, u.passwordHash, u.quotaBytes, u.usedBytes, u.maxFiles, u.usedFiles, u.disabled ? 1 : 0, u.createdAt, u.lastLoginAt);
        for (const k of u.keys) key.run(Number(lastInsertRowid), k.algorithm, k.bits, k.blob, k.fingerprint, k.comment, k.addedAt);
      }
    }).immediate();
  }

  /** Records a ban until `untilMs`, keeping a later one already there. */
  saveBan(key: string, untilMs: number): void {
    this.db
      .prepare('INSERT INTO bans (address_key, until_ms) VALUES (?, ?) ON CONFLICT (address_key) DO UPDATE SET until_ms = max(until_ms, excluded.until_ms)')
      .run(key, untilMs);
  }

  /** The bans in force at `nowMs`; expired ones are deleted. */
  activeBans(nowMs: number): Array<{ key: string; untilMs: number }> {
    this.db.prepare('DELETE FROM bans WHERE until_ms <= ?').run(nowMs);
    return this.db
      .prepare<[], { address_key: string; until_ms: number }>('SELECT address_key, until_ms FROM bans')
      .all()
      .map((r) => ({ key: r.address_key, untilMs: r.until_ms }));
  }

  /** SQLite's data_version: changes whenever another connection commits (live-change polling). */
  dataVersion(): number {
    return this.db.pragma('data_version', { simple: true }) as number;
  }

  private update(name: string, column: string, value: unknown): void {
    const { changes } = this.db.prepare(`UPDATE users SET ${column} = ? WHERE name = ?`).run(value, name);
    if (changes === 0) throw new NoSuchUserError(name);
  }

  private insertKeys(userId: number, keys: PublicKey[], now: string): void {
    checkDistinctKeys(keys);
    const insert = this.db.prepare(
      'INSERT INTO user_keys (user_id, algorithm, bits, key_blob, fingerprint, comment, added_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
    for (const k of keys) insert.run(userId, k.algorithm, k.bits, k.blob, k.fingerprint, k.comment, now);
  }

  private keyRows(userId: number): KeyRow[] {
    return this.db.prepare<[number], KeyRow>('SELECT * FROM user_keys WHERE user_id = ? ORDER BY id').all(userId);
  }
}
