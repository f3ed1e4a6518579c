/**
 * QuotaLedger: the server's usage accounting for every user with an open session, persisted in
 * the user store. A user's UserQuota is shared by all their sessions. Persistence is batched: a
 * timer writes each changed user at most once per interval (never one write per WRITE packet),
 * and the last session out, refresh() and close() write at once.
 *
 * Every store call is asynchronous (the Store port: SQLite or PostgreSQL). Saves of one user run
 * one after another, in order; a user whose last session ended stays parked here until its final
 * save landed, so a new session never loads a row older than what this process holds.
 *
 * Coordination with coffer-users through the database: `quota` changes are picked up by refresh();
 * a rescan bumps the usage epoch, and the server then recounts the home itself (files open for
 * writing at their exact charged size), so no write under way is lost. A user whose usage a server held when it died (usage_held still set)
 * is recounted from disk before their first session starts.
 */
import type { Store } from '../store/store.js';
import type { Logger } from '../util/logger.js';
import { UserQuota } from './user-quota.js';

interface Entry {
  quota: UserQuota;
  epoch: number;
  sessions: number;
  /** A recount after a rescan is under way. */
  recounting?: boolean;
  /** The save under way (saves of one user are chained, so they land in order). */
  saving?: Promise<boolean>;
}

/** What a ledger needs. */
export interface QuotaLedgerOptions {
  store: Store;
  /**
   * Counts a user's usage from disk: the sizes of the regular files in the home, skipping the
   * inodes for which `skip(dev, ino)` is true (open files, counted by the ledger), and every
   * entry (file, folder, link) below the home.
   */
  recount(user: string, skip: (dev: number, ino: number) => boolean): Promise<{ bytes: number; entries: number }>;
  log: Logger;
  /** How often changed usage is written (ms); default 1000. */
  flushIntervalMs?: number;
}

