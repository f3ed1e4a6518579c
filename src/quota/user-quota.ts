/**
 * One user's disk accounting in the server process, shared by all of that user's sessions.
 * Usage is the sum of the sizes of the regular files in the home. Every growth is reserved before
 * it happens and refused when it would pass the quota; reserve() checks and adds synchronously,
 * so no two sessions can both pass the check for the same bytes (Node runs one at a time).
 *
 * Files open for writing are tracked per inode: `charged` is the size the ledger counts for that
 * file, updated as growth is reserved. Several handles on one file (in any session) share it, so
 * overlapping writes beyond the end are charged once, exactly.
 */
import type { Stats } from 'node:fs';

/** The refusal of a growth that would pass the quota. Its message is what clients see (SPEC §5). */
export class QuotaExceededError extends Error {
  readonly code = 'COFFER_QUOTA_EXCEEDED';
  constructor() {
    super('Quota exceeded');
  }
}

/** A file with at least one writable handle open. */
export class TrackedFile {
  /** Writable handles open on this inode in this process. */
  refs = 0;
  /** Writes started and not finished. */
  inflight = 0;
  /**
   * Removed or replaced while open: no longer in the home, but still on the disk until its last
   * handle closes, so it stays charged (growth included) until then, and is released at that close.
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
  /** Set whenever `used` changes; the ledger persists and clears it. */
  dirty = false;

  constructor(
    readonly user: string,
    /** Quota in bytes; null = unlimited. */
    public limit: number | null,
    /** Bytes in use: files in the home, plus removed files still held open for writing. */
    public used: number,
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

  /** Corrects usage by `delta` without a quota check (reconciling with what the disk says). */
  adjust(delta: number): void {
    if (delta > 0) this.used += delta;
    else this.release(-delta);
    this.dirty = delta !== 0 || this.dirty;
  }

  /**
   * Registers one more writable handle on an inode of `size` bytes (its fstat). Writable OPENs
   * run under serial() with removals, so an inode already unlinked (nlink 0) was deleted outside
   * Coffer and never credited: it starts detached with its size charged, released at its last close.
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

  private tail: Promise<unknown> = Promise.resolve();

  /**
   * Runs `op` after every earlier serial operation of this user has settled. Removals and
   * replacing renames read a size before their unlink or rename; run one at a time, no two of
   * them can credit the same file.
   */
  serial<T>(op: () => Promise<T>): Promise<T> {
    const result = this.tail.then(op);
    this.tail = result.catch(() => undefined);
    return result;
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
    if (file.detached) this.release(file.charged);
    else if (actualSize !== null) this.adjust(actualSize - file.charged);
  }

  /** The tracked file of an inode, if a writable handle is open on it. */
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
   * regular file that name held, once. Call under serial(). `read` is the name's lstat (null when
   * it is gone); `keep` says a file must not be credited (a rename onto its own other name).
   *
   * Writable OPENs run under serial() too, so no writer can start on the file meanwhile, but one
   * already open can still write and close: the lstat may then be older than the size its close
   * settled (found by the fuzzer). So a tracked file is held across `act` (its close cannot settle
   * it in between; it is released at its last close, with its growth), and a file read untracked
   * after a close happened is read again, its size now final. With other names left (nlink > 1)
   * the inode stays in the home and nothing is credited.
   */
  async leaving(read: () => Promise<Stats | null>, act: () => Promise<void>, keep: (st: Stats) => boolean = () => false): Promise<void> {
    const closes = this.closes;
    let st = await read();
    let held = st?.isFile() ? this.tracked(st) : undefined;
    if (st?.isFile() && !held && this.closes !== closes) st = await read();
    if (!st?.isFile() || keep(st)) return act();
    if (held) held.refs += 1;
    try {
      await act();
    } catch (err) {
      if (held) this.close(held, null);
      throw err;
    }
    if (held) {
      if (st.nlink <= 1) held.detached = true;
      this.close(held, null);
    } else if (st.nlink <= 1) this.release(st.size);
  }

  /** Sum of the charged sizes of every file open for writing (detached ones included). */
  get chargedOpen(): number {
    let sum = 0;
    for (const f of this.files.values()) sum += f.charged;
    return sum;
  }

  /** True when a writable handle is open on the inode (a recount takes its charged size). */
  isTracked(dev: number, ino: number): boolean {
    return this.files.has(inodeKey(dev, ino));
  }

  /** Number of files with writable handles open (for tests and diagnostics). */
  get openFiles(): number {
    return this.files.size;
  }
}
