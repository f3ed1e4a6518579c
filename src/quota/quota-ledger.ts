/**
 * QuotaLedger: this server process's side of the quota ledger shared through the store (the
 * rules: store/quota-store.ts). It keeps one UserQuota per user with sessions here, shared by
 * those sessions, and runs three loops:
 *
 * - settle (every settleMs, 250 by default): each user's spent growth, credits and inode reports
 *   go to the store as one relative settlement; a block unused for idleMs (1 s) goes back with it,
 *   so idle space returns to the other processes within about 1.25 s. Settlements of one user are
 *   one at a time; a failed one is merged back and retried.
 * - janitor (every janitorMs, 1 s): heartbeat; processes that stopped heart-beating for STALE_MS,
 *   or whose pid is gone on this host, are expired (their blocks charged, their users unsure);
 *   unsure users that only this process serves (or nobody does) are recounted from the disk.
 * - refresh (the watchdog, when coffer-users changed something): quotas re-read; a changed
 *   limit drops this process's block, so a lowered quota applies to the next growth.
 *
 * Logged-in connections are counted in the store too (connect/disconnect), for
 * maxSessionsPerUser across processes.
 *
 * Longer than 300 lines on purpose: the three loops share the per-user entries and their
 * settle-one-at-a-time rule; the rules themselves are the store's (store/quota-store.ts).
 */
