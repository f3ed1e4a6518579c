/**
 * The rows of the users and user_keys tables, as both stores read them (the SQL schemas have the
 * same columns; SQLite gives `disabled` as 0/1, PostgreSQL as a boolean), and the one mapping from
 * rows to the User of the store port.
 */
import type { PublicKey } from '../users/public-keys.js';
import { InputError } from '../util/errors.js';
import type { User } from './store.js';

/** A row of `users`. */
export interface UserRow {
  id: number;
  name: string;
  password_hash: string | null;
  quota_bytes: number | null;
  used_bytes: number;
  max_files: number | null;
  used_files: number;
  disabled: number | boolean;
  created_at: string;
  last_login_at: string | null;
}

/** A row of `user_keys`. */
export interface KeyRow {
  user_id: number;
  algorithm: string;
  bits: number;
  key_blob: string;
  fingerprint: string;
  comment: string;
  added_at: string;
}

/** The User of a row and its key rows (in `key list` order). */
export function userFromRows(r: UserRow, keys: KeyRow[]): User {
  return {
    id: r.id,
    name: r.name,
    passwordHash: r.password_hash,
    quotaBytes: r.quota_bytes,
    usedBytes: r.used_bytes,
    maxFiles: r.max_files,
    usedFiles: r.used_files,
    disabled: Boolean(r.disabled),
    createdAt: r.created_at,
    lastLoginAt: r.last_login_at,
    keys: keys.map((k, i) => ({
      index: i + 1,
      algorithm: k.algorithm,
      bits: k.bits,
      blob: k.key_blob,
      fingerprint: k.fingerprint,
      comment: k.comment,
      addedAt: k.added_at,
    })),
  };
}

/** Refuses a list of keys that names one key twice (InputError), before anything is inserted. */
export function checkDistinctKeys(keys: PublicKey[]): void {
  const seen = new Set<string>();
  for (const k of keys) {
    if (seen.has(k.fingerprint)) throw new InputError(`key ${k.fingerprint} is given twice`);
    seen.add(k.fingerprint);
  }
}
