/**
 * The shared quota ledger's store operations on PostgreSQL (the rules: quota-store.ts). Each
 * operation is one transaction that locks the user's row first (SELECT ... FOR UPDATE), so the
 * grants, settles and recounts of one user on every node run one at a time; other users' do not
 * wait. Times come from the database's clock, so nodes' clocks need not agree.
 */
import type { PoolClient, QueryResultRow } from 'pg';
import { changesNames, CREDIT_RETAIN_MS, creditBlockOffset, creditRow, decide, NAMES_ROW, RETAIN_MS, viewOf, type UsageColumns, STALE_MS, type Grant, type ProcessInfo, type QuotaStore, type Settlement, type Space, type UsageView } from './quota-store.js';

type Tx = <T>(fn: (c: PoolClient) => Promise<T>) => Promise<T>;

type UserUsage = UsageColumns<boolean> & QueryResultRow;

/** The database's clock in ms. */
const NOW = '(extract(epoch from clock_timestamp()) * 1000)::bigint';

export class PostgresQuota implements QuotaStore {
  constructor(
    /** Runs one transaction (PostgresStore.tx: errors translated, rolled back on throw). */
    private readonly tx: Tx,
    /** Runs statements on a pooled connection without a transaction. */
    private readonly run: Tx,
  ) {}

  heartbeat(p: ProcessInfo): Promise<void> {
    return this.run(async (c) => {
      await c.query(
        `INSERT INTO coffer_processes (id, host, pid, heartbeat_ms) VALUES ($1, $2, $3, ${NOW})
         ON CONFLICT (id) DO UPDATE SET heartbeat_ms = EXCLUDED.heartbeat_ms`,
        [p.id, p.host, p.pid],
      );
      await c.query(`DELETE FROM quota_inodes WHERE until_ms IS NOT NULL AND until_ms < ${NOW}`);
    });
  }

  processes(): Promise<Array<ProcessInfo & { ageMs: number }>> {
    return this.run(async (c) => {
      const { rows } = await c.query<{ id: string; host: string; pid: number; age: number }>(`SELECT id, host, pid, ${NOW} - heartbeat_ms AS age FROM coffer_processes`);
      return rows.map((r) => ({ id: r.id, host: r.host, pid: r.pid, ageMs: r.age }));
    });
  }

  expire(ids: string[]): Promise<string[]> {
    if (ids.length === 0) return Promise.resolve([]);
    return this.tx(async (c) => {
      const holds = await c.query<{ user_name: string; bytes: number; files: number }>(
        `SELECT user_name, sum(block_bytes)::bigint AS bytes, sum(block_files)::bigint AS files FROM quota_holds
         WHERE process_id = ANY($1) GROUP BY user_name`,
        [ids],
      );
      const open = await c.query<{ user_name: string }>('SELECT DISTINCT user_name FROM quota_inodes WHERE process_id = ANY($1) AND until_ms IS NULL', [ids]);
      const unsure = new Set<string>();
      for (const h of holds.rows) {
        if (h.bytes === 0 && h.files === 0) continue;
        // It may have written all of its block before dying: charged until a recount.
        await c.query(
          'UPDATE users SET used_bytes = used_bytes + $1, used_files = used_files + $2, usage_unsure = true, usage_seq = usage_seq + 1 WHERE name = $3',
          [h.bytes, h.files, h.user_name],
        );
        unsure.add(h.user_name);
      }
      for (const o of open.rows) {
        await c.query('UPDATE users SET usage_unsure = true, usage_seq = usage_seq + 1 WHERE name = $1', [o.user_name]);
        unsure.add(o.user_name);
      }
      await forget(c, ids);
      return [...unsure];
    });
  }

  retire(id: string): Promise<void> {
    return this.tx((c) => forget(c, [id]));
  }

