/**
 * The shared quota ledger's part of the store (SPEC §7, "Exact quota across processes"). Several
 * server processes (workers, nodes) on one store keep each user's quota exact by these rules:
 *
 * - `used` (users.used_bytes / used_files) is what the home holds as far as every process has
 *   settled. Each process also holds a block (quota_holds.block_bytes / block_files): space granted
 *   to it and not yet settled. A grant succeeds only while used + every block + the grant stays
 *   within the quota, so the writes all processes accept never pass it.
 * - A process spends its block in memory (the hot path: no store round trip per WRITE) and settles
 *   as relative deltas: used += grown + forced - credited, block -= grown (+ what it gives back
 *   when idle); `forced` is growth that needs no block (no limit of that kind, or a reconciliation).
 * - Credits (a removal, a truncate, a close that found a file smaller than charged) name the inode
 *   they free, and carry when the size they free was read (Credit.at). If another live process has
 *   that inode open, or had it open at or after that moment (its closed row was settled then: it
 *   may have grown the file after the size was read, and that growth would stay charged for a file
 *   gone), the credit is not applied (the file is still on the disk, or its size is someone
 *   else's too) and the user is marked unsure. Inodes a
 *   process opens are registered (quota_inodes) with the settle after the open; two processes
 *   having one inode open at overlapping times (closed rows are kept RETAIN_MS) mark the user unsure
 *   too: both may have charged the same growth. A process that reports an inode open or touched
 *   which another process credited lately also has its charged size of it added (Settlement.sizes):
 *   its idea of the size was stale, so its growth may be charged short. So does a credit of an inode another process
 *   credited within CREDIT_RETAIN_MS (two processes removing or replacing one file, each from
 *   its own lstat), and so do two processes changing the user's names at overlapping times
 *   (NAMES_ROW). Unsure usage is over, never under, the disk.
 *   A process alone on the store (no other one registered) leaves out the rows that only say
 *   what it did lately: inodes opened and closed between two settles, credits, names changed.
 *   Every process registers before it serves anything, so one that registers later acts only
 *   after those were over and overlaps none of them; written, they would only expire (most of
 *   a small-file upload's settle cost). Rows of inodes open across a settle are always written.
 * - A process that stops heart-beating for STALE_MS (or whose pid is gone, on the same host and
 *   PID namespace) is expired: its blocks are charged as used (it may have written them) and its
 *   users marked unsure. One expired while alive (stalled past STALE_MS) registers again at its
 *   next heartbeat and goes on spending its block: those bytes were charged at the expiry and
 *   are charged again as it settles them, so usage is over the disk, never under, until a recount.
 * - Unsure usage is recounted from the disk by a process that is the only one with connections of
 *   that user (or by any process when none has), so nothing else can change the home meanwhile;
 *   every change of a user's usage moves usage_seq, and a recount applies only if nothing moved.
 *
 * Sessions: quota_holds.connections counts each process's logged-in connections of a user, so
 * maxSessionsPerUser holds across processes (a dead process's count goes when it is expired).
 */

/** How long without a heartbeat before a process is taken for dead (ms). */
export const STALE_MS = 30_000;
/** How long a closed inode row is kept, so a later overlapping open elsewhere is still seen (ms). */
export const RETAIN_MS = 5_000;
/**
 * How long a process's credit of an inode is remembered (a `c:` row), so the same inode credited by
 * another process meanwhile (a REMOVE here and a replacing rename there, each from its own lstat,
 * both before either act) is not credited twice (found by the two-process fuzzer, seed 159963542).
 */
export const CREDIT_RETAIN_MS = 60_000;

/**
 * Slack when comparing a credit's read time (the crediting process's clock, as an age) with the
 * settle times other processes' inode rows carry (the store's clock): a row settled up to this
 * long before the read still blocks the credit. A credit older than RETAIN_MS less this when it
 * settles (the rows it must be compared with may be gone) is refused while another process is
 * registered on the store.
 */
