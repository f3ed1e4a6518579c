/**
 * The per-session virtual filesystem the SFTP dispatcher, scp and the checksum commands work on.
 * Paths are virtual and already normalised ("/a/b"); the home is "/".
 */
import type { Stats, StatsFs } from 'node:fs';

/** SFTP v3 open flags, decoded (SSH_FXF_*). */
export interface OpenFlags {
  read: boolean;
  write: boolean;
  append: boolean;
  creat: boolean;
  trunc: boolean;
  excl: boolean;
}

/** Attributes a client may set; absent fields are left alone. Times in Unix seconds. */
export interface SetAttrs {
  size?: number;
  uid?: number;
  gid?: number;
  permissions?: number;
  atime?: number;
  mtime?: number;
}

/** One entry of a folder listing: its name and lstat. */
export interface DirEntry {
  name: string;
  stats: Stats;
}

/** What statvfs reports (the quota once issue 5 lands, else the real filesystem). */
export type SpaceInfo = Pick<StatsFs, 'bsize' | 'blocks' | 'bfree' | 'bavail' | 'files' | 'ffree'>;

/** Whose hash work this is and when to give it up (hash-pool.ts shares its workers by owner). */
export interface HashOptions {
  /** The user the digests are for; workers are shared fairly between owners. */
  owner?: string;
  /** Aborted when nobody is left to read the digests (the session ended): the work is dropped. */
  signal?: AbortSignal;
}

/** An open regular file. All operations use the descriptor, never a path (jail rule 4). */
export interface VfsFile {
  /** Up to `length` bytes at `offset`; null at end of file. */
  read(offset: number, length: number): Promise<Buffer | null>;
  /** Reads up to `length` bytes at `offset` into `buf` at `bufOffset`; resolves the count (0 = EOF). */
  readInto(buf: Buffer, bufOffset: number, length: number, offset: number): Promise<number>;
  /** Writes all of `data` at `offset` (at the end of the file for an append handle). */
  write(offset: number, data: Buffer): Promise<void>;
  /**
   * Reserves quota for `length` bytes to be written at `offset` by a series of writes (copy-data),
   * so a copy that cannot fit is refused before anything is written. Throws (or rejects with)
   * QuotaExceededError. Whatever the writes leave unused is given back when the file is closed.
   */
  reserveWrite(offset: number, length: number): void | Promise<void>;
  stat(): Promise<Stats>;
  setStat(attrs: SetAttrs): Promise<void>;
  sync(): Promise<void>;
  close(): Promise<void>;
  /**
   * Optional: digests of [start, start + total), one per `block` bytes, concatenated, computed off the event
   * loop; null when that is not possible now (checksum.ts then decides). Rejects once
   * `opts.signal` aborts, never while a thread may still read the file.
   */
  hashRange?(algorithm: string, start: number, total: number, block: number, opts?: HashOptions): Promise<Buffer> | null;
}

/** An open folder listing. */
export interface VfsDir {
  /** Up to `max` entries, or null when the listing is done. */
  next(max: number): Promise<DirEntry[] | null>;
  /**
   * Up to `max` names, or null when the listing is done: no lstat, for matching a pattern against
   * a large folder without filling the thread pool. A listing uses next() or names(), not both.
   */
  names(max: number): Promise<string[] | null>;
  close(): Promise<void>;
}

/** What a session may do on disk, confined to its home. */
export interface Vfs {
  stat(path: string): Promise<Stats>;
  lstat(path: string): Promise<Stats>;
  open(path: string, flags: OpenFlags, attrs?: SetAttrs): Promise<VfsFile>;
  openDir(path: string): Promise<VfsDir>;
  mkdir(path: string, attrs?: SetAttrs): Promise<void>;
  rmdir(path: string): Promise<void>;
  remove(path: string): Promise<void>;
  /** Renames; an existing target is an EXISTS error unless `overwrite` (posix-rename). */
  rename(from: string, to: string, overwrite: boolean): Promise<void>;
  setStat(path: string, attrs: SetAttrs): Promise<void>;
  /** The link's text: as stored when relative, as a virtual path when absolute; NOT_FOUND when it leads outside the home. */
  readlink(path: string): Promise<string>;
  /** Creates `link` pointing at `target` (both virtual); DENIED unless symlinks are enabled. */
  symlink(target: string, link: string): Promise<void>;
  statvfs(path: string): Promise<SpaceInfo>;
}