export class QuotaLedger {
  private readonly entries = new Map<string, Entry>();
  /** Users whose last session ended, until their final write landed (retried while it fails). */
  private readonly unsaved = new Map<string, Entry>();
  private readonly loading = new Map<string, Promise<Entry>>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly opts: QuotaLedgerOptions) {
    this.timer = setInterval(() => void this.flush(), opts.flushIntervalMs ?? 1000);
    this.timer.unref();
  }

  /** The user's shared quota for a new session; pair every call with release(user). */
  async acquire(user: string): Promise<UserQuota> {
    let entry = this.entries.get(user);
    const parked = this.unsaved.get(user);
    if (!entry && parked) {
      this.unsaved.delete(user);
      this.entries.set(user, (entry = parked));
      entry.quota.dirty = true; // its last save may have marked the usage as not held: mark it again
    }
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

  /** A session of `user` ended; the last one writes the usage and lets go of it once written. */
  release(user: string): void {
    const entry = this.entries.get(user);
    if (!entry || --entry.sessions > 0) return;
    this.entries.delete(user);
    this.unsaved.set(user, entry);
    void this.save(user, entry, false).then((ok) => {
      if (ok && this.unsaved.get(user) === entry) this.unsaved.delete(user);
    });
  }

  /** The quota of a user with open sessions (for tests and statvfs), if any. */
  peek(user: string): UserQuota | undefined {
    return this.entries.get(user)?.quota;
  }

  /** Writes every changed usage now, and retries the final writes that failed. */
  async flush(): Promise<void> {
    const saves: Array<Promise<unknown>> = [];
    for (const [user, entry] of this.entries) if (entry.quota.dirty) saves.push(this.save(user, entry, true));
    for (const [user, entry] of this.unsaved) {
      if (entry.saving) continue; // its final save is under way
      saves.push(
        this.save(user, entry, false).then((ok) => {
          if (ok && this.unsaved.get(user) === entry) this.unsaved.delete(user);
        }),
      );
    }
    await Promise.all(saves);
  }

  /**
   * Re-reads quotas and usage epochs of users with sessions (call when the database changed):
   * a new quota applies to the next growth; a rescan's count replaces the usage.
   */
  async refresh(): Promise<void> {
    for (const [user, entry] of [...this.entries]) {
      const row = await this.opts.store.usage(user);
      if (!row) continue;
      entry.quota.limit = row.quotaBytes;
      entry.quota.maxFiles = row.maxFiles;
      if (row.epoch !== entry.epoch) void this.recountHeld(user, entry, row.epoch);
    }
  }

  /** Stops the timer and writes every usage as no longer held (server shutdown). */
  async close(): Promise<void> {
    clearInterval(this.timer);
    const all = [...this.entries, ...this.unsaved];
    this.entries.clear();
    this.unsaved.clear();
    await Promise.all(all.map(([user, entry]) => this.save(user, entry, false)));
  }

  private async load(user: string): Promise<Entry> {
    const row = await this.opts.store.usage(user);
    if (!row) throw new Error(`user ${user} has no database row`);
    let used = row.usedBytes;
    let files = row.usedFiles;
    if (row.held) {
      const count = await this.opts.recount(user, () => false);
      used = count.bytes;
      files = count.entries;
      this.opts.log.warn(
        { event: 'quota-recount', user, before: row.usedBytes, after: used, filesBefore: row.usedFiles, filesAfter: files },
        'usage recounted after an unclean stop',
      );
    }
    const entry: Entry = { quota: new UserQuota(user, row.quotaBytes, used, row.maxFiles, files), epoch: row.epoch, sessions: 0 };
    this.entries.set(user, entry);
    await this.save(user, entry, true);
    return entry;
  }

  /**
   * Writes a user's usage after the saves already under way for them; resolves false when the
   * store refused (the user stays dirty for a retry). With no save under way it starts at once (the
   * embedded store then writes before this returns).
   */
  private save(user: string, entry: Entry, held: boolean): Promise<boolean> {
    const run = () => this.saveNow(user, entry, held);
    const saving = entry.saving ? entry.saving.then(run, run) : run();
    entry.saving = saving;
    void saving.then(() => {
      if (entry.saving === saving) entry.saving = undefined;
    });
    return saving;
  }

  private async saveNow(user: string, entry: Entry, held: boolean): Promise<boolean> {
    entry.quota.dirty = false;
    try {
      if (await this.opts.store.saveUsage(user, entry.quota.used, entry.quota.usedFiles, entry.epoch, held)) return true;
      // A rescan moved the epoch on: recount here (when still held) and save under the new epoch.
      const row = await this.opts.store.usage(user);
      if (row && held) void this.recountHeld(user, entry, row.epoch);
      return true;
    } catch (err) {
      entry.quota.dirty = true; // try again at the next flush (e.g. the database was locked)
      this.opts.log.warn({ event: 'quota-save-failed', user, err: (err as Error).message }, 'could not save usage');
      return false;
    }
  }

  /**
   * A rescan (coffer-users) moved the usage epoch of a user whose usage this server holds. The
   * command's own count would miss writes that finish between its scan and now, so the server
   * recounts: open files at their charged size (exact, kept up to date by every reservation),
   * every other regular file at its size on disk; entries as found, plus removed files still open.
   */
  private async recountHeld(user: string, entry: Entry, epoch: number): Promise<void> {
    if (entry.recounting) return;
    entry.recounting = true;
    try {
      const quota = entry.quota;
      const onDisk = await this.opts.recount(user, (dev, ino) => quota.isTracked(dev, ino));
      const before = quota.used;
      const filesBefore = quota.usedFiles;
      quota.used = onDisk.bytes + quota.chargedOpen;
      quota.usedFiles = onDisk.entries + quota.detachedOpen;
      quota.dirty = true;
      entry.epoch = epoch;
      this.opts.log.info(
        { event: 'quota-rescan', user, before, after: quota.used, filesBefore, filesAfter: quota.usedFiles },
        'usage recounted after a rescan',
      );
      if (this.entries.get(user) === entry) await this.save(user, entry, true);
    } catch (err) {
      this.opts.log.warn({ event: 'quota-rescan-failed', user, err: (err as Error).message }, 'could not recount usage');
    } finally {
      entry.recounting = false;
    }
  }
}