export const CREDIT_READ_SLACK_MS = 1_000;

/**
 * For a settle's file credits: the least `until_ms` (as an offset from the store's now) of another
 * process's closed row on a credited inode that blocks them (its settle came at or after the
 * oldest credit's read, less CREDIT_READ_SLACK_MS); null when that read is too old to tell.
 */
export function creditBlockOffset(credits: Credit[], localNow: number = Date.now()): number | null {
  let oldest = localNow;
  for (const c of credits) if (c.inode !== null && c.at !== undefined && c.at < oldest) oldest = c.at;
  const age = Math.max(0, localNow - oldest);
  return age + CREDIT_READ_SLACK_MS >= RETAIN_MS ? null : RETAIN_MS - age - CREDIT_READ_SLACK_MS;
}

/** The inode row that remembers a credit of `inode`. */
export const creditRow = (inode: string): string => `c:${inode}`;

/**
 * The row (one per process and user, kept RETAIN_MS) that says the process changed the user's
 * names lately (entries made or removed, files credited). Two processes doing that at overlapping
 * times make the usage unsure: each checks and acts under its own per-process lock only, so a
 * check in one can go stale by the other's act (a rename's free-target check, a removal's lstat;
 * the two-process fuzzer, seeds 310382184 and 310382247), and the recount at quiet settles it.
 */
export const NAMES_ROW = 'n:';

/** True when a settlement changed names (entries made or removed, or anything credited). */
export const changesNames = (s: Settlement): boolean => s.grown.files + s.forced.files > 0 || s.credits.length > 0;

/** A server process on the store. */
export interface ProcessInfo {
  /** Random per start. */
  id: string;
  host: string;
  pid: number;
}

/** A space amount: bytes and entries. */
export interface Space {
  bytes: number;
  files: number;
}

/** A user's settled figures as a process sees them after a grant or settle. */
export interface UsageView {
  usedBytes: number;
  usedFiles: number;
  quotaBytes: number | null;
  maxFiles: number | null;
  /** The usage may differ from the disk (see the module comment); a recount is due. */
  unsure: boolean;
}

/** A grant: what was added to the process's block, or null when refused. */
export interface Grant {
  granted: Space | null;
  /** Other processes hold blocks (a refusal may clear once they give them back). */
  othersHold: boolean;
  view: UsageView;
}

/** An amount freed by an operation; `inode` ("dev:ino") when it is a file's, null otherwise. */
export interface Credit extends Space {
  inode: string | null;
  /**
   * The size the file still has after the change (a truncate's target, a reconciled size; absent
   * or 0 for a removal). When the credit is refused (another process credited or holds the inode,
   * so this process's idea of the file may be stale), that size is charged instead: the file is
   * at most that large now, whatever the other process did (a truncate there to 0, then this one
   * to 1, must not leave the byte uncounted: the two-process fuzzer, seed 1998219139).
   */
  keeps?: number;
  /**
   * When the size this credit frees was read (Date.now() of the crediting process; absent = when
   * it was made). Another process's growth of the inode after that moment is not in it.
   */
  at?: number;
}

/** What a process reports for one user since its last settle. */
export interface Settlement {
  /** Spent from the block (growth and new entries). */
  grown: Space;
  /** Growth not taken from a block (a kind without a limit; reconciling with the disk). */
  forced: Space;
  /** Given back from the block unspent. */
  returned: Space;
  credits: Credit[];
  /** Inodes opened and still open. */
  opened: string[];
  /** Inodes opened before and now closed by their last handle here. */
  closed: string[];
  /** Inodes opened and closed again since the last settle. */
  touched: string[];
  /**
   * This process's charged size of each opened and touched inode (now, or at its last close).
   * When another process credited one of them lately (a removal or truncate there, maybe before
   * the store knew this process had the file open), this process's size idea was stale and its
   * growth on it may be charged short: the store adds that size too (over, never under, until
   * the recount; the two-process fuzzer, seed 843357763). Absent: 0.
   */
  sizes?: Record<string, number>;
}

