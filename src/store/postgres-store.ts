/**
 * The PostgreSQL store (SPEC §7): the Store port through node-postgres with a connection pool.
 * Same rules as the SQLite store: each change is one transaction, checked inside it, so two
 * coffer-users or servers racing on one user cannot break the invariants. BIGINT columns are read
 * as numbers (sizes stay below 2^53). A connection failure rejects with StoreUnavailableError
 * naming host:port/database, never the password (postgres-connection.ts: the pool, transactions,
 * errors).
 */
import type { PoolClient, QueryResultRow } from 'pg';
import type { PublicKey } from '../users/public-keys.js';
import { InputError, NoSuchUserError } from '../util/errors.js';
import { PostgresConnection } from './postgres-connection.js';
import { migratePostgres } from './postgres-schema.js';
import { PostgresQuota } from './postgres-quota.js';
import { checkDistinctKeys, userFromRows, type KeyRow, type UserRow } from './rows.js';
import { NEEDS_CREDENTIAL, selectKey, type Alongside, type NewUser, type Store, type StoredKey, type UsageRow, type User } from './store.js';

export class PostgresStore extends PostgresConnection implements Store {
  readonly kind = 'postgres';

  /** The quota ledger's operations (postgres-quota.ts). */
  readonly quota = new PostgresQuota(
    (fn) => this.tx(fn),
    (fn) => this.run(fn),
  );

  /**
   * Connects to `url`, checks that the store answers and applies pending migrations. Throws
   * StoreUnavailableError (host named, password never) when it cannot.
   */
  static async connect(url: string, options: { max?: number } = {}): Promise<PostgresStore> {
    const store = new PostgresStore(url, options);
    try {
      const client = await store.client();
      try {
        await migratePostgres(client);
      } finally {
        client.release();
      }
    } catch (err) {
      await store.close();
      throw store.translate(err, true);
    }
    return store;
  }

  async find(name: string): Promise<User | undefined> {
    return this.run((c) => this.findIn(c, name));
  }

  async get(name: string): Promise<User> {
    const user = await this.find(name);
    if (!user) throw new NoSuchUserError(name);
    return user;
  }

  async list(): Promise<User[]> {
    return this.run(async (c) => {
      const rows = (await c.query<UserRow & QueryResultRow>('SELECT * FROM users ORDER BY name')).rows;
      const keys = (await c.query<KeyRow & QueryResultRow>('SELECT * FROM user_keys ORDER BY id')).rows;
      return rows.map((r) => userFromRows(r, keys.filter((k) => k.user_id === r.id)));
    });
  }

  async countUsers(): Promise<number> {
    return this.run(async (c) => Number((await c.query<{ n: number }>('SELECT count(*)::int AS n FROM users')).rows[0]!.n));
  }

  async add(user: NewUser, alongside?: Alongside): Promise<User> {
    if (user.passwordHash === null && user.keys.length === 0) throw new InputError(NEEDS_CREDENTIAL);
    return this.tx(async (c) => {
      const now = new Date().toISOString();
      const inserted = await c.query<{ id: number }>(
        `INSERT INTO users (name, password_hash, quota_bytes, used_bytes, max_files, used_files, disabled, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (name) DO NOTHING RETURNING id`,
        [user.name, user.passwordHash, user.quotaBytes, user.usedBytes ?? 0, user.maxFiles ?? null, user.usedFiles ?? 0, user.disabled, now],
      );
      if (inserted.rowCount === 0) throw new InputError(`user '${user.name}' already exists`);
      await insertKeys(c, inserted.rows[0]!.id, user.keys, now);
      await bump(c);
      const added = await this.findIn(c, user.name);
      await alongside?.(added!);
      return added!;
    });
  }

  async remove(name: string, alongside?: Alongside): Promise<void> {
    await this.tx(async (c) => {
      const user = await this.lockUser(c, name);
      await c.query('DELETE FROM users WHERE id = $1', [user.id]);
      await c.query('DELETE FROM quota_holds WHERE user_name = $1', [name]);
      await c.query('DELETE FROM quota_inodes WHERE user_name = $1', [name]);
      await bump(c);
      await alongside?.(user);
    });
  }

  async setPasswordHash(name: string, hash: string | null): Promise<void> {
    await this.tx(async (c) => {
      const user = await this.lockUser(c, name);
      if (hash === null && user.keys.length === 0) throw new InputError(`${NEEDS_CREDENTIAL}; '${name}' has no key`);
      await c.query('UPDATE users SET password_hash = $1 WHERE id = $2', [hash, user.id]);
      await bump(c);
    });
  }

  setQuota = (name: string, bytes: number | null): Promise<void> => this.update(name, 'quota_bytes', bytes, true);
  setMaxFiles = (name: string, count: number | null): Promise<void> => this.update(name, 'max_files', count, true);
  setDisabled = (name: string, disabled: boolean): Promise<void> => this.update(name, 'disabled', disabled, true);
  recordLogin = (name: string, when = new Date()): Promise<void> => this.update(name, 'last_login_at', when.toISOString(), false);

  async addKeys(name: string, keys: PublicKey[]): Promise<void> {
    await this.tx(async (c) => {
      const user = await this.lockUser(c, name);
      for (const key of keys) {
        if (user.keys.some((k) => k.fingerprint === key.fingerprint)) throw new InputError(`key ${key.fingerprint} is already a key of '${name}'`);
      }
      await insertKeys(c, user.id, keys, new Date().toISOString());
      await bump(c);
    });
  }

