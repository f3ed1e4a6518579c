/**
 * One user's disk accounting in this server process, shared by all of that user's sessions here.
 * Usage is the sum of the sizes of the regular files in the home, and the number of its entries
 * (files, folders, links). Every growth and every new entry is reserved before it happens and
 * refused when it would pass the limit.
 *
 * With other processes on the store (store/quota-store.ts), growth is taken from a block of space
 * the store granted to this process: while the block covers it, a reservation checks and takes
 * synchronously (the hot path; Node runs one at a time, so no two sessions pass the check for the
 * same bytes); when it does not, reserve() returns a promise that asks the store for more (the
 * caller awaits it and goes on, or gets QuotaExceededError / QuotaUnavailableError). What is spent
 * and what is freed is reported to the store as relative deltas by the ledger (takeSettlement).
 * Without a store (tests, the fuzzer's engine) the limit is checked here directly.
 *
 * Open files are tracked per inode, read-only ones too: `charged` is the size this process counts
 * for that file, updated as growth is reserved. Several handles on one file (in any session here)
 * share it, so overlapping writes beyond the end are charged once, exactly; and a file removed or
 * replaced while any handle keeps it on disk stays charged until its last handle closes (SPEC §5).
 * Credits name the inode they free, so the store can refuse one that another process still holds.
 *
 * Longer than 300 lines on purpose: one user's accounting in one class (the block, the changes
 * not yet settled, the open files and the detached ones share private state that every method
 * keeps consistent synchronously); what could stand alone already does (file-charge.ts, the
 * ledger, the store's rules).
 */
import type { Stats } from 'node:fs';
import type { Credit, Grant, Settlement, Space } from '../store/quota-store.js';

/** The refusal of a growth that would pass the quota. Its message is what clients see (SPEC §5). */
export class QuotaExceededError extends Error {
  readonly code = 'COFFER_QUOTA_EXCEEDED';
  constructor() {
    super('Quota exceeded');
  }
}

/** Growth refused because the store cannot be asked (SPEC §7: never `Quota exceeded` for that). */
export class QuotaUnavailableError extends Error {
  readonly code = 'COFFER_QUOTA_UNAVAILABLE';
  constructor() {
    super('Temporarily unavailable');
  }
}

/** A file with at least one handle open. */
export class TrackedFile {
  /** Handles open on this inode in this process (read-only ones too). */
  refs = 0;
  /** Writes started and not finished. */
  inflight = 0;
  /**
   * Removed or replaced while open: no longer in the home, but still on the disk until its last
   * handle closes, so it stays charged (growth included, and its entry) until then, and is
   * released at that close.
   */
  detached = false;
  /** When the size its removal read was read (Credit.at of the credit at its last close). */
  detachedAt = 0;
  /**
   * Already unlinked when opened. Alone, that was a deletion outside Coffer, never credited; with
   * other processes on the store, it may have been one of theirs, credited there.
   */
  foundUnlinked = false;
  /** A write or truncate failed: the charged size may not match the disk until reconciled. */
  suspect = false;
  /**
   * Counts writes and truncates started on the file. A size read from the disk is trusted only
   * if this did not move and nothing was under way while it was read (LocalFile.settledSize).
   */
  changes = 0;
  /** Truncates started and not finished (a subset of inflight). */
  truncating = 0;
  /**
   * A truncate overlapped another write or truncate of this inode: the disk may hold another size
   * than the charge (the kernel's order, not the charging order); settled once nothing runs on it.
   */
  racy = false;

  constructor(
    readonly key: string,
    /** The size this file is counted with. */
    public charged: number,
  ) {}
}

/** Key of an inode, for the tracked-file table and the store's inode rows. */
export const inodeKey = (dev: number, ino: number): string => `${dev}:${ino}`;

/** What a UserQuota asks of the ledger when its block runs out. */
export interface QuotaPort {
  /** Asks the store for at least `need`, up to `want`, of block. Rejects when the store is lost. */
  grant(need: Space, want: Space): Promise<Grant>;
  /** Marks the user's usage unsure in the store (a recount is due); never rejects. */
  markUnsure(): void;
}

