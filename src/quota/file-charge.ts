/**
 * The quota's side of one open handle: every rule of charging a file's writes and truncates lives
 * here, so vfs/ only does the I/O. LocalFile hands each write or truncate over as a function to
 * run once it is charged, and gives a way to read the file's size (fstat) for reconciling.
 *
 * Growth is reserved before each write; writes only extend, so their charges commute. A truncate
 * does not: one racing another write or truncate of the inode (any handle) may reach the disk in
 * another order than it was charged (the fuzzer: TRUNC to 0 and FSETSTAT to 65536 charged in that
 * order, done in the other, left 65536 charged on an empty file). Such a file is settled with the
 * disk once nothing runs on it; so is one whose write or truncate failed (ENOSPC is not a quota
 * event: the ledger never drifts from the disk).
 */
import { QuotaExceededError, type TrackedFile, type UserQuota } from './user-quota.js';

/** Reads the file's size on disk through the handle (fstat), or null when it cannot. */
export type SizeReader = () => Promise<number | null>;

/**
 * Registers a handle just opened on a regular file (`st`, its fstat) with the user's quota: the
 * one call vfs/ makes at OPEN. An inode already unlinked (nlink 0) was deleted outside Coffer and
 * never credited: it starts detached (see UserQuota.open).
 */
export function chargeHandle(
  quota: UserQuota,
  st: { dev: number; ino: number; size: number; nlink: number },
  writable: boolean,
  size: SizeReader,
): FileCharge {
  return new FileCharge(quota, quota.open(st.dev, st.ino, st.size, st.nlink === 0), writable, size);
}

export class FileCharge {
  constructor(
    private readonly quota: UserQuota,
    /** The inode's tracked entry, shared by every handle on it in this process. */
    readonly file: TrackedFile,
    /** Opened for writing: its writes and truncates are charged (a read-only fd refuses them). */
    readonly writable: boolean,
    private readonly size: SizeReader,
  ) {}

  /**
   * Charges a write of `length` bytes at `offset` (at the end of the file for an append handle:
   * its growth is the whole write) and runs it. The reservation is synchronous while this
   * process's block covers it (the usual case), else it waits for the store.
   */
  async write(offset: number, length: number, append: boolean, op: () => Promise<void>): Promise<void> {
    const reserving = append ? this.quota.grow(this.file, length) : this.quota.resize(this.file, offset + length, false);
    if (reserving) await reserving;
    await this.change(false, op);
  }

  /** Charges growth to `size` (or credits shrinking) and runs the truncate. */
  async truncate(size: number, op: () => Promise<void>): Promise<void> {
    await this.quota.resize(this.file, size, true);
    await this.change(true, op);
  }

  /**
   * Reserves `length` bytes at `offset` for a series of writes (copy-data), so a copy that cannot
   * fit is refused before anything is written; what they leave unused is settled at the close.
   * An append handle only checks the room: each of its writes is charged its own length.
   */
  async reserve(offset: number, length: number, append: boolean): Promise<void> {
    if (length <= 0) return;
    const { quota, file } = this;
    if (append) {
      if (quota.limit !== null && quota.used + length > quota.limit) throw new QuotaExceededError();
      return;
    }
    await quota.resize(file, offset + length, false);
    file.changes += 1;
    file.suspect = true; // if the copy falls short, close() reconciles the charge with the disk
  }

  /**
   * Drops this handle. In this process only a failed write or truncate (or a short copy) can
   * leave the charged size off the disk's; another process can too: a truncate there makes this
   * process's idea of the size stale, so its later writes below that idea are charged nothing
   * while the bytes land on a shorter file (the two-process fuzzer, seed 843357831). So the last
   * handle of a file changed here reads the size (one fstat) and settles the difference: a
   * credit the store refuses (the other process credited the inode) charges the size kept. The
   * size counts only if this is still the last handle after the read.
   */
  async close(): Promise<void> {
    const f = this.file;
    const actual = f.refs === 1 && (f.suspect || f.racy || f.changes > 0) && !f.detached ? await this.settledSize(0) : null;
    this.quota.close(f, f.refs === 1 ? actual : null);
  }

  /** Drops this handle without reading anything (its OPEN failed after registering it). */
  abandon(): void {
    this.quota.close(this.file, null);
  }

  private async change(truncate: boolean, op: () => Promise<void>): Promise<void> {
    const f = this.file;
    if (truncate ? f.inflight > 0 : f.truncating > 0) f.racy = true;
    f.changes += 1;
    f.inflight += 1;
    if (truncate) f.truncating += 1;
    try {
      await op();
    } catch (err) {
      f.suspect = true;
      await this.reconcileIfIdle(1);
      throw err;
    } finally {
      f.inflight -= 1;
      if (truncate) f.truncating -= 1;
    }
    if (f.racy && f.inflight === 0) await this.reconcileIfIdle(0);
  }

  /** After a failure: when no other write is under way, charge what the disk really holds. */
  private async reconcileIfIdle(selfInflight: number): Promise<void> {
    const f = this.file;
    if (f.detached) return;
    const actual = await this.settledSize(selfInflight);
    if (actual === null || f.detached) return;
    this.quota.adjust(actual - f.charged, f.key, actual);
    f.charged = actual;
    f.suspect = false;
    f.racy = false;
    f.changes += 1;
  }

  /**
   * The file's size on disk, or null. Read only while no write or truncate other than the
   * caller's own `selfInflight` is under way, and kept only if none started during the read: a
   * write through another handle that began and ended while fstat ran would make it stale, and
   * charging a stale size lost that write's growth (found by the fuzzer, seed 1657852372).
   */
  private async settledSize(selfInflight: number): Promise<number | null> {
    const f = this.file;
    for (let tries = 0; tries < 3; tries++) {
      if (f.inflight > selfInflight) return null;
      const changes = f.changes;
      const size = await this.size();
      if (size === null) return null;
      if (f.changes === changes && f.inflight <= selfInflight) return size;
    }
    return null;
  }
}