  async removeKey(name: string, selector: string): Promise<StoredKey> {
    return this.tx(async (c) => {
      const user = await this.lockUser(c, name);
      const key = selectKey(user.keys, selector);
      if (!key) throw new InputError(`'${name}' has no key ${selector} (see 'coffer-users key list ${name}')`);
      if (user.keys.length === 1 && user.passwordHash === null) {
        throw new InputError(`${NEEDS_CREDENTIAL}; this is the last key of '${name}', who has no password`);
      }
      await c.query('DELETE FROM user_keys WHERE user_id = $1 AND fingerprint = $2', [user.id, key.fingerprint]);
      await bump(c);
      return key;
    });
  }

  async setUsage(name: string, bytes: number, files: number): Promise<void> {
    await this.tx(async (c) => {
      const r = await c.query('UPDATE users SET used_bytes = $1, used_files = $2, usage_seq = usage_seq + 1, usage_unsure = false WHERE name = $3', [bytes, files, name]);
      if (r.rowCount === 0) throw new NoSuchUserError(name);
      await bump(c);
    });
  }

  async saveBan(key: string, untilMs: number): Promise<void> {
    await this.run((c) =>
      c.query('INSERT INTO bans (address_key, until_ms) VALUES ($1, $2) ON CONFLICT (address_key) DO UPDATE SET until_ms = GREATEST(bans.until_ms, EXCLUDED.until_ms)', [key, untilMs]),
    );
  }

  async activeBans(nowMs: number): Promise<Array<{ key: string; untilMs: number }>> {
    return this.run(async (c) => {
      await c.query('DELETE FROM bans WHERE until_ms <= $1', [nowMs]);
      const { rows } = await c.query<{ address_key: string; until_ms: number }>('SELECT address_key, until_ms FROM bans');
      return rows.map((r) => ({ key: r.address_key, untilMs: r.until_ms }));
    });
  }

  async changeVersion(): Promise<string> {
    return this.run(async (c) => String((await c.query<{ version: number }>('SELECT version FROM coffer_changes')).rows[0]?.version ?? 0));
  }

  async usage(name: string): Promise<UsageRow | undefined> {
    const row = (
      await this.run((c) =>
        c.query<QueryResultRow>('SELECT used_bytes, quota_bytes, used_files, max_files, usage_seq, usage_unsure FROM users WHERE name = $1', [name]),
      )
    ).rows[0];
    return (
      row && {
        usedBytes: row.used_bytes as number,
        quotaBytes: row.quota_bytes as number | null,
        usedFiles: row.used_files as number,
        maxFiles: row.max_files as number | null,
        seq: row.usage_seq as number,
        unsure: row.usage_unsure as boolean,
      }
    );
  }

  async copyTo(target: Store): Promise<number> {
    const users = await this.list();
    await target.restore(users);
    return users.length;
  }

  async restore(users: User[]): Promise<void> {
    await this.tx(async (c) => {
      await c.query('LOCK TABLE users IN EXCLUSIVE MODE');
      const n = (await c.query<{ n: number }>('SELECT count(*)::int AS n FROM users')).rows[0]!.n;
      if (n > 0) throw new InputError('the target store already has users; copy-to needs an empty one');
      for (const u of users) {
        const { rows } = await c.query<{ id: number }>(
          `INSERT INTO users (name, password_hash, quota_bytes, used_bytes, max_files, used_files, disabled, created_at, last_login_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
          [u.name, u.passwordHash, u.quotaBytes, u.usedBytes, u.maxFiles, u.usedFiles, u.disabled, u.createdAt, u.lastLoginAt],
        );
        await bump(c);
        for (const k of u.keys) {
          await c.query(
            'INSERT INTO user_keys (user_id, algorithm, bits, key_blob, fingerprint, comment, added_at) VALUES ($1, $2, $3, $4, $5, $6, $7)',
            [rows[0]!.id, k.algorithm, k.bits, k.blob, k.fingerprint, k.comment, k.addedAt],
          );
        }
      }
    });
  }

  async close(): Promise<void> {
    await this.pool.end().catch(() => undefined);
  }

  // ------------------------------------------------------------------ helpers

  private async findIn(c: PoolClient, name: string, lock = false): Promise<User | undefined> {
    const row = (await c.query<UserRow & QueryResultRow>(`SELECT * FROM users WHERE name = $1${lock ? ' FOR UPDATE' : ''}`, [name])).rows[0];
    return row && userFromRows(row, (await c.query<KeyRow & QueryResultRow>('SELECT * FROM user_keys WHERE user_id = $1 ORDER BY id', [row.id])).rows);
  }

  /** The user's row, locked for this transaction, or NoSuchUserError. */
  private async lockUser(c: PoolClient, name: string): Promise<User> {
    const user = await this.findIn(c, name, true);
    if (!user) throw new NoSuchUserError(name);
    return user;
  }

  /** Sets one column of a user; `change` says whether servers must notice (bumps the version). */
  private async update(name: string, column: string, value: unknown, change: boolean): Promise<void> {
    const write = async (c: PoolClient) => {
      const r = await c.query(`UPDATE users SET ${column} = $1 WHERE name = $2`, [value, name]);
      if (r.rowCount === 0) throw new NoSuchUserError(name);
      if (change) await bump(c);
    };
    await (change ? this.tx(write) : this.run(write));
  }
}

/** Moves the change version on (inside the caller's transaction). */
async function bump(c: PoolClient): Promise<void> {
  await c.query('UPDATE coffer_changes SET version = version + 1');
}

async function insertKeys(c: PoolClient, userId: number, keys: PublicKey[], now: string): Promise<void> {
  checkDistinctKeys(keys);
  for (const k of keys) {
    await c.query(
      'INSERT INTO user_keys (user_id, algorithm, bits, key_blob, fingerprint, comment, added_at) VALUES ($1, $2, $3, $4, $5, $6, $7)',
      [userId, k.algorithm, k.bits, k.blob, k.fingerprint, k.comment, now],
    );
  }
}