/** Smallest and largest block asked for at once (bytes); the ask doubles while writes go on. */
const MIN_BLOCK = 1 << 20;
const MAX_BLOCK = 64 << 20;
/** Smallest and largest number of entries asked for at once; the ask doubles while files are made. */
const MIN_ENTRY_BLOCK = 64;
const MAX_ENTRY_BLOCK = 4096;
/** How long a refused grant is retried while other processes hold blocks they may give back (ms). */
const RETRY_MS = 2500;

const zero = (): Space => ({ bytes: 0, files: 0 });

/** See UserQuota.recountMark(). */
export interface RecountMark {
  spent: Space;
  forced: Space;
  credits: number;
}

/** A settlement being gathered. */
class Pending {
  grown = zero();
  /** Growth not taken from a block (reconciling with the disk; no limit of that kind). */
  forced = zero();
  returned = zero();
  credits: Credit[] = [];
  opened = new Set<string>();
  closed = new Set<string>();
  touched = new Set<string>();
  /** Charged size of each inode at its last close here (Settlement.sizes). */
  sizes = new Map<string, number>();

  get creditBytes(): number {
    let n = 0;
    for (const c of this.credits) n += c.bytes;
    return n;
  }
  get creditFiles(): number {
    let n = 0;
    for (const c of this.credits) n += c.files;
    return n;
  }
}

export class UserQuota {
  private readonly files = new Map<string, TrackedFile>();
  /** Figures as last settled with the store (or, without one, the usage itself). */
  private settledBytes: number;
  private settledFiles: number;
  /** Unspent block granted to this process. */
  readonly block = zero();
  /** Changes since the last settlement was taken, and the one on its way to the store. */
  private pending = new Pending();
  private sending: Pending | null = null;
  /** When growth was last reserved (ms), for giving an idle block back. */
  lastGrowthMs = 0;
  private nextBlock = MIN_BLOCK;
  /** Entries the next grant asks for (doubles per grant, back to the least with the block). */
  private nextEntryBlock = MIN_ENTRY_BLOCK;
  private refilling: Promise<void> | null = null;
  /** The store may not match the disk (a dead process, a file shared with another process). */
  unsure = false;

  constructor(
    readonly user: string,
    /** Quota in bytes; null = unlimited. */
    public limit: number | null,
    /** Bytes in use: files in the home, plus removed files still held open. */
    used: number,
    /** Entry limit (files, folders, links in the home); null = unlimited. */
    public maxFiles: number | null = null,
    /** Entries in the home, plus removed files still held open. */
    usedFiles = 0,
    /** The ledger's link to the store; null = this process alone decides (tests, the fuzzer). */
    private readonly port: QuotaPort | null = null,
  ) {
    this.settledBytes = used;
    this.settledFiles = usedFiles;
  }

  /** Bytes in use as this process sees them: settled, plus its changes not yet settled. */
  get used(): number {
    const s = this.sending;
    const p = this.pending;
    const grown = p.grown.bytes + p.forced.bytes + (s ? s.grown.bytes + s.forced.bytes : 0);
    return Math.max(0, this.settledBytes + grown - p.creditBytes - (s ? s.creditBytes : 0));
  }

  /** Entries in use as this process sees them. */
  get usedFiles(): number {
    const s = this.sending;
    const p = this.pending;
    const grown = p.grown.files + p.forced.files + (s ? s.grown.files + s.forced.files : 0);
    return Math.max(0, this.settledFiles + grown - p.creditFiles - (s ? s.creditFiles : 0));
  }

  /** Bytes left before the quota (null = unlimited; 0 when over). */
  get free(): number | null {
    return this.limit === null ? null : Math.max(0, this.limit - this.used);
  }

  /**
   * Counts `bytes` of growth: synchronously when the block (or, alone, the limit) allows it;
   * else a promise that asks the store for more and counts it, or rejects with QuotaExceededError
   * (nothing counted) or QuotaUnavailableError.
   */
  reserve(bytes: number): void | Promise<void> {
    if (bytes <= 0) return;
    if (this.take(bytes, 0)) return;
    return this.refill({ bytes, files: 0 }).then(() => this.reserve(bytes));
  }

