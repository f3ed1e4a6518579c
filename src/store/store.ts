/**
 * The store port (SPEC §7): everything a second process must see (users, keys, quotas, usage)
 * goes through it, and it is the only thing that knows SQL. Two implementations: SqliteStore (the
 * embedded default, db/coffer.db) and PostgresStore (node-postgres, pooled). Both pass one
 * contract suite (test/store/store-contract.test.ts).
 *
 * Every change is one transaction that applies whole or not at all, and keeps the invariant that
 * each user has a password or at least one key. Methods reject with StoreUnavailableError when the
 * store cannot be reached, InputError for refused input and NoSuchUserError for a missing user.
 */
import type { PublicKey } from '../users/public-keys.js';
import type { QuotaStore } from './quota-store.js';

/** A stored public key; `index` is its 1-based position in `key list`. */
export interface StoredKey extends PublicKey {
  index: number;
  addedAt: string;
}

/** A user as stored. Times are ISO-8601 strings. */
export interface User {
  id: number;
  name: string;
  /** PHC string, or null for a key-only user. */
  passwordHash: string | null;
  /** null = unlimited. */
  quotaBytes: number | null;
  usedBytes: number;
  /** Entry limit (files, folders, links); null = unlimited. */
  maxFiles: number | null;
  /** Entries in the home. */
  usedFiles: number;
  disabled: boolean;
  createdAt: string;
  lastLoginAt: string | null;
  keys: StoredKey[];
}

/** A user's usage figures (settled usage: see quota-store.ts). */
export interface UsageRow {
  usedBytes: number;
  quotaBytes: number | null;
  usedFiles: number;
  maxFiles: number | null;
  /** Moved by every change of the usage. */
  seq: number;
  /** The usage may differ from the disk: a recount is due. */
  unsure: boolean;
}

/** What `add` needs. */
export interface NewUser {
  name: string;
  passwordHash: string | null;
  quotaBytes: number | null;
  /** Entry limit; absent or null = unlimited. */
  maxFiles?: number | null;
  disabled: boolean;
  keys: PublicKey[];
  usedBytes?: number;
  usedFiles?: number;
}

/** Work done inside a store transaction (coffer-users creates or retires the home there). */
export type Alongside = (u: User) => void | Promise<void>;

/** The store port. */
export interface Store {
  /** 'sqlite' or 'postgres'. */
  readonly kind: 'sqlite' | 'postgres';
  /** Where the store is, for messages: the SQLite file, or host:port/database (never a password). */
  readonly where: string;

  find(name: string): Promise<User | undefined>;
  /** The user, or a NoSuchUserError. */
  get(name: string): Promise<User>;
  /** All users, ordered by name. */
  list(): Promise<User[]>;
  countUsers(): Promise<number>;

  /** Adds a user; `alongside` runs inside the transaction (if it throws, nothing is added). */
  add(user: NewUser, alongside?: Alongside): Promise<User>;
  /** Removes a user and their keys; `alongside` runs inside the transaction. */
  remove(name: string, alongside?: Alongside): Promise<void>;
  /** Sets or (with null) removes the password; removing needs at least one key. */
  setPasswordHash(name: string, hash: string | null): Promise<void>;
  /** Sets the quota in bytes (null = unlimited). */
  setQuota(name: string, bytes: number | null): Promise<void>;
  /** Sets the entry limit (null = unlimited). */
  setMaxFiles(name: string, count: number | null): Promise<void>;
  setDisabled(name: string, disabled: boolean): Promise<void>;
  /** Records a successful login at `when`. */
  recordLogin(name: string, when?: Date): Promise<void>;
  /** Adds keys; refuses all of them if any is already one of the user's keys. */
  addKeys(name: string, keys: PublicKey[]): Promise<void>;
  /** Removes one key by fingerprint or 1-based index; the last key of a user without a password stays. */
  removeKey(name: string, selector: string): Promise<StoredKey>;

  /** Sets usage outright (tests, repairs; a rescan goes through quota.applyRecount). */
  setUsage(name: string, bytes: number, files: number): Promise<void>;
  /** A user's usage figures, or undefined if the user is gone. */
  usage(name: string): Promise<UsageRow | undefined>;
  /** The quota ledger shared by server processes (quota-store.ts). */
  readonly quota: QuotaStore;

  /**
   * A token that changes whenever another program changes users, keys or limits in the store
   * (coffer-users, another server): the server polls it and re-reads what it holds when it moves.
   */
  changeVersion(): Promise<string>;

  /** Records a ban of an address key (address-key.ts) until `untilMs`, keeping a later one. */
  saveBan(key: string, untilMs: number): Promise<void>;
  /** The bans still in force at `nowMs` (and forgets the expired ones). */
  activeBans(nowMs: number): Promise<Array<{ key: string; untilMs: number }>>;

  /**
   * Copies every user (keys, quotas, usage, times) into `target`, in one transaction there;
   * refused with InputError, changing nothing, when `target` already has users.
   */
  copyTo(target: Store): Promise<number>;
  /** Inserts users exactly as given (copyTo's other half); refused when any user exists. */
  restore(users: User[]): Promise<void>;

  close(): Promise<void>;
}

/** The store could not be reached or answered with an error that is not the caller's fault. */
export class StoreUnavailableError extends Error {
  readonly code = 'COFFER_STORE_UNAVAILABLE';
}

export const NEEDS_CREDENTIAL = 'a user needs a password or at least one key';

/** The key a selector names: an index (1-based) or a fingerprint with or without `SHA256:`. */
export function selectKey(keys: StoredKey[], selector: string): StoredKey | undefined {
  return /^\d+$/.test(selector)
    ? keys[Number(selector) - 1]
    : keys.find((k) => k.fingerprint === selector || k.fingerprint === `SHA256:${selector}`);
}
