/**
 * The embedded store: the Store port over UserStore (better-sqlite3 on db/coffer.db, WAL).
 * better-sqlite3 is synchronous, so each method does its work at once and resolves; a broken
 * database file rejects like any other store failure. The writes a server makes (login times, bans,
 * the quota ledger's) wait for a lock another connection holds (sqlite-busy.ts);
 * coffer-users' own changes fail after its busy timeout instead, with one line.
 */
import type { PublicKey } from '../users/public-keys.js';
import { UserStore } from '../users/user-store.js';
import type { OpenOptions } from '../users/database.js';
import { whenUnlocked } from './sqlite-busy.js';
import { SqliteQuota } from './sqlite-quota.js';
import type { Alongside, NewUser, Store, StoredKey, UsageRow, User } from './store.js';

/** Runs `fn` and returns its value as a promise (a throw becomes a rejection). */
const settle = async <T>(fn: () => T): Promise<T> => fn();

export class SqliteStore implements Store {
  readonly kind = 'sqlite';

  /** The quota ledger's operations on the same file. */
  readonly quota: SqliteQuota;

  private constructor(
    /** The synchronous store underneath (the server's hot paths and the tests read it directly). */
    readonly sync: UserStore,
    readonly where: string,
  ) {
    this.quota = new SqliteQuota(sync.db);
  }

  /** Opens (creating and migrating) the database file. */
  static open(file: string, options: OpenOptions = {}): SqliteStore {
    return new SqliteStore(UserStore.open(file, options), file);
  }

  /** Wraps an open UserStore (not closed by close() unless `owned`). */
  static wrap(store: UserStore, where = 'db/coffer.db'): SqliteStore {
    return new SqliteStore(store, where);
  }

  find = (name: string): Promise<User | undefined> => settle(() => this.sync.find(name));
  get = (name: string): Promise<User> => settle(() => this.sync.get(name));
  list = (): Promise<User[]> => settle(() => this.sync.list());
  countUsers = (): Promise<number> => settle(() => this.sync.countUsers());

  async add(user: NewUser, alongside?: Alongside): Promise<User> {
    // SQLite's transaction is synchronous: the work alongside must be too (creating a folder is).
    return this.sync.add(user, alongside && ((u) => void alongsideSync(alongside, u)));
  }

  async remove(name: string, alongside?: Alongside): Promise<void> {
    this.sync.remove(name, alongside && ((u) => void alongsideSync(alongside, u)));
  }

  setPasswordHash = (name: string, hash: string | null): Promise<void> => settle(() => this.sync.setPasswordHash(name, hash));
  setQuota = (name: string, bytes: number | null): Promise<void> => settle(() => this.sync.setQuota(name, bytes));
  setMaxFiles = (name: string, count: number | null): Promise<void> => settle(() => this.sync.setMaxFiles(name, count));
  setDisabled = (name: string, disabled: boolean): Promise<void> => settle(() => this.sync.setDisabled(name, disabled));
  recordLogin = (name: string, when?: Date): Promise<void> => whenUnlocked(() => this.sync.recordLogin(name, when));
  addKeys = (name: string, keys: PublicKey[]): Promise<void> => settle(() => this.sync.addKeys(name, keys));
  removeKey = (name: string, selector: string): Promise<StoredKey> => settle(() => this.sync.removeKey(name, selector));
  setUsage = (name: string, bytes: number, files: number): Promise<void> => settle(() => this.sync.setUsage(name, bytes, files));
  usage = (name: string): Promise<UsageRow | undefined> => settle(() => this.sync.usage(name));
  restore = (users: User[]): Promise<void> => settle(() => this.sync.restore(users));
  saveBan = (key: string, untilMs: number): Promise<void> => whenUnlocked(() => this.sync.saveBan(key, untilMs));
  activeBans = (nowMs: number): Promise<Array<{ key: string; untilMs: number }>> => settle(() => this.sync.activeBans(nowMs));
  /** SQLite's data_version: it moves when another connection commits. */
  changeVersion = (): Promise<string> => settle(() => String(this.sync.dataVersion()));

  async copyTo(target: Store): Promise<number> {
    const users = this.sync.list();
    await target.restore(users);
    return users.length;
  }

  async close(): Promise<void> {
    this.sync.close();
  }
}

/** Runs a callback that must finish synchronously (inside SQLite's transaction). */
function alongsideSync(fn: Alongside, u: User): void {
  const out = fn(u);
  if (out instanceof Promise) throw new Error('SqliteStore: work alongside a transaction must be synchronous');
}
