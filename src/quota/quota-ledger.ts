/**
 * QuotaLedger: the server's usage accounting for every user with an open session, persisted in
 * the user store. A user's UserQuota is shared by all their sessions. Persistence is batched: a
 * timer writes each changed user at most once per interval (never one write per WRITE packet),
 * and the last session out, refresh() and close() write at once.
 *
 * Coordination with coffer-users through the database: `quota` changes are picked up by refresh();
 * a rescan bumps the usage epoch, and the ledger then adopts the recounted figure plus the growth
 * of writes still under way. A user whose usage a server held when it died (usage_held still set)
 * is recounted from disk before their first session starts.
 */
import type { UserStore } from '../users/user-store.js';
import type { Logger } from '../util/logger.js';
import { UserQuota } from './user-quota.js';

interface Entry {
  quota: UserQuota;
  epoch: number;
  sessions: number;
}

/** What a ledger needs. */
export interface QuotaLedgerOptions {
  store: UserStore;
  /** Counts a user's usage from disk (after an unclean stop). */
  recount(user: string): Promise<number>;
  log: Logger;
  /** How often changed usage is written (ms); default 1000. */
  flushIntervalMs?: number;
}

export class QuotaLedger {
  private readonly entries = new Map<string, Entry>();
  private readonly loading = new Map<string, Promise<Entry>>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly opts: QuotaLedgerOptions) {
    this.timer = setInterval(() => this.flush(), opts.flushIntervalMs ?? 1000);
    this.timer.unref();
  }

  /** The user's shared quota for a new session; pair every call with release(user). */
  async acquire(user: string): Promise<UserQuota> {
    let entry = this.entries.get(user);
    if (!entry) {
      let pending = this.loading.get(user);
      if (!pending) {
        pending = this.load(user).finally(() => this.loading.delete(user));
        this.loading.set(user, pending);
      }
      entry = await pending;
    }
    entry.sessions += 1;
    return entry.quota;
  }

  /** A session of `user` ended; the last one writes the usage and lets go of it. */
  release(user: string): void {
    const entry = this.entries.get(user);
    if (!entry || --entry.sessions > 0) return;
    this.entries.delete(user);
    this.save(user, entry, false);
  }

  /** The quota of a user with open sessions (for tests and statvfs), if any. */
  peek(user: string): UserQuota | undefined {
    return this.entries.get(user)?.quota;
  }

  /** Writes every changed usage now. */
  flush(): void {
    for (const [user, entry] of this.entries) if (entry.quota.dirty) this.save(user, entry, true);
  }

  /**
   * Re-reads quotas and usage epochs of users with sessions (call when the database changed):
   * a new quota applies to the next growth; a rescan's count replaces the usage.
   */
  refresh(): void {
    for (const [user, entry] of this.entries) {
      const row = this.opts.store.usage(user);
      if (!row) continue;
      entry.quota.limit = row.quotaBytes;
      if (row.epoch !== entry.epoch) this.adopt(user, entry, row.usedBytes, row.epoch);
    }
  }

  /** Stops the timer and writes every usage as no longer held (server shutdown). */
  close(): void {
    clearInterval(this.timer);
    for (const [user, entry] of this.entries) this.save(user, entry, false);
    this.entries.clear();
  }

  private async load(user: string): Promise<Entry> {
    const row = this.opts.store.usage(user);
    if (!row) throw new Error(`user ${user} has no database row`);
    let used = row.usedBytes;
    if (row.held) {
      used = await this.opts.recount(user);
      this.opts.log.warn({ event: 'quota-recount', user, before: row.usedBytes, after: used }, 'usage recounted after an unclean stop');
    }
    const entry: Entry = { quota: new UserQuota(user, row.quotaBytes, used), epoch: row.epoch, sessions: 0 };
    this.entries.set(user, entry);
    this.save(user, entry, true);
    return entry;
  }

  private save(user: string, entry: Entry, held: boolean): void {
    entry.quota.dirty = false;
    try {
      if (this.opts.store.saveUsage(user, entry.quota.used, entry.epoch, held)) return;
      const row = this.opts.store.usage(user);
      if (!row) return;
      this.adopt(user, entry, row.usedBytes, row.epoch);
      this.opts.store.saveUsage(user, entry.quota.used, entry.epoch, held);
    } catch (err) {
      entry.quota.dirty = true; // try again at the next flush (e.g. the database was locked)
      this.opts.log.warn({ event: 'quota-save-failed', user, err: (err as Error).message }, 'could not save usage');
    }
  }

  /** Takes a rescan's count: the disk as counted, plus growth reserved for writes under way. */
  private adopt(user: string, entry: Entry, counted: number, epoch: number): void {
    const before = entry.quota.used;
    entry.quota.used = counted + entry.quota.pending;
    entry.epoch = epoch;
    this.opts.log.info({ event: 'quota-rescan', user, before, after: entry.quota.used }, 'usage replaced by a rescan');
  }
}