/** The quota ledger's store operations; each is one transaction. */
export interface QuotaStore {
  /** Registers the process or refreshes its heartbeat; forgets inode rows kept past RETAIN_MS. */
  heartbeat(p: ProcessInfo): Promise<void>;
  /** Every registered process with the age of its last heartbeat (ms, by the store's clock). */
  processes(): Promise<Array<ProcessInfo & { ageMs: number }>>;
  /** Expires dead processes (see the module comment); returns the users made unsure. */
  expire(ids: string[]): Promise<string[]>;
  /** Removes a stopping process's rows (after its last settle); its blocks are given back. */
  retire(id: string): Promise<void>;

  /**
   * One more logged-in connection of `user` on `processId`; false (nothing counted) when the
   * user's connections on live processes already reach `max`.
   */
  connect(processId: string, user: string, max: number): Promise<boolean>;
  disconnect(processId: string, user: string): Promise<void>;
  /** Connections of `user` on live processes other than `processId`. */
  otherConnections(processId: string, user: string): Promise<number>;

  /** The user's settled figures, or undefined when the user is gone. */
  view(user: string): Promise<UsageView | undefined>;
  /**
   * Adds at least `need` and up to `want` to the process's block when the quota allows `need`
   * (each of bytes and files on its own; a zero need asks nothing of that kind).
   */
  grant(processId: string, user: string, need: Space, want: Space): Promise<Grant>;
  settle(processId: string, user: string, s: Settlement): Promise<UsageView | undefined>;

  /** Users marked unsure. */
  unsureUsers(): Promise<string[]>;
  /** Marks a user unsure (a rescan asked while several processes serve them). */
  markUnsure(user: string): Promise<void>;
  /** The usage sequence, to compare after a recount's scan (undefined when the user is gone). */
  usageSeq(user: string): Promise<number | undefined>;
  /**
   * Sets the usage counted from the disk and clears unsure, if the sequence is still `seq` and no
   * live process but `processId` (null: none) has connections of the user; false otherwise.
   * `spent` is what the recounting process spent from its block meanwhile (counted by the scan,
   * so not settled as growth): it leaves the block.
   */
  applyRecount(processId: string | null, user: string, seq: number, counted: Space, spent?: Space): Promise<boolean>;
}

/** A user's usage columns as both stores read them (SQLite keeps booleans as 0/1). */
export interface UsageColumns<B extends boolean | number> {
  used_bytes: number;
  used_files: number;
  quota_bytes: number | null;
  max_files: number | null;
  usage_unsure: B;
  usage_seq: number;
}

/** The figures of a row's usage columns. */
export const viewOf = (u: UsageColumns<boolean | number>): UsageView => ({
  usedBytes: u.used_bytes,
  usedFiles: u.used_files,
  quotaBytes: u.quota_bytes,
  maxFiles: u.max_files,
  unsure: Boolean(u.usage_unsure),
});

/**
 * What a grant gives (shared by both stores): for bytes and for entries on its own, nothing when
 * nothing is needed or wanted, else at least `need` and up to `want` of what the limit leaves after
 * the usage and every block; null when a need does not fit.
 */
export function decide(
  u: { used_bytes: number; used_files: number; quota_bytes: number | null; max_files: number | null },
  held: Space,
  need: Space,
  want: Space,
): Space | null {
  const one = (limit: number | null, used: number, blocks: number, n: number, w: number): number | null => {
    const ask = Math.max(n, w);
    if (ask <= 0) return 0;
    if (limit === null) return ask;
    const room = limit - used - blocks;
    if (n > room) return null;
    return Math.max(n, Math.min(ask, room));
  };
  const bytes = one(u.quota_bytes, u.used_bytes, held.bytes, need.bytes, want.bytes);
  const files = one(u.max_files, u.used_files, held.files, need.files, want.files);
  if (bytes === null || files === null) return null;
  return { bytes, files };
}
