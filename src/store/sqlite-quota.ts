/**
 * The shared quota ledger's store operations on SQLite (the rules: quota-store.ts). Workers of one
 * server share db/coffer.db; each operation is one IMMEDIATE transaction, so they serialise on the
 * file's write lock. Times are this machine's clock (every process on one SQLite file runs here).
 */
import type { Statement } from 'better-sqlite3';
import type { Db } from '../users/database.js';
import { whenUnlocked } from './sqlite-busy.js';
import { changesNames, CREDIT_RETAIN_MS, creditBlockOffset, creditRow, decide, NAMES_ROW, RETAIN_MS, viewOf, type UsageColumns, STALE_MS, type Grant, type ProcessInfo, type QuotaStore, type Settlement, type Space, type UsageView } from './quota-store.js';

type UserUsage = UsageColumns<number>;

/** Runs `fn` and returns its value as a promise (a throw becomes a rejection). */
const settle = async <T>(fn: () => T): Promise<T> => fn();


export class SqliteQuota implements QuotaStore {
  /** Statements by SQL text: better-sqlite3 compiles one at every prepare(), so each is prepared once. */
  private readonly statements = new Map<string, Statement>();

  constructor(
    private readonly db: Db,
    private readonly now: () => number = Date.now,
  ) {}

  /** db.prepare(), once per SQL text for this connection (the settle loop runs every 250 ms). */
  private prepare<P extends unknown[] | {} = unknown[], R = unknown>(sql: string): P extends unknown[] ? Statement<P, R> : Statement<[P], R> {
    let st = this.statements.get(sql);
    if (!st) {
      st = this.db.prepare(sql);
      this.statements.set(sql, st);
    }
    return st as never;
  }

  heartbeat(p: ProcessInfo): Promise<void> {
    return this.tx(() => {
      const now = this.now();
      this.prepare('INSERT INTO coffer_processes (id, host, pid, heartbeat_ms) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET heartbeat_ms = excluded.heartbeat_ms')
        .run(p.id, p.host, p.pid, now);
      this.prepare('DELETE FROM quota_inodes WHERE until_ms IS NOT NULL AND until_ms < ?').run(now);
    });
  }

  processes(): Promise<Array<ProcessInfo & { ageMs: number }>> {
    return settle(() => {
      const now = this.now();
      return this.prepare<[], { id: string; host: string; pid: number; heartbeat_ms: number }>('SELECT id, host, pid, heartbeat_ms FROM coffer_processes')
        .all()
        .map((r) => ({ id: r.id, host: r.host, pid: r.pid, ageMs: now - r.heartbeat_ms }));
    });
  }

  expire(ids: string[]): Promise<string[]> {
    return this.tx(() => {
      const unsure = new Set<string>();
      for (const id of ids) {
        const holds = this.prepare<[string], { user_name: string; block_bytes: number; block_files: number }>('SELECT user_name, block_bytes, block_files FROM quota_holds WHERE process_id = ?')
          .all(id);
        const open = this.prepare<[string], { user_name: string }>('SELECT DISTINCT user_name FROM quota_inodes WHERE process_id = ? AND until_ms IS NULL').all(id);
        for (const h of holds) {
          if (h.block_bytes === 0 && h.block_files === 0) continue;
          // It may have written all of its block before dying: charged until a recount.
          this.prepare('UPDATE users SET used_bytes = used_bytes + ?, used_files = used_files + ?, usage_unsure = 1, usage_seq = usage_seq + 1 WHERE name = ?')
            .run(h.block_bytes, h.block_files, h.user_name);
          unsure.add(h.user_name);
        }
        for (const o of open) {
          this.prepare('UPDATE users SET usage_unsure = 1, usage_seq = usage_seq + 1 WHERE name = ?').run(o.user_name);
          unsure.add(o.user_name);
        }
        this.forget(id);
      }
      return [...unsure];
    });
  }

  retire(id: string): Promise<void> {
    return this.tx(() => this.forget(id));
  }

  connect(processId: string, user: string, max: number): Promise<boolean> {
    return this.tx(() => {
      const live = this.now() - STALE_MS;
      const row = this.prepare<[string, number], { n: number | null }>(
          `SELECT sum(h.connections) AS n FROM quota_holds h JOIN coffer_processes p ON p.id = h.process_id
           WHERE h.user_name = ? AND p.heartbeat_ms >= ?`,
        )
        .get(user, live);
      if ((row?.n ?? 0) >= max) return false;
      this.hold(processId, user);
      this.prepare('UPDATE quota_holds SET connections = connections + 1 WHERE user_name = ? AND process_id = ?').run(user, processId);
      return true;
    });
  }

  disconnect(processId: string, user: string): Promise<void> {
    return this.tx(() => {
      this.prepare('UPDATE quota_holds SET connections = max(0, connections - 1) WHERE user_name = ? AND process_id = ?').run(user, processId);
      this.dropIdleHold(processId, user);
    });
  }