  /** Counts one new entry (file, folder, link), as reserve() does bytes. */
  reserveEntry(): void | Promise<void> {
    if (this.take(0, 1)) return;
    return this.refill({ bytes: 0, files: 1 }).then(() => this.reserveEntry());
  }

  /**
   * Uncounts `bytes` freed from the file `inode` ("dev:ino"; null: not a file's), a size read at
   * `at` (Credit.at; default now).
   */
  release(bytes: number, inode: string | null = null, keeps = 0, at = Date.now()): void {
    if (bytes <= 0) return;
    this.credit(keeps > 0 ? { inode, bytes, files: 0, keeps, at } : { inode, bytes, files: 0, at });
  }

  /** Uncounts one entry that went away (seen at `at`). */
  releaseEntry(inode: string | null = null, at = Date.now()): void {
    this.credit({ inode, bytes: 0, files: 1, at });
  }

  /** Gives back an entry reserveEntry() counted whose creation then failed. */
  unreserveEntry(): void {
    if (!this.port) {
      this.settledFiles = Math.max(0, this.settledFiles - 1);
      return;
    }
    const p = this.pending;
    if (this.maxFiles !== null && p.grown.files > 0) {
      p.grown.files -= 1;
      this.block.files += 1;
    } else if (p.forced.files > 0) p.forced.files -= 1;
    else this.releaseEntry();
  }

  /** True when one more entry would pass the entry limit (as far as this process knows). */
  get entriesFull(): boolean {
    return this.maxFiles !== null && this.block.files === 0 && this.usedFiles >= this.maxFiles;
  }

  /** Corrects usage by `delta` without a quota check (reconciling with what the disk says). */
  adjust(delta: number, inode: string | null = null, keeps = 0): void {
    if (delta > 0) this.force(delta);
    else this.release(-delta, inode, keeps);
  }

  /**
   * Registers one more handle on an inode of `size` bytes (its fstat). OPENs hold the namespace
   * lock (shared) and removals take it exclusive, so an inode already unlinked (nlink 0) was
   * deleted outside Coffer and never credited: it starts detached with its size (and its entry)
   * charged, released at its last close. With other processes on the store the deletion may have
   * been theirs: then the last close marks the usage unsure instead (see close()).
   */
  open(dev: number, ino: number, size: number, unlinked = false): TrackedFile {
    const key = inodeKey(dev, ino);
    let file = this.files.get(key);
    if (!file) {
      this.files.set(key, (file = new TrackedFile(key, size)));
      file.detached = unlinked;
      file.foundUnlinked = unlinked;
      // Closed and opened again before the store heard of the close: still (or again) open there.
      this.pending.closed.delete(key);
      this.pending.touched.delete(key);
      this.pending.opened.add(key);
    }
    file.refs += 1;
    return file;
  }

  /**
   * Drops one handle. The last one out releases a detached file's charge, or reconciles the
   * charged size with `actualSize` (the fstat size; null when nothing can have diverged).
   */
  close(file: TrackedFile, actualSize: number | null): void {
    file.refs -= 1;
    if (file.refs > 0) return;
    this.files.delete(file.key);
    this.closes += 1;
    // Reported as closed (its store row kept a while), or as touched if never reported open.
    if (this.pending.opened.delete(file.key)) this.pending.touched.add(file.key);
    else this.pending.closed.add(file.key);
    this.pending.sizes.set(file.key, file.detached ? 0 : Math.max(file.charged, actualSize ?? 0));
    if (file.detached && file.foundUnlinked && this.port) {
      // Who credited its removal is unknown (another process's REMOVE may have, between our
      // open(2) and fstat, before the store knew we had it open: the fuzzer's two-process mode).
      // Keep it charged, over and never under, and have the usage recounted.
      this.unsure = true;
      this.port.markUnsure();
    } else if (file.detached) {
      // Growth elsewhere after the removal read this file is what the store must look for.
      this.credit({ inode: file.key, bytes: file.charged, files: 1, at: file.detachedAt || Date.now() });
    } else if (actualSize !== null) this.adjust(actualSize - file.charged, file.key, actualSize);
  }