  connect(processId: string, user: string, max: number): Promise<boolean> {
    return this.tx(async (c) => {
      if (!(await lockUser(c, user))) return false;
      const { rows } = await c.query<{ n: number | null }>(
        `SELECT sum(h.connections)::bigint AS n FROM quota_holds h JOIN coffer_processes p ON p.id = h.process_id
         WHERE h.user_name = $1 AND p.heartbeat_ms >= ${NOW} - $2`,
        [user, STALE_MS],
      );
      if ((rows[0]?.n ?? 0) >= max) return false;
      await c.query(
        `INSERT INTO quota_holds (user_name, process_id, connections) VALUES ($1, $2, 1)
         ON CONFLICT (user_name, process_id) DO UPDATE SET connections = quota_holds.connections + 1`,
        [user, processId],
      );
      return true;
    });
  }

  disconnect(processId: string, user: string): Promise<void> {
    return this.tx(async (c) => {
      await c.query('UPDATE quota_holds SET connections = GREATEST(0, connections - 1) WHERE user_name = $1 AND process_id = $2', [user, processId]);
      await dropIdleHold(c, processId, user);
    });
  }

  otherConnections(processId: string, user: string): Promise<number> {
    return this.run((c) => others(c, processId, user));
  }

  view(user: string): Promise<UsageView | undefined> {
    return this.run(async (c) => {
      const u = (await c.query<UserUsage>(SELECT_USAGE, [user])).rows[0];
      return u && viewOf(u);
    });
  }

  grant(processId: string, user: string, need: Space, want: Space): Promise<Grant> {
    return this.tx(async (c) => {
      const u = await lockUser(c, user);
      if (!u) throw new Error(`user ${user} has no database row`);
      const { rows } = await c.query<{ bytes: number | null; files: number | null; mine_b: number | null; mine_f: number | null }>(
        `SELECT sum(block_bytes)::bigint AS bytes, sum(block_files)::bigint AS files,
                sum(CASE WHEN process_id = $2 THEN block_bytes END)::bigint AS mine_b,
                sum(CASE WHEN process_id = $2 THEN block_files END)::bigint AS mine_f
         FROM quota_holds WHERE user_name = $1`,
        [user, processId],
      );
      const b = rows[0]!;
      const held = { bytes: b.bytes ?? 0, files: b.files ?? 0 };
      const othersHold = held.bytes - (b.mine_b ?? 0) > 0 || held.files - (b.mine_f ?? 0) > 0;
      const granted = decide(u, held, need, want);
      if (granted && (granted.bytes > 0 || granted.files > 0)) {
        await c.query(
          `INSERT INTO quota_holds (user_name, process_id, block_bytes, block_files) VALUES ($1, $2, $3, $4)
           ON CONFLICT (user_name, process_id) DO UPDATE SET block_bytes = quota_holds.block_bytes + $3, block_files = quota_holds.block_files + $4`,
          [user, processId, granted.bytes, granted.files],
        );
        await c.query('UPDATE users SET usage_seq = usage_seq + 1 WHERE name = $1', [user]);
      }
      return { granted, othersHold, view: viewOf(u) };
    });
  }

