/**
 * One user's disk accounting in the server process, shared by all of that user's sessions.
 * Usage is the sum of the sizes of the regular files in the home, and the number of its entries
 * (files, folders, links). Every growth and every new entry is reserved before it happens and
 * refused when it would pass the limit; the reservation checks and adds synchronously, so no two
 * sessions can both pass the check for the same bytes or entry (Node runs one at a time).
 *
 * Open files are tracked per inode, read-only ones too: `charged` is the size the ledger counts
 * for that file, updated as growth is reserved. Several handles on one file (in any session)
 * share it, so overlapping writes beyond the end are charged once, exactly; and a file removed or
 * replaced while any handle keeps it on disk stays charged until its last handle closes (SPEC §5).
 */
import type { Stats } from 'node:fs';
import { RwLock } from '../util/rw-lock.js';

/** The refusal of a growth that would pass the quota. Its message is what clients see (SPEC §5). */
export class QuotaExceededError extends Error {
  readonly code = 'COFFER_QUOTA_EXCEEDED';
  constructor() {
    super('Quota exceeded');
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

/** Key of an inode, for the tracked-file table. */
export const inodeKey = (dev: number, ino: number): string => `${dev}:${ino}`;

export class UserQuota {
  private readonly files = new Map<string, TrackedFile>();
  /** Set whenever `used` or `usedFiles` changes; the ledger persists and clears it. */
  dirty = false;
  /**
   * The user's namespace lock, shared by all their sessions: operations that change names in the
   * home (or may create a file) run exclusive, opens of existing files shared (see LocalVfs).
   */
  readonly lock = new RwLock();

  constructor(
    readonly user: string,
    /** Quota in bytes; null = unlimited. */
    public limit: number | null,
    /** Bytes in use: files in the home, plus removed files still held open. */
    public used: number,
    /** Entry limit (files, folders, links in the home); null = unlimited. */
    public maxFiles: number | null = null,
    /** Entries in the home, plus removed files still held open. */
    public usedFiles = 0,
  ) {}

  /** Bytes left before the quota (null = unlimited; 0 when over). */
  get free(): number | null {
    return this.limit === null ? null : Math.max(0, this.limit - this.used);
  }

  /** Counts `bytes` of growth, or throws QuotaExceededError and counts nothing. */
  reserve(bytes: number): void {
    if (bytes <= 0) return;
    if (this.limit !== null && this.used + bytes > this.limit) throw new QuotaExceededError();
    this.used += bytes;
    this.dirty = true;
  }

  /** Uncounts `bytes` (a file shrank or went away). */
  release(bytes: number): void {
    if (bytes <= 0) return;
    this.used = Math.max(0, this.used - bytes);
    this.dirty = true;
  }

  /** Counts one new entry (file, folder, link), or throws QuotaExceededError and counts nothing. */
  reserveEntry(): void {
    if (this.maxFiles !== null && this.usedFiles + 1 > this.maxFiles) throw new QuotaExceededError();
    this.usedFiles += 1;
    this.dirty = true;
  }

  /** Uncounts one entry (it went away, or its creation failed). */
  releaseEntry(): void {
    this.usedFiles = Math.max(0, this.usedFiles - 1);
    this.dirty = true;
  }

  /** True when one more entry would pass the entry limit. */
  get entriesFull(): boolean {
    return this.maxFiles !== null && this.usedFiles >= this.maxFiles;
  }

  /** Corrects usage by `delta` without a quota check (reconciling with what the disk says). */
  adjust(delta: number): void {
    if (delta > 0) this.used += delta;
    else this.release(-delta);
    this.dirty = delta !== 0 || this.dirty;
  }

  /**
   * Registers one more handle on an inode of `size` bytes (its fstat). OPENs hold the namespace
   * lock (shared) and removals take it exclusive, so an inode already unlinked (nlink 0) was
   * deleted outside Coffer and never credited: it starts detached with its size (and its entry)
   * charged, released at its last close.
   */
  open(dev: number, ino: number, size: number, unlinked = false): TrackedFile {
    const key = inodeKey(dev, ino);
    let file = this.files.get(key);
    if (!file) {
      this.files.set(key, (file = new TrackedFile(key, size)));
      file.detached = unlinked;
    }
    file.refs += 1;
    return file;
  }

  /**
   * Runs `op` alone among this user's namespace operations (exclusive lock). Removals and
   * replacing renames read a size before their unlink or rename; run one at a time, no two of
   * them can credit the same file, and no OPEN registers a handle between their read and act.
   */
  serial<T>(op: () => Promise<T>): Promise<T> {
    return this.lock.exclusive(op);
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
    if (file.detached) {
      this.release(file.charged);
      this.releaseEntry();
    } else if (actualSize !== null) this.adjust(actualSize - file.charged);
  }

  /** The tracked file of an inode, if a handle is open on it. */
  tracked(st: Pick<Stats, 'dev' | 'ino'>): TrackedFile | undefined {
    return this.files.get(inodeKey(st.dev, st.ino));
  }

  /**
   * Reserves the growth of making `file` `newSize` bytes (write end or truncate target) and
   * records the new size; with `shrink`, a smaller size releases. Throws QuotaExceededError.
   */
  resize(file: TrackedFile, newSize: number, shrink: boolean): void {
    const delta = newSize - file.charged;
    if (delta > 0) this.reserve(delta);
    else if (shrink && delta < 0) this.release(-delta);
    else return;
    file.charged = newSize;
  }

  /** Last handles closed so far (see leaving()). */
  private closes = 0;

  /**
   * Runs `act`, which takes a name out of the home (unlink, or a rename over it), and credits the
   * entry that name held and, for a regular file, its bytes, once. Call under serial(). `read` is
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
    let st = await read();
    const held = st?.isFile() ? this.tracked(st) : undefined;
    if (st?.isFile() && !held && this.closes !== closes) st = await read();
    if (!st || keep(st)) return act();
    if (held) held.refs += 1;
    try {
      await act();
    } catch (err) {
      if (held) this.close(held, null);
      throw err;
    }
    const lastName = st.isFile() && st.nlink <= 1;
    if (held && lastName) held.detached = true; // bytes and entry go at its last close
    else this.releaseEntry();
    if (held) this.close(held, null);
    else if (lastName) this.release(st.size);
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
}
