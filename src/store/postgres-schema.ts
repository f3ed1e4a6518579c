/**
 * The PostgreSQL schema and its migrations: the same tables and meaning as the SQLite schema
 * (users/database.ts), with BIGINT sizes and booleans. Each entry moves the schema one version up;
 * never edit a released one, append a new one. Migrations run in one transaction each, under an
 * advisory lock, so processes starting together apply each exactly once.
 */
import type { PoolClient } from 'pg';

export const PG_MIGRATIONS: readonly string[] = [
  `CREATE TABLE users (
     id            BIGSERIAL PRIMARY KEY,
     name          TEXT NOT NULL UNIQUE,
     password_hash TEXT,
     quota_bytes   BIGINT,
     used_bytes    BIGINT NOT NULL DEFAULT 0,
     max_files     BIGINT,
     used_files    BIGINT NOT NULL DEFAULT 0,
     disabled      BOOLEAN NOT NULL DEFAULT false,
     created_at    TEXT NOT NULL,
     last_login_at TEXT,
     usage_epoch   BIGINT NOT NULL DEFAULT 0,
     usage_held    BOOLEAN NOT NULL DEFAULT false
   );
   CREATE TABLE user_keys (
     id          BIGSERIAL PRIMARY KEY,
     user_id     BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
     algorithm   TEXT NOT NULL,
     bits        INTEGER NOT NULL,
     key_blob    TEXT NOT NULL,
     fingerprint TEXT NOT NULL,
     comment     TEXT NOT NULL DEFAULT '',
     added_at    TEXT NOT NULL,
     UNIQUE (user_id, fingerprint)
   );
   CREATE INDEX user_keys_by_fingerprint ON user_keys(fingerprint);
   -- Bumped by every change of users, keys or limits (not by usage saves or login times): servers
   -- poll it to apply coffer-users changes live.
   CREATE TABLE coffer_changes (version BIGINT NOT NULL);
   INSERT INTO coffer_changes (version) VALUES (0);`,
  // Bans decided by any server process on this store (SPEC §7): the others adopt them within 2 s.
  `CREATE TABLE bans (
     address_key TEXT PRIMARY KEY,
     until_ms    BIGINT NOT NULL
   );`,
  // The quota ledger shared by processes (store/quota-store.ts); as SQLite's migration 5.
  `CREATE TABLE coffer_processes (
     id           TEXT PRIMARY KEY,
     host         TEXT NOT NULL,
     pid          INTEGER NOT NULL,
     heartbeat_ms BIGINT NOT NULL
   );
   CREATE TABLE quota_holds (
     user_name   TEXT NOT NULL,
     process_id  TEXT NOT NULL,
     connections INTEGER NOT NULL DEFAULT 0,
     block_bytes BIGINT NOT NULL DEFAULT 0,
     block_files BIGINT NOT NULL DEFAULT 0,
     PRIMARY KEY (user_name, process_id)
   );
   CREATE TABLE quota_inodes (
     user_name  TEXT NOT NULL,
     inode      TEXT NOT NULL,
     process_id TEXT NOT NULL,
     until_ms   BIGINT,
     PRIMARY KEY (user_name, inode, process_id)
   );
   ALTER TABLE users RENAME COLUMN usage_epoch TO usage_seq;
   ALTER TABLE users RENAME COLUMN usage_held TO usage_unsure;`,
];

/** An arbitrary constant naming Coffer's migration lock among the database's advisory locks. */
const MIGRATION_LOCK = 0x636f66666572; // "coffer"

/** Applies the migrations this database has not had yet; throws if it is newer than this Coffer. */
export async function migratePostgres(client: PoolClient): Promise<void> {
  for (;;) {
    await client.query('BEGIN');
    try {
      await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      await client.query('CREATE TABLE IF NOT EXISTS coffer_schema (version INTEGER NOT NULL)');
      const { rows } = await client.query<{ version: number }>('SELECT version FROM coffer_schema');
      const version = rows[0]?.version ?? 0;
      if (version > PG_MIGRATIONS.length) {
        throw new Error(`database schema version ${version} is newer than this Coffer knows (${PG_MIGRATIONS.length})`);
      }
      if (version === PG_MIGRATIONS.length) {
        await client.query('COMMIT');
        return;
      }
      await client.query(PG_MIGRATIONS[version]!);
      if (rows.length === 0) await client.query('INSERT INTO coffer_schema (version) VALUES ($1)', [version + 1]);
      else await client.query('UPDATE coffer_schema SET version = $1', [version + 1]);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  }
}