  otherConnections(processId: string, user: string): Promise<number> {
    return settle(() => this.others(processId, user));
  }

  view(user: string): Promise<UsageView | undefined> {
    return settle(() => {
      const u = this.usage(user);
      return u && viewOf(u);
    });
  }

  grant(processId: string, user: string, need: Space, want: Space): Promise<Grant> {
    return this.tx(() => {
      const u = this.usage(user);
      if (!u) throw new Error(`user ${user} has no database row`);
      const blocks = this.prepare<{ u: string; p: string }, { bytes: number | null; files: number | null; mine_b: number | null; mine_f: number | null }>(
          `SELECT sum(block_bytes) AS bytes, sum(block_files) AS files,
                  sum(CASE WHEN process_id = @p THEN block_bytes END) AS mine_b, sum(CASE WHEN process_id = @p THEN block_files END) AS mine_f
           FROM quota_holds WHERE user_name = @u`,
        )
        .get({ u: user, p: processId })!;
      const held = { bytes: blocks.bytes ?? 0, files: blocks.files ?? 0 };
      const othersHold = held.bytes - (blocks.mine_b ?? 0) > 0 || held.files - (blocks.mine_f ?? 0) > 0;
      const granted = decide(u, held, need, want);
      if (granted && (granted.bytes > 0 || granted.files > 0)) {
        this.hold(processId, user);
        this.prepare('UPDATE quota_holds SET block_bytes = block_bytes + ?, block_files = block_files + ? WHERE user_name = ? AND process_id = ?')
          .run(granted.bytes, granted.files, user, processId);
        this.prepare('UPDATE users SET usage_seq = usage_seq + 1 WHERE name = ?').run(user);
      }
      return { granted, othersHold, view: viewOf(u) };
    });
  }

  settle(processId: string, user: string, s: Settlement): Promise<UsageView | undefined> {
    return this.tx(() => {
      const u = this.usage(user);
      if (!u) return undefined;
      const now = this.now();
      let unsure = false;
      // Rows of another process on an inode, open or kept until at least the time given: with now,
      // open or closed there lately; with now + a credit's block offset, open there now or closed
      // there by a settle at or after the credit's read.
      const othersAny = this.prepare<[string, string, string, number], { n: number }>(
        'SELECT count(*) AS n FROM quota_inodes WHERE user_name = ? AND inode = ? AND process_id <> ? AND (until_ms IS NULL OR until_ms >= ?)',
      );
      const blockOffset = creditBlockOffset(s.credits);
      // No other process registered on the store (one server process: the common case). Rows that
      // only say what this process did lately (kept RETAIN_MS or CREDIT_RETAIN_MS) are then not
      // written: every process registers before it serves anything, so one that registers after
      // this transaction acts only after it, when what those rows describe is over, and could
      // never overlap with it. Rows of inodes still open here are written all the same (a process
      // that comes later may open one while this one still holds it).
      const alone = this.prepare<[string], { n: number }>('SELECT count(*) AS n FROM coffer_processes WHERE id <> ?').get(processId)!.n === 0;
      // A read too old to compare with the rows kept blocks only if another process could have rows.
      const othersLive = blockOffset === null && !alone;
      const put = this.prepare(
        'INSERT INTO quota_inodes (user_name, inode, process_id, until_ms) VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET until_ms = excluded.until_ms',
      );
      // Open elsewhere at an overlapping time, or credited elsewhere lately (removed there while
      // this process had it open: its growth here may stay charged): unsure.
      // Credited elsewhere: this process's size idea was stale, its size is charged too (Settlement.sizes).
      let staleBytes = 0;
      // Most settles find no row of another process for this user (one process, or other users
      // there): then every per-inode question below answers no, and one query replaces them all.
      const othersRows =
        this.prepare<[string, string, number], { n: number }>(
          'SELECT EXISTS (SELECT 1 FROM quota_inodes WHERE user_name = ? AND process_id <> ? AND (until_ms IS NULL OR until_ms >= ?)) AS n',
        ).get(user, processId, now)!.n > 0;
      const seenElsewhere = (inode: string): boolean => {
        if (!othersRows) return false;
        if (othersAny.get(user, creditRow(inode), processId, now)!.n > 0) {
          staleBytes += s.sizes?.[inode] ?? 0;
          return true;
        }
        return othersAny.get(user, inode, processId, now)!.n > 0;
      };
      for (const inode of s.opened) {
        if (seenElsewhere(inode)) unsure = true;
        put.run(user, inode, processId, null);
      }
      for (const inode of s.touched) {
        if (seenElsewhere(inode)) unsure = true;
        if (!alone) put.run(user, inode, processId, now + RETAIN_MS);
      }
      // Their rows say open (written while they were): kept a while as closed, alone or not.
      for (const inode of s.closed) put.run(user, inode, processId, now + RETAIN_MS);
      if (changesNames(s)) {
        if (othersRows && othersAny.get(user, NAMES_ROW, processId, now)!.n > 0) unsure = true;
        if (!alone) put.run(user, NAMES_ROW, processId, now + RETAIN_MS);
      }
      let freedBytes = 0;
      let freedFiles = 0;
      for (const c of s.credits) {
        if (c.inode !== null) {
          // Still on the disk through another process's handle (or charged there too), open there
          // since its size was read (growth there is not in it), or credited there already: not
          // applied, the usage unsure.
          const blocked =
            (blockOffset === null ? othersLive : othersRows && othersAny.get(user, c.inode, processId, now + blockOffset)!.n > 0) ||
            (othersRows && othersAny.get(user, creditRow(c.inode), processId, now)!.n > 0);
          if (blocked) {
            unsure = true;
            freedBytes -= c.keeps ?? 0; // the size it has now is charged instead (Credit.keeps)
            continue;
          }
          if (!alone) put.run(user, creditRow(c.inode), processId, now + CREDIT_RETAIN_MS);
        }
        freedBytes += c.bytes;
        freedFiles += c.files;
      }
      this.prepare(
          `UPDATE users SET used_bytes = max(0, used_bytes + ?), used_files = max(0, used_files + ?),
             usage_unsure = max(usage_unsure, ?), usage_seq = usage_seq + 1 WHERE name = ?`,
        )
        .run(s.grown.bytes + s.forced.bytes + staleBytes - freedBytes, s.grown.files + s.forced.files - freedFiles, unsure ? 1 : 0, user);
      this.spend(processId, user, s.grown.bytes + s.returned.bytes, s.grown.files + s.returned.files);
      return viewOf(this.usage(user)!);
    });
  }