  /** The tracked file of an inode, if a handle is open on it. */
  tracked(st: Pick<Stats, 'dev' | 'ino'>): TrackedFile | undefined {
    return this.files.get(inodeKey(st.dev, st.ino));
  }

  /**
   * Reserves the growth of making `file` `newSize` bytes (write end or truncate target) and
   * records the new size; with `shrink`, a smaller size releases. Synchronous while the block
   * covers the growth; else a promise (see reserve()), after which the size is recomputed, since
   * other writes may have moved it meanwhile.
   */
  resize(file: TrackedFile, newSize: number, shrink: boolean): void | Promise<void> {
    const delta = newSize - file.charged;
    if (delta > 0) {
      if (!this.take(delta, 0)) return this.refill({ bytes: delta, files: 0 }).then(() => this.resize(file, newSize, shrink));
    } else if (shrink && delta < 0) this.release(-delta, file.key, newSize);
    else return;
    file.charged = newSize;
  }

  /**
   * Reserves `bytes` more for `file` (an append: the write lands at the end, whatever the charged
   * size is by then) and records it. Synchronous while the block covers it, else a promise; the
   * growth is added to the charged size at the moment it is taken, so appends racing on one inode
   * each count their own length (an end computed before waiting would be stale).
   */
  grow(file: TrackedFile, bytes: number): void | Promise<void> {
    if (bytes <= 0) return;
    if (!this.take(bytes, 0)) return this.refill({ bytes, files: 0 }).then(() => this.grow(file, bytes));
    file.charged += bytes;
  }

  /** Last handles closed so far (see leaving()). */
  private closes = 0;

  /**
   * Runs `act`, which takes a name out of the home (unlink, or a rename over it), and credits the
   * entry that name held and, for a regular file, its bytes, once. Call under the user's namespace
   * lock, exclusive (vfs/user-locks.ts): removals and replacing renames then run one at a time, so no
   * two of them credit the same file, and no OPEN registers a handle between their read and act. `read` is
   * the name's lstat (null when it is gone: nothing is credited); `keep` says nothing must be
   * credited (a rename onto its own other name).
   *
   * OPENs take the namespace lock too, so no handle can be opened on the file meanwhile, but one
   * already open can still write and close: the lstat may then be older than the size its close
   * settled (found by the fuzzer). So a tracked file is held across `act` (its close cannot settle
   * it in between); once gone from the home it stays charged, bytes and entry, until its last
   * handle closes. A file read untracked after a close happened is read again, its size now
   * final. With other names left (nlink > 1) the inode stays in the home: only the entry goes.
   */
  async leaving(read: () => Promise<Stats | null>, act: () => Promise<void>, keep: (st: Stats) => boolean = () => false): Promise<void> {
    const closes = this.closes;
    let readAt = Date.now();
    let st = await read();
    const held = st?.isFile() ? this.tracked(st) : undefined;
    if (st?.isFile() && !held && this.closes !== closes) {
      readAt = Date.now();
      st = await read();
    }
    if (!st || keep(st)) return act();
    if (held) held.refs += 1;
    try {
      await act();
    } catch (err) {
      if (held) this.close(held, null);
      throw err;
    }
    const lastName = st.isFile() && st.nlink <= 1;
    const key = inodeKey(st.dev, st.ino);
    if (held && lastName) {
      held.detached = true; // bytes and entry go at its last close
      held.detachedAt = readAt;
    } else this.releaseEntry(st.isFile() ? key : null, readAt);
    if (held) this.close(held, null);
    else if (lastName) this.release(st.size, key, 0, readAt);
  }

  /** Sum of the charged sizes of every open file (detached ones included). */
  get chargedOpen(): number {
    let sum = 0;
    for (const f of this.files.values()) sum += f.charged;
    return sum;
  }

  /** Open files no longer in the home: each still counts as an entry until its last close. */
  get detachedOpen(): number {
    let n = 0;
    for (const f of this.files.values()) if (f.detached) n += 1;
    return n;
  }

