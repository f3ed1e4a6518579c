/**
 * Opens Coffer's SQLite database: created with mode 0600 in a 0700 folder, WAL journal, a busy
 * timeout so the server and coffer-users can share it, foreign keys on, and every pending schema
 * migration applied (PRAGMA user_version counts the migrations already run).
 */
import Database from 'better-sqlite3';
import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';

export type Db = Database.Database;

/** How long a statement waits for another process's write lock before failing (ms). */
export const BUSY_TIMEOUT_MS = 5000;

/** Options of openDatabase. */
export interface OpenOptions {
  /**
   * Busy timeout after the migrations (which always get BUSY_TIMEOUT_MS). The server uses a few
   * ms: better-sqlite3 is synchronous, so waiting on another process's lock would stall every
   * session; its writes are retried later instead.
   */
  busyTimeoutMs?: number;
}

/**
 * Each entry moves the schema one version up; never edit a released one, append a new one.
 * Version N of the schema is the state after MIGRATIONS[0..N-1].
 */
export const MIGRATIONS: readonly string[] = [
  `CREATE TABLE users (
     id            INTEGER PRIMARY KEY,
     name          TEXT NOT NULL UNIQUE,
     password_hash TEXT,
     quota_bytes   INTEGER,
     used_bytes    INTEGER NOT NULL DEFAULT 0,
     disabled      INTEGER NOT NULL DEFAULT 0,
     created_at    TEXT NOT NULL,
     last_login_at TEXT
   ) STRICT;
   CREATE TABLE user_keys (
     id          INTEGER PRIMARY KEY,
     user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
     algorithm   TEXT NOT NULL,
     bits        INTEGER NOT NULL,
     key_blob    TEXT NOT NULL,
     fingerprint TEXT NOT NULL,
     comment     TEXT NOT NULL DEFAULT '',
     added_at    TEXT NOT NULL,
     UNIQUE (user_id, fingerprint)
   ) STRICT;
   CREATE INDEX user_keys_by_fingerprint ON user_keys(fingerprint);`,
  // usage_epoch: bumped by every rescan, so a running server's flush cannot overwrite it.
  // usage_held: 1 while a server holds the user's usage in memory; still 1 at the server's
  // next start means it died holding it, and the usage is recounted from disk.
  `ALTER TABLE users ADD COLUMN usage_epoch INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE users ADD COLUMN usage_held INTEGER NOT NULL DEFAULT 0;`,
  // The entry limit (SPEC §4-§5): max_files NULL = unlimited, used_files the entries in the home.
  // Users from before it get the default limit, and usage_held = 1 so their home is recounted
  // (entries too) before their next session; `coffer-users rescan` counts them at once.
  `ALTER TABLE users ADD COLUMN max_files INTEGER;
   ALTER TABLE users ADD COLUMN used_files INTEGER NOT NULL DEFAULT 0;
   UPDATE users SET max_files = 1000000, usage_held = 1;`,
  // Bans decided by any server process on this store (SPEC §7): the others adopt them within 2 s.
  `CREATE TABLE bans (
     address_key TEXT PRIMARY KEY,
     until_ms    INTEGER NOT NULL
   ) STRICT;`,
  // The quota ledger shared by processes (store/quota-store.ts): processes, their blocks and
  // connections per user, the inodes they have open. usage_epoch becomes the usage sequence (moved
  // by every change of a user's usage) and usage_held "unsure" (recount before trusting).
  `CREATE TABLE coffer_processes (
     id           TEXT PRIMARY KEY,
     host         TEXT NOT NULL,
     pid          INTEGER NOT NULL,
     heartbeat_ms INTEGER NOT NULL
   ) STRICT;
   CREATE TABLE quota_holds (
     user_name   TEXT NOT NULL,
     process_id  TEXT NOT NULL,
     connections INTEGER NOT NULL DEFAULT 0,
     block_bytes INTEGER NOT NULL DEFAULT 0,
     block_files INTEGER NOT NULL DEFAULT 0,
     PRIMARY KEY (user_name, process_id)
   ) STRICT;
   CREATE TABLE quota_inodes (
     user_name  TEXT NOT NULL,
     inode      TEXT NOT NULL,
     process_id TEXT NOT NULL,
     until_ms   INTEGER,
     PRIMARY KEY (user_name, inode, process_id)
   ) STRICT;
   ALTER TABLE users RENAME COLUMN usage_epoch TO usage_seq;
   ALTER TABLE users RENAME COLUMN usage_held TO usage_unsure;
   CREATE TRIGGER users_gone AFTER DELETE ON users BEGIN
     DELETE FROM quota_holds WHERE user_name = OLD.name;
     DELETE FROM quota_inodes WHERE user_name = OLD.name;
   END;`,
];

/** Opens (creating if needed) the database file and brings its schema up to date. */
export function openDatabase(file: string, options: OpenOptions = {}): Db {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  // Create the file ourselves so it is 0600 from its first byte; SQLite gives the -wal and -shm
  // files the same mode as the database file.
  closeSync(openSync(file, 'a', 0o600));
  chmodSync(file, 0o600);
  const db = new Database(file, { timeout: BUSY_TIMEOUT_MS });
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    migrate(db);
    if (options.busyTimeoutMs !== undefined) db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs))}`);
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}

/** Runs the migrations this database has not had yet, each in its own immediate transaction. */
export function migrate(db: Db): void {
  for (;;) {
    const step = db.transaction(() => {
      const version = db.pragma('user_version', { simple: true }) as number;
      if (version > MIGRATIONS.length) {
        throw new Error(`database schema version ${version} is newer than this Coffer knows (${MIGRATIONS.length})`);
      }
      if (version === MIGRATIONS.length) return false;
      db.exec(MIGRATIONS[version]!);
      db.pragma(`user_version = ${version + 1}`);
      return true;
    });
    if (!step.immediate()) return;
  }
}