import { randomUUID } from 'node:crypto';
import { readlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import type { ProcessInfo, Space, UsageView } from '../store/quota-store.js';
import { STALE_MS } from '../store/quota-store.js';
import type { Store } from '../store/store.js';
import type { Logger } from '../util/logger.js';
import { UserQuota } from './user-quota.js';

interface Entry {
  quota: UserQuota;
  sessions: number;
  /** A recount of this user's home is under way here. */
  recounting: boolean;
  /** The settlement under way. */
  settling?: Promise<boolean>;
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
  settleMs?: number;
  idleMs?: number;
  janitorMs?: number;
}

export class QuotaLedger {
  /** This process on the store. */
  readonly process: ProcessInfo = { id: randomUUID(), host: hostIdentity(), pid: process.pid };
  private readonly entries = new Map<string, Entry>();
  /** Users whose last session here ended, until everything they had here is settled. */
  private readonly leaving = new Map<string, Entry>();
  private readonly loading = new Map<string, Promise<Entry>>();
  private readonly timers: NodeJS.Timeout[] = [];
  private janitorRunning = false;
  /** Unsure users whose recount failed: when to try again, and the next delay (ms). */
  private readonly recountLater = new Map<string, { at: number; delay: number }>();
  private closed = false;

  private constructor(private readonly opts: QuotaLedgerOptions) {}

  /** Registers this process on the store and starts the loops; rejects when the store is lost. */
  static async start(opts: QuotaLedgerOptions): Promise<QuotaLedger> {
    const ledger = new QuotaLedger(opts);
    // The first janitor run registers this process and expires the dead ones of this host (a
    // restart after a crash), so their users are recounted before their first session here.
    await ledger.janitor(true);
    const every = (ms: number, fn: () => Promise<unknown>) => {
      const t = setInterval(() => void fn().catch(() => undefined), ms);
      t.unref();
      ledger.timers.push(t);
    };
    every(opts.settleMs ?? 250, () => ledger.flush(false));
    every(opts.janitorMs ?? 1000, () => ledger.janitor());
    return ledger;
  }

  /**
   * Counts a logged-in connection of `user` on this process; false when the user's connections
   * on all live processes already reach `max`. Rejects when the store is lost.
   */
  connect(user: string, max: number): Promise<boolean> {
    return this.opts.store.quota.connect(this.process.id, user, max);
  }

  /** A connection counted by connect() ended. */
  disconnect(user: string): void {
    this.opts.store.quota.disconnect(this.process.id, user).catch((err: Error) => {
      this.opts.log.warn({ event: 'quota.disconnect-failed', user, err: err.message }, 'could not uncount a connection (it stops counting when this process is expired)');
    });
  }

  /** The user's shared quota for a new session; pair every call with release(user). */
  async acquire(user: string): Promise<UserQuota> {
    let entry = this.entries.get(user);
    const parked = this.leaving.get(user);
    if (!entry && parked) {
      this.leaving.delete(user);
      this.entries.set(user, (entry = parked));
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

  /** A session of `user` ended; the last one settles what the user had here and lets go of it. */
  release(user: string): void {
    const entry = this.entries.get(user);
    if (!entry || --entry.sessions > 0) return;
    this.entries.delete(user);
    this.leaving.set(user, entry);
    void this.settle(user, entry, true);
  }

  /** The quota of a user with open sessions (for tests and statvfs), if any. */
  peek(user: string): UserQuota | undefined {
    return this.entries.get(user)?.quota;
  }

  /** True while this process has sessions of `user` or something of theirs left to settle. */
  holds(user: string): boolean {
    return this.entries.has(user) || this.leaving.has(user);
  }

  /**
   * Settles every user with changes now; with `giveBack` every block goes back too (else only
   * idle ones). Resolves when those settlements landed (or failed: they are retried later).
   */
  async flush(giveBack = true): Promise<void> {
    const now = Date.now();
    const idle = this.opts.idleMs ?? 1000;
    const all = [...this.entries, ...this.leaving];
    await Promise.all(
      all.map(([user, entry]) => {
        const back = giveBack || this.leaving.get(user) === entry || now - entry.quota.lastGrowthMs >= idle;
        // An explicit flush also sends what was gathered while a settle was on its way.
        return giveBack ? this.settleAll(user, entry, true) : this.settle(user, entry, back);
      }),
    );
  }

  /**
   * Re-reads the limits of users with sessions (call when coffer-users changed something): a new
   * limit drops this process's block, so it applies to the next growth.
   */
  async refresh(): Promise<void> {
    for (const [user, entry] of [...this.entries]) {
      const view = await this.opts.store.quota.view(user);
      if (!view) continue;
      const q = entry.quota;
      if (view.quotaBytes !== q.limit || view.maxFiles !== q.maxFiles) {
        q.limit = view.quotaBytes;
        q.maxFiles = view.maxFiles;
        q.dropBlock();
        void this.settle(user, entry, true);
      }
    }
  }

  /** Stops the loops, settles and gives back everything, and leaves the store (server shutdown). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    // Until everything is settled (handles closing at shutdown still report), for up to 5 s.
    const unsettled = () => [...this.entries, ...this.leaving].filter(([, e]) => !e.quota.settledUp || e.settling);
    for (const deadline = Date.now() + 5000; Date.now() < deadline; ) {
      await this.flush(true).catch(() => undefined);
      if (unsettled().length === 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    // What could not be settled is charged when this process is expired: retire only when clean.
    const left = unsettled().map(([user]) => user);
    if (left.length === 0) await this.opts.store.quota.retire(this.process.id).catch(() => undefined);
    else this.opts.log.warn({ event: 'quota.close-unsettled', users: left.length }, 'usage not settled at shutdown: charged until this process is expired and the users recounted');
    this.entries.clear();
    this.leaving.clear();
  }

  // ------------------------------------------------------------------ internals

  private async load(user: string): Promise<Entry> {
    const store = this.opts.store.quota;
    const view = await store.view(user);
    if (!view) throw new Error(`user ${user} has no database row`);
    const entry: Entry = {
      quota: new UserQuota(user, view.quotaBytes, view.usedBytes, view.maxFiles, view.usedFiles, {
        // Credits gathered here (a removal, a truncate) are settled first, so the room they free
        // can be granted again at once.
        grant: async (need, want) => {
          await this.settleAll(user, entry);
          return store.grant(this.process.id, user, need, want);
        },
        markUnsure: () => {
          store.markUnsure(user).catch((err: Error) => {
            this.opts.log.warn({ event: 'quota.mark-unsure-failed', user, err: err.message }, 'could not mark usage unsure (it stays over the disk until a recount)');
          });
        },
      }),
      sessions: 0,
      recounting: false,
    };
    const quota = entry.quota;
    quota.unsure = view.unsure;
    this.entries.set(user, entry);
    // Usage a dead process left unsure is recounted before the first session here, when no
    // other process serves the user (then nothing else can change the home meanwhile).
    if (view.unsure) await this.recount(user, entry).catch(() => undefined);
    return entry;
  }

  /** Sends one user's settlement; true when it landed (or there was nothing to send). */
  private settle(user: string, entry: Entry, giveBack: boolean): Promise<boolean> {
    if (entry.settling || entry.recounting) return entry.settling ?? Promise.resolve(false);
    const s = entry.quota.takeSettlement(giveBack);
    if (!s) {
      this.forgetIfDone(user, entry);
      return Promise.resolve(true);
    }
    const run = async (): Promise<boolean> => {
      try {
        const view = await this.opts.store.quota.settle(this.process.id, user, s);
        if (view) entry.quota.settled(view);
        else entry.quota.settled(this.viewOf(entry.quota)); // the user is gone: nothing to keep
        return true;
      } catch (err) {
        entry.quota.unsent();
        this.opts.log.warn({ event: 'quota.settle-failed', user, err: (err as Error).message }, 'could not settle usage (retried)');
        return false;
      } finally {
        entry.settling = undefined;
        this.forgetIfDone(user, entry);
      }
    };
    const p = run();
    entry.settling = p;
    return p;
  }

  /** Settles until what was gathered before the call is in the store (a settle under way first). */
  private async settleAll(user: string, entry: Entry, giveBack = false): Promise<void> {
    if (entry.settling) await entry.settling;
    await this.settle(user, entry, giveBack);
  }

  /** A user who left is forgotten once nothing of theirs waits to be settled. */
  private forgetIfDone(user: string, entry: Entry): void {
    if (this.leaving.get(user) !== entry) return;
    const q = entry.quota;
    if (q.settledUp && q.block.bytes === 0 && q.block.files === 0 && q.openFiles === 0) this.leaving.delete(user);
  }

  private viewOf(q: UserQuota): UsageView {
    return { usedBytes: q.used, usedFiles: q.usedFiles, quotaBytes: q.limit, maxFiles: q.maxFiles, unsure: q.unsure };
  }

  /**
   * Recounts `user`'s home when no other live process has connections of the user: the files
   * open here at their charged size, everything else as found. Applies only if nothing changed
   * the user's usage in the store meanwhile (else it stays unsure and is tried again).
   */
  private async recount(user: string, entry: Entry | undefined): Promise<'done' | 'skipped' | 'failed'> {
    const store = this.opts.store.quota;
    if (entry) {
      if (entry.recounting) return 'skipped';
      await this.settle(user, entry, false);
      if (entry.settling) await entry.settling;
    }
    if ((await store.otherConnections(this.process.id, user)) > 0) return 'skipped'; // tried again next time, cheaply
    if (entry) entry.recounting = true;
    try {
      const seq = await store.usageSeq(user);
      if (seq === undefined) return 'skipped';
      const q = entry?.quota;
      const before = q ? { bytes: q.used, files: q.usedFiles } : undefined;
      const onDisk = await this.opts.recount(user, (dev, ino) => q?.isTracked(dev, ino) ?? false);
      const counted: Space = { bytes: onDisk.bytes + (q?.chargedOpen ?? 0), files: onDisk.entries + (q?.detachedOpen ?? 0) };
      const mark = q?.recountMark();
      // This process may have connections of the user (no session, or sessions here only): it
      // alone can change the home, so the count stands if no other process has connections.
      const ok = await store.applyRecount(this.process.id, user, seq, counted, mark?.spent);
      if (!ok) return 'failed';
      if (q && mark) {
        q.recounted(counted, mark);
        // The block was granted against the old figure: asked again, against the count.
        q.dropBlock();
        void this.settle(user, entry!, true);
      }
      this.opts.log.info({ event: 'quota.recount', user, before: before?.bytes, after: counted.bytes, filesBefore: before?.files, filesAfter: counted.files }, 'usage recounted from the disk');
      return 'done';
    } finally {
      if (entry) entry.recounting = false;
    }
  }

  /** Heartbeat, expiry of dead processes, recounts of unsure users. One run at a time. */
  private async janitor(starting = false): Promise<void> {
    if (this.janitorRunning || this.closed) return;
    this.janitorRunning = true;
    try {
      const store = this.opts.store.quota;
      await store.heartbeat(this.process);
      const dead = (await store.processes()).filter((p) => p.id !== this.process.id && (p.ageMs > STALE_MS || (p.host === this.process.host && !pidAlive(p.pid))));
      if (dead.length > 0) {
        const users = await store.expire(dead.map((p) => p.id));
        this.opts.log.warn(
          { event: 'quota.process-expired', processes: dead.map((p) => `${p.host.split(' ')[0]}:${p.pid}`), users: users.length },
          'expired dead processes: their blocks are charged until a recount',
        );
      }
      if (starting) return; // recounts wait for the loops: start-up stays quick
      const unsure = await store.unsureUsers();
      for (const user of this.recountLater.keys()) if (!unsure.includes(user)) this.recountLater.delete(user);
      for (const user of unsure) {
        const later = this.recountLater.get(user);
        if (later && Date.now() < later.at) continue;
        const entry = this.entries.get(user) ?? this.leaving.get(user);
        const result = await this.recount(user, entry).catch((err: Error) => {
          this.opts.log.warn({ event: 'quota.recount-failed', user, err: err.message }, 'could not recount usage');
          return 'failed' as const;
        });
        // A home scanned in vain (changed meanwhile) is not scanned every second: back off up to
        // 30 s between scans. Skipped ones (other processes serve the user) cost a query only.
        const delay = Math.min(30_000, (later?.delay ?? 500) * 2);
        if (result === 'done') this.recountLater.delete(user);
        else if (result === 'failed') this.recountLater.set(user, { at: Date.now() + delay, delay });
      }
    } finally {
      this.janitorRunning = false;
    }
  }
}

/**
 * The host as the janitor compares it: the host name, and the PID namespace where Linux names one
 * (containers sharing a host name, as with host networking, have different ones), so a pid is
 * only looked up where it means the same process.
 */
function hostIdentity(): string {
  let ns = '';
  try {
    ns = readlinkSync('/proc/self/ns/pid'); // "pid:[4026531836]"
  } catch {
    /* not Linux: the host name alone */
  }
  return ns ? `${hostname()} ${ns}` : hostname();
}

/** True when a process with this pid exists on this host (EPERM: it exists, not ours). */
function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