  /** True when a handle is open on the inode (a recount takes its charged size). */
  isTracked(dev: number, ino: number): boolean {
    return this.files.has(inodeKey(dev, ino));
  }

  /** Number of files with handles open (for tests and diagnostics). */
  get openFiles(): number {
    return this.files.size;
  }

  // ------------------------------------------------------------------ the ledger's side

  /** True when nothing waits to be settled. */
  get settledUp(): boolean {
    const p = this.pending;
    return (
      this.sending === null &&
      p.grown.bytes === 0 &&
      p.grown.files === 0 &&
      p.forced.bytes === 0 &&
      p.forced.files === 0 &&
      p.returned.bytes === 0 &&
      p.returned.files === 0 &&
      p.credits.length === 0 &&
      p.opened.size === 0 &&
      p.closed.size === 0 &&
      p.touched.size === 0
    );
  }

  /**
   * The changes to send to the store (null when there are none, or a settlement is on its way).
   * With `giveBack`, the unspent block goes too. Pair with settled() or unsent().
   */
  takeSettlement(giveBack: boolean): Settlement | null {
    if (this.sending) return null;
    if (giveBack && (this.block.bytes > 0 || this.block.files > 0)) this.dropBlock();
    if (this.settledUp) return null;
    const p = (this.sending = this.pending);
    this.pending = new Pending();
    const sizes: Record<string, number> = {};
    // A detached file leaves the disk at its last close: nothing of it to charge again.
    for (const k of p.opened) sizes[k] = this.files.get(k)?.detached ? 0 : (this.files.get(k)?.charged ?? 0);
    for (const k of p.touched) sizes[k] = p.sizes.get(k) ?? 0;
    return {
      grown: p.grown,
      forced: p.forced,
      returned: p.returned,
      credits: p.credits,
      opened: [...p.opened],
      closed: [...p.closed],
      touched: [...p.touched],
      sizes,
    };
  }

  /** The settlement on its way landed: the store's figures replace this process's settled ones. */
  settled(view: { usedBytes: number; usedFiles: number; quotaBytes: number | null; maxFiles: number | null; unsure: boolean }): void {
    this.sending = null;
    this.adopt(view);
  }

  /** The settlement on its way failed: its changes go back in front of the ones since. */
  unsent(): void {
    const s = this.sending;
    if (!s) return;
    this.sending = null;
    const p = this.pending;
    s.grown.bytes += p.grown.bytes;
    s.grown.files += p.grown.files;
    s.forced.bytes += p.forced.bytes;
    s.forced.files += p.forced.files;
    s.returned.bytes += p.returned.bytes;
    s.returned.files += p.returned.files;
    s.credits.push(...p.credits);
    for (const k of p.opened) {
      s.closed.delete(k);
      s.touched.delete(k);
      s.opened.add(k);
    }
    for (const k of p.closed) {
      if (s.opened.delete(k)) s.touched.add(k);
      else s.closed.add(k);
    }
    for (const k of p.touched) s.touched.add(k);
    for (const [k, v] of p.sizes) s.sizes.set(k, v);
    this.pending = s;
  }

  /** Takes the store's figures (after a settle). */
  private adopt(view: { usedBytes: number; usedFiles: number; quotaBytes: number | null; maxFiles: number | null; unsure: boolean }): void {
    this.settledBytes = view.usedBytes;
    this.settledFiles = view.usedFiles;
    this.limit = view.quotaBytes;
    this.maxFiles = view.maxFiles;
    this.unsure = view.unsure;
  }

  /**
   * What was gathered since the last settlement, as a recount's scan ends: its growth and credits
   * are in the count (the growth, spent from the block, must still leave it). Pass it to
   * recounted() once the count is applied.
   */
  recountMark(): RecountMark {
    const p = this.pending;
    return { spent: { ...p.grown }, forced: { ...p.forced }, credits: p.credits.length };
  }