  unsureUsers(): Promise<string[]> {
    return settle(() => this.prepare<[], { name: string }>('SELECT name FROM users WHERE usage_unsure <> 0').all().map((r) => r.name));
  }

  markUnsure(user: string): Promise<void> {
    return this.tx(() => void this.prepare('UPDATE users SET usage_unsure = 1, usage_seq = usage_seq + 1 WHERE name = ?').run(user));
  }

  usageSeq(user: string): Promise<number | undefined> {
    return settle(() => this.usage(user)?.usage_seq);
  }

  applyRecount(processId: string | null, user: string, seq: number, counted: Space, spent: Space = { bytes: 0, files: 0 }): Promise<boolean> {
    return this.tx(() => {
      const u = this.usage(user);
      if (!u || u.usage_seq !== seq || this.others(processId ?? '', user) > 0) return false;
      this.prepare('UPDATE users SET used_bytes = ?, used_files = ?, usage_unsure = 0, usage_seq = usage_seq + 1 WHERE name = ?')
        .run(counted.bytes, counted.files, user);
      if (processId !== null) this.spend(processId, user, spent.bytes, spent.files);
      return true;
    });
  }

  // ------------------------------------------------------------------ plumbing

  /** One IMMEDIATE transaction, tried again while another connection holds the lock (sqlite-busy.ts). */
  private tx<T>(fn: () => T): Promise<T> {
    return whenUnlocked(() => this.db.transaction(fn).immediate());
  }

  private usage(user: string): UserUsage | undefined {
    return this.prepare<[string], UserUsage>('SELECT used_bytes, used_files, quota_bytes, max_files, usage_unsure, usage_seq FROM users WHERE name = ?')
      .get(user);
  }

  /** Connections of `user` on live processes other than `processId`. */
  private others(processId: string, user: string): number {
    const row = this.prepare<[string, string, number], { n: number | null }>(
        `SELECT sum(h.connections) AS n FROM quota_holds h JOIN coffer_processes p ON p.id = h.process_id
         WHERE h.user_name = ? AND h.process_id <> ? AND p.heartbeat_ms >= ?`,
      )
      .get(user, processId, this.now() - STALE_MS);
    return row?.n ?? 0;
  }

  private hold(processId: string, user: string): void {
    this.prepare('INSERT INTO quota_holds (user_name, process_id) VALUES (?, ?) ON CONFLICT DO NOTHING').run(user, processId);
  }

  /** Takes spent or returned space out of the process's block. */
  private spend(processId: string, user: string, bytes: number, files: number): void {
    if (bytes === 0 && files === 0) return;
    this.prepare('UPDATE quota_holds SET block_bytes = max(0, block_bytes - ?), block_files = max(0, block_files - ?) WHERE user_name = ? AND process_id = ?')
      .run(bytes, files, user, processId);
    this.dropIdleHold(processId, user);
  }

  private dropIdleHold(processId: string, user: string): void {
    this.prepare('DELETE FROM quota_holds WHERE user_name = ? AND process_id = ? AND connections = 0 AND block_bytes = 0 AND block_files = 0')
      .run(user, processId);
  }

  private forget(id: string): void {
    this.prepare('DELETE FROM quota_holds WHERE process_id = ?').run(id);
    this.prepare('DELETE FROM quota_inodes WHERE process_id = ?').run(id);
    this.prepare('DELETE FROM coffer_processes WHERE id = ?').run(id);
  }
}
