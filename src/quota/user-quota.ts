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
  /** Removed or replaced: no longer in the home, so no longer charged or credited. */
  detached = false;

  constructor(
    readonly key: string,
    /** The size this file is counted with. */
    public charged: number,
  ) {}
}

/** Key of an inode, for the tracked-file table. */
export const inodeKey = (st: Pick<Stats, 'dev' | 'ino'>): string => `${st.dev}:${st.ino}`;

export class UserQuota {
  private readonly files = new Map<string, TrackedFile>();
  /** Set whenever `used` changes; the ledger persists and clears it. */
  dirty = false;
  /** Growth reserved for writes that have not finished yet (kept across a rescan). */
  pending = 0;

  constructor(
    readonly user: string,
    /** Quota in bytes; null = unlimited. */
    public limit: number | null,
    /** Bytes in use (including growth reserved for writes under way). */
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

  /** Registers one more writable handle on the file `st` describes (fstat of the open fd). */
  open(st: Stats): TrackedFile {
    const key = inodeKey(st);
    let file = this.files.get(key);
    if (!file) this.files.set(key, (file = new TrackedFile(key, st.size)));
    file.refs += 1;
    return file;
  }

  /** Drops one handle; the last one out reconciles the charged size with `actualSize`. */
  close(file: TrackedFile, actualSize: number | null): void {
    file.refs -= 1;
    if (file.refs > 0) return;
    this.files.delete(file.key);
    if (!file.detached && actualSize !== null) this.adjust(actualSize - file.charged);
  }

  /** The tracked file of an inode, if a writable handle is open on it. */
  tracked(st: Pick<Stats, 'dev' | 'ino'>): TrackedFile | undefined {
    return this.files.get(inodeKey(st));
  }

  /** The size `st`'s file is counted with: its tracked size if open for writing, else its size. */
  chargedSize(st: Stats): number {
    return this.tracked(st)?.charged ?? st.size;
  }

  /**
   * Reserves the growth of making `file` `newSize` bytes (write end or truncate target) and
   * records the new size; shrinking releases. Throws QuotaExceededError on too much growth.
   */
  resize(file: TrackedFile, newSize: number, shrink: boolean): void {
    if (file.detached) return;
    const delta = newSize - file.charged;
    if (delta > 0) this.reserve(delta);
    else if (shrink && delta < 0) this.release(-delta);
    else return;
    file.charged = newSize;
  }

  /** A regular file left the home (removed, or replaced by a rename): credit its size. */
  removed(st: Stats): void {
    const file = this.tracked(st);
    if (file) {
      if (!file.detached) this.release(file.charged);
      file.detached = true;
    } else this.release(st.size);
  }

  /** Number of files with writable handles open (for tests and diagnostics). */
  get openFiles(): number {
    return this.files.size;
  }
}