  /**
   * A recount of the disk replaced the store's figures: what `mark` covered is dropped from the
   * changes to settle (what came after it stays); the inode reports stay to be sent.
   */
  recounted(counted: Space, mark: RecountMark): void {
    const p = this.pending;
    p.grown.bytes -= mark.spent.bytes;
    p.grown.files -= mark.spent.files;
    p.forced.bytes -= mark.forced.bytes;
    p.forced.files -= mark.forced.files;
    p.credits.splice(0, mark.credits);
    this.settledBytes = counted.bytes;
    this.settledFiles = counted.files;
    this.unsure = false;
  }

  /** Forgets the block (the ledger gives it back): a lowered limit applies to the next growth. */
  dropBlock(): void {
    this.pending.returned.bytes += this.block.bytes;
    this.pending.returned.files += this.block.files;
    this.block.bytes = 0;
    this.block.files = 0;
    this.nextBlock = MIN_BLOCK;
    this.nextEntryBlock = MIN_ENTRY_BLOCK;
  }

  // ------------------------------------------------------------------ internals

  /** Takes growth synchronously, from the block or (alone, or unlimited) against the limit. */
  private take(bytes: number, files: number): boolean {
    this.lastGrowthMs = Date.now();
    if (!this.port) {
      if (bytes > 0 && this.limit !== null && this.used + bytes > this.limit) throw new QuotaExceededError();
      if (files > 0 && this.maxFiles !== null && this.usedFiles + files > this.maxFiles) throw new QuotaExceededError();
      this.settledBytes += bytes;
      this.settledFiles += files;
      return true;
    }
    // A kind without a limit needs no block: its growth is only counted.
    const fromBlockBytes = this.limit !== null;
    const fromBlockFiles = this.maxFiles !== null;
    if ((bytes > 0 && fromBlockBytes && this.block.bytes < bytes) || (files > 0 && fromBlockFiles && this.block.files < files)) return false;
    const p = this.pending;
    if (fromBlockBytes) {
      this.block.bytes -= bytes;
      p.grown.bytes += bytes;
    } else p.forced.bytes += bytes;
    if (fromBlockFiles) {
      this.block.files -= files;
      p.grown.files += files;
    } else p.forced.files += files;
    return true;
  }

  /** Growth outside the block (reconciliation): counted, never refused. */
  private force(bytes: number): void {
    if (!this.port) this.settledBytes += bytes;
    else this.pending.forced.bytes += bytes;
  }

  private credit(c: Credit): void {
    if (!this.port) {
      this.settledBytes = Math.max(0, this.settledBytes - c.bytes);
      this.settledFiles = Math.max(0, this.settledFiles - c.files);
      return;
    }
    this.pending.credits.push(c);
  }

  /**
   * Asks the store for block enough for `need` (one request at a time per user: others wait for
   * it and try again). A refusal while other processes hold blocks is retried for a while, since
   * idle ones come back within 2 s.
   */
  private refill(need: Space): Promise<void> {
    if (this.refilling) return this.refilling;
    const run = async () => {
      const deadline = Date.now() + RETRY_MS;
      for (;;) {
        const want = {
          bytes: need.bytes > 0 ? Math.max(need.bytes, this.nextBlock) : 0,
          files: need.files > 0 ? Math.max(need.files, this.nextEntryBlock) : 0,
        };
        let grant: Grant;
        try {
          grant = await this.port!.grant(need, want);
        } catch {
          throw new QuotaUnavailableError();
        }
        this.limit = grant.view.quotaBytes;
        this.maxFiles = grant.view.maxFiles;
        if (grant.granted) {
          this.block.bytes += grant.granted.bytes;
          this.block.files += grant.granted.files;
          if (need.bytes > 0) this.nextBlock = Math.min(MAX_BLOCK, this.nextBlock * 2);
          if (need.files > 0) this.nextEntryBlock = Math.min(MAX_ENTRY_BLOCK, this.nextEntryBlock * 2);
          return;
        }
        if (!grant.othersHold || Date.now() >= deadline) throw new QuotaExceededError();
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    const p = run().finally(() => {
      if (this.refilling === p) this.refilling = null;
    });
    this.refilling = p;
    return p;
  }
}