  settle(processId: string, user: string, s: Settlement): Promise<UsageView | undefined> {
    return this.tx(async (c) => {
      if (!(await lockUser(c, user))) return undefined;
      let unsure = false;
      let staleBytes = 0;
      const seen = [...s.opened, ...s.touched];
      if (seen.length > 0) {
        // Open elsewhere at an overlapping time, or credited elsewhere lately (removed there while
        // this process had it open: its growth here may stay charged): unsure. Credited elsewhere:
        // this process's size idea was stale, its size is charged too (Settlement.sizes).
        const { rows } = await c.query<{ inode: string }>(
          `SELECT DISTINCT inode FROM quota_inodes WHERE user_name = $1 AND inode = ANY($2) AND process_id <> $3
             AND (until_ms IS NULL OR until_ms >= ${NOW})`,
          [user, [...seen, ...seen.map(creditRow)], processId],
        );
        if (rows.length > 0) unsure = true;
        for (const r of rows) if (r.inode.startsWith('c:')) staleBytes += s.sizes?.[r.inode.slice(2)] ?? 0;
      }
      const put = async (inodes: string[], retained: boolean) => {
        if (inodes.length === 0) return;
        await c.query(
          `INSERT INTO quota_inodes (user_name, inode, process_id, until_ms)
           SELECT $1, i, $3, ${retained ? `${NOW} + ${RETAIN_MS}` : 'NULL'} FROM unnest($2::text[]) AS i
           ON CONFLICT (user_name, inode, process_id) DO UPDATE SET until_ms = EXCLUDED.until_ms`,
          [user, inodes, processId],
        );
      };
      // No other process registered on the store: rows that only say what this process did
      // lately are not written (as SqliteQuota.settle, which says why that loses nothing). Asked
      // once, and only when there is such a row to write.
      let alone: boolean | undefined;
      const isAlone = async (): Promise<boolean> =>
        (alone ??= (await c.query<{ n: number }>('SELECT count(*)::int AS n FROM coffer_processes WHERE id <> $1', [processId])).rows[0]!.n === 0);
      await put(s.opened, false);
      // Closed ones: their rows say open (written while they were), kept a while as closed.
      await put(s.touched.length > 0 && !(await isAlone()) ? [...s.touched, ...s.closed] : s.closed, true);
      if (changesNames(s)) {
        const { rows: names } = await c.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM quota_inodes WHERE user_name = $1 AND inode = $2 AND process_id <> $3 AND until_ms >= ${NOW}`,
          [user, NAMES_ROW, processId],
        );
        if (names[0]!.n > 0) unsure = true;
        if (!(await isAlone())) await put([NAMES_ROW], true);
      }
      const fileCredits = s.credits.filter((cr) => cr.inode !== null).map((cr) => cr.inode!);
      let blocked = new Set<string>();
      const blockOffset = creditBlockOffset(s.credits);
      if (fileCredits.length > 0 && blockOffset === null) {
        // Read too long ago to compare with the rows kept: refused if another process could have rows.
        if (!(await isAlone())) blocked = new Set(fileCredits);
      } else if (fileCredits.length > 0) {
        // Open in another process (still on the disk there, or charged there too), closed there by
        // a settle at or after the credit's read (growth there is not in it), or credited there
        // already: not applied, the usage unsure.
        const { rows } = await c.query<{ inode: string }>(
          `SELECT DISTINCT inode FROM quota_inodes WHERE user_name = $1 AND process_id <> $3
             AND ((inode = ANY($2) AND (until_ms IS NULL OR until_ms >= ${NOW} + $5)) OR (inode = ANY($4) AND until_ms >= ${NOW}))`,
          [user, fileCredits, processId, fileCredits.map(creditRow), blockOffset],
        );
        blocked = new Set(rows.map((r) => (r.inode.startsWith('c:') ? r.inode.slice(2) : r.inode)));
      }
      let freedBytes = 0;
      let freedFiles = 0;
      const credited: string[] = [];
      for (const cr of s.credits) {
        if (cr.inode !== null && blocked.has(cr.inode)) {
          unsure = true;
          freedBytes -= cr.keeps ?? 0; // the size it has now is charged instead (Credit.keeps)
          continue;
        }
        if (cr.inode !== null) credited.push(creditRow(cr.inode));
        freedBytes += cr.bytes;
        freedFiles += cr.files;
      }
      if (credited.length > 0 && !(await isAlone())) {
        await c.query(
          `INSERT INTO quota_inodes (user_name, inode, process_id, until_ms)
           SELECT $1, i, $3, ${NOW} + ${CREDIT_RETAIN_MS} FROM unnest($2::text[]) AS i
           ON CONFLICT (user_name, inode, process_id) DO UPDATE SET until_ms = EXCLUDED.until_ms`,
          [user, [...new Set(credited)], processId],
        );
      }
      const { rows } = await c.query<UserUsage>(
        `UPDATE users SET used_bytes = GREATEST(0, used_bytes + $1), used_files = GREATEST(0, used_files + $2),
           usage_unsure = usage_unsure OR $3, usage_seq = usage_seq + 1 WHERE name = $4
         RETURNING used_bytes, used_files, quota_bytes, max_files, usage_unsure, usage_seq`,
        [s.grown.bytes + s.forced.bytes + staleBytes - freedBytes, s.grown.files + s.forced.files - freedFiles, unsure, user],
      );
      await spend(c, processId, user, s.grown.bytes + s.returned.bytes, s.grown.files + s.returned.files);
      return viewOf(rows[0]!);
    });
  }

  unsureUsers(): Promise<string[]> {
    return this.run(async (c) => (await c.query<{ name: string }>('SELECT name FROM users WHERE usage_unsure')).rows.map((r) => r.name));
  }

  async markUnsure(user: string): Promise<void> {
    await this.run((c) => c.query('UPDATE users SET usage_unsure = true, usage_seq = usage_seq + 1 WHERE name = $1', [user]));
  }

  usageSeq(user: string): Promise<number | undefined> {
    return this.run(async (c) => (await c.query<UserUsage>(SELECT_USAGE, [user])).rows[0]?.usage_seq);
  }

  applyRecount(processId: string | null, user: string, seq: number, counted: Space, spent: Space = { bytes: 0, files: 0 }): Promise<boolean> {
    return this.tx(async (c) => {
      const u = await lockUser(c, user);
      if (!u || u.usage_seq !== seq || (await others(c, processId ?? '', user)) > 0) return false;
      await c.query('UPDATE users SET used_bytes = $1, used_files = $2, usage_unsure = false, usage_seq = usage_seq + 1 WHERE name = $3', [
        counted.bytes,
        counted.files,
        user,
      ]);
      if (processId !== null) await spend(c, processId, user, spent.bytes, spent.files);
      return true;
    });
  }
}

const SELECT_USAGE = 'SELECT used_bytes, used_files, quota_bytes, max_files, usage_unsure, usage_seq FROM users WHERE name = $1';

/** The user's usage, its row locked until the transaction ends; undefined when the user is gone. */
async function lockUser(c: PoolClient, user: string): Promise<UserUsage | undefined> {
  return (await c.query<UserUsage>(`${SELECT_USAGE} FOR UPDATE`, [user])).rows[0];
}

async function others(c: PoolClient, processId: string, user: string): Promise<number> {
  const { rows } = await c.query<{ n: number | null }>(
    `SELECT sum(h.connections)::bigint AS n FROM quota_holds h JOIN coffer_processes p ON p.id = h.process_id
     WHERE h.user_name = $1 AND h.process_id <> $2 AND p.heartbeat_ms >= ${NOW} - $3`,
    [user, processId, STALE_MS],
  );
  return rows[0]?.n ?? 0;
}

/** Takes spent or returned space out of the process's block. */
async function spend(c: PoolClient, processId: string, user: string, bytes: number, files: number): Promise<void> {
  if (bytes === 0 && files === 0) return;
  await c.query(
    'UPDATE quota_holds SET block_bytes = GREATEST(0, block_bytes - $1), block_files = GREATEST(0, block_files - $2) WHERE user_name = $3 AND process_id = $4',
    [bytes, files, user, processId],
  );
  await dropIdleHold(c, processId, user);
}

async function dropIdleHold(c: PoolClient, processId: string, user: string): Promise<void> {
  await c.query('DELETE FROM quota_holds WHERE user_name = $1 AND process_id = $2 AND connections = 0 AND block_bytes = 0 AND block_files = 0', [user, processId]);
}

async function forget(c: PoolClient, ids: string[]): Promise<void> {
  await c.query('DELETE FROM quota_holds WHERE process_id = ANY($1)', [ids]);
  await c.query('DELETE FROM quota_inodes WHERE process_id = ANY($1)', [ids]);
  await c.query('DELETE FROM coffer_processes WHERE id = ANY($1)', [ids]);
}
