/**
 * The file-system calls of LocalVfs and its Jail, in two flavours with one promise interface:
 *
 * - `async`: every call on libuv's thread pool (node:fs's callback API), as node:fs/promises does.
 *   Needed where a metadata call can take long: network and cluster filesystems (NFS, CIFS, Ceph,
 *   FUSE ...), whose server may answer in milliseconds or stall; on the event loop that would stall
 *   every session of the process.
 * - `sync`: cheap metadata calls (lstat, realpath, open, fstat, close, mkdir, rmdir, rename, link,
 *   unlink of small files, chmod, utimes, readlink) run on the event loop. On a local filesystem
 *   they take microseconds (the dentry and inode caches), less than one thread-pool round trip
 *   (two thread switches, a futex wake and an event-loop turn), which dominated Coffer's per-file
 *   cost (issue 20). Reads of files over SYNC_READ_MAX_FILE, writes over SYNC_WRITE_MAX,
 *   ftruncate, fsync, and unlinking a big file (freeing its extents can take long) stay on the
 *   thread pool in both flavours; small writes run on the event loop only while the kernel cannot
 *   throttle them (dirty-pages.ts).
 *
 * `metadataIo: auto` (the default) picks `sync` when the home lies on a filesystem of LOCAL_FS_TYPES
 * (statfs f_type), `async` for anything else; `sync` and `async` force the flavour.
 */
import {
  chmod, chmodSync, close, closeSync, fchmod, fchmodSync, fstat, fstatSync, fsync, ftruncate, futimes, link, linkSync, lstat, lstatSync, mkdir,
  mkdirSync, open, openSync, read, readSync, readlink, readlinkSync, realpath, realpathSync, rename, renameSync, rmdir, rmdirSync,
  statfs, unlink, unlinkSync, utimes, utimesSync, write, writeSync, type Stats,
} from 'node:fs';
import { writeOnLoop } from './dirty-pages.js';

/** How metadata calls run (the `metadataIo` setting). */
export type MetadataIo = 'auto' | 'sync' | 'async';

/**
 * statfs f_type of local filesystems, where a metadata call never waits on a network: ext2/3/4,
 * XFS, Btrfs, tmpfs, ramfs, overlayfs (containers; its layers are local), ZFS, F2FS, bcachefs,
 * JFS, ReiserFS. NFS (0x6969), CIFS/SMB, FUSE, Ceph, GlusterFS (FUSE), Lustre and every type
 * not listed here get the thread pool.
 */
export const LOCAL_FS_TYPES: ReadonlySet<number> = new Set([
  0xef53, // ext2, ext3, ext4
  0x58465342, // XFS
  0x9123683e, // Btrfs
  0x01021994, // tmpfs
  0x858458f6, // ramfs
  0x794c7630, // overlayfs
  0x2fc12fc1, // ZFS
  0xf2f52010, // F2FS
  0xca451a4e, // bcachefs
  0x3153464a, // JFS
  0x52654973, // ReiserFS
]);

/**
 * Writes of at most this many bytes run on the event loop in the sync flavour while the dirty
 * pages allow it (dirty-pages.ts): a small file's whole upload, or the tail of a bigger one. A
 * bulk upload's requests (32 KiB and more from every common client) stay on the thread pool.
 */
export const SYNC_WRITE_MAX = 16 * 1024;

/**
 * Reads of a file of at most this many bytes (its size when opened or last seen) run on the event
 * loop in the sync flavour. From the page cache that is a copy of microseconds, against a
 * thread-pool round trip per READ; a small file not in memory costs one disk read of at most this
 * much, as a cold open(2) of it costs one of its inode. A bigger file's reads stay on the thread
 * pool, so a bulk download of cold data never holds the event loop.
 */
export const SYNC_READ_MAX_FILE = 64 * 1024;

/** Files at most this large are unlinked on the event loop in the sync flavour. */
export const SYNC_UNLINK_MAX_SIZE = 64 * 1024 * 1024;

/** An open descriptor: the part of node's FileHandle that LocalFile and LocalDir use. */
export interface FileLike {
  readonly fd: number;
  read(buf: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  write(data: Buffer, offset: number, length: number, position: number | null): Promise<{ bytesWritten: number }>;
  stat(): Promise<Stats>;
  truncate(length: number): Promise<void>;
  chmod(mode: number): Promise<void>;
  utimes(atime: number, mtime: number): Promise<void>;
  sync(): Promise<void>;
  /** Closes the descriptor; later calls resolve at once (as FileHandle.close). */
  close(): Promise<void>;
}

/** The calls LocalVfs and the Jail make; paths are host paths. */
export interface MetaIo {
  readonly sync: boolean;
  /**
   * The entry's lstat, or null when there is none (ENOENT, or ENOTDIR: a component is a file).
   * Other errors reject. A missing entry is the common answer (a rename's target, a name being
   * created), so it is no exception: node builds one with a captured stack trace, which cost a
   * rename a fifth of its CPU (issue 20's profile).
   */
  lstat(path: string): Promise<Stats | null>;
  realpath(path: string): Promise<string>;
  readlink(path: string): Promise<string>;
  open(path: string, flags: number, mode?: number): Promise<FileLike>;
  mkdir(path: string, mode: number): Promise<void>;
  rmdir(path: string): Promise<void>;
  /** `size`: the file's size if known (an lstat just made); big files are unlinked off the event loop. */
  unlink(path: string, size?: number): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  link(from: string, to: string): Promise<void>;
  chmod(path: string, mode: number): Promise<void>;
  utimes(path: string, atime: number, mtime: number): Promise<void>;
}

type Cb<T> = (err: NodeJS.ErrnoException | null, value: T) => void;

/** A callback call as a promise (one thread-pool round trip, no FileHandle bookkeeping). */
function pooled<T>(call: (cb: Cb<T>) => void): Promise<T> {
  return new Promise((resolve, reject) => call((err, value) => (err ? reject(err) : resolve(value))));
}

/** A synchronous call as a settled promise (errors reject, as the async flavour's do). */
function now<T>(call: () => T): Promise<T> {
  try {
    return Promise.resolve(call());
  } catch (err) {
    return Promise.reject(err);
  }
}

class FdHandle implements FileLike {
  private closed = false;
  /** The file reached at least this far when last looked at (an fstat, a read): 0 until then. */
  private seenEnd = 0;

  constructor(
    readonly fd: number,
    private readonly io: { sync: boolean },
  ) {}

  read(buf: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }> {
    // A read at or past the end (a download's last READ, which finds EOF) is answered from an
    // fstat, on the event loop in the sync flavour: what pread would say at that moment. Below
    // where the file was last seen to reach (the fstat of the OPEN, an earlier read) there is
    // data to read, so no fstat is needed (a file shrunk since reads short, as pread says).
    if (this.io.sync && length > 0 && position >= this.seenEnd) {
      this.seenEnd = fstatSync(this.fd).size;
      if (this.seenEnd <= position) return Promise.resolve({ bytesRead: 0 });
    }
    // A small file's data on the event loop (see SYNC_READ_MAX_FILE).
    if (this.io.sync && this.seenEnd <= SYNC_READ_MAX_FILE) return now(() => this.readTo(position, readSync(this.fd, buf, offset, length, position)));
    return pooled<number>((cb) => read(this.fd, buf, offset, length, position, cb)).then((bytesRead) => this.readTo(position, bytesRead));
  }

  /** A read's result, noting how far it saw the file reach. */
  private readTo(position: number, bytesRead: number): { bytesRead: number } {
    if (position + bytesRead > this.seenEnd) this.seenEnd = position + bytesRead;
    return { bytesRead };
  }

  write(data: Buffer, offset: number, length: number, position: number | null): Promise<{ bytesWritten: number }> {
    // A small write on the event loop while the kernel cannot throttle it (dirty-pages.ts).
    if (this.io.sync && length <= SYNC_WRITE_MAX && writeOnLoop()) return now(() => ({ bytesWritten: writeSync(this.fd, data, offset, length, position) }));
    return pooled<number>((cb) => write(this.fd, data, offset, length, position, cb)).then((bytesWritten) => ({ bytesWritten }));
  }

  stat(): Promise<Stats> {
    const seen = (st: Stats): Stats => {
      this.seenEnd = st.size;
      return st;
    };
    return this.io.sync ? now(() => seen(fstatSync(this.fd))) : pooled<Stats>((cb) => fstat(this.fd, cb)).then(seen);
  }

  truncate(length: number): Promise<void> {
    return pooled<void>((cb) => ftruncate(this.fd, length, (e) => cb(e, undefined)));
  }

  chmod(mode: number): Promise<void> {
    return this.io.sync ? now(() => fchmodSync(this.fd, mode)) : pooled<void>((cb) => fchmod(this.fd, mode, (e) => cb(e, undefined)));
  }

  utimes(atime: number, mtime: number): Promise<void> {
    return pooled<void>((cb) => futimes(this.fd, atime, mtime, (e) => cb(e, undefined)));
  }

  sync(): Promise<void> {
    return pooled<void>((cb) => fsync(this.fd, (e) => cb(e, undefined)));
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    return this.io.sync ? now(() => closeSync(this.fd)) : pooled<void>((cb) => close(this.fd, (e) => cb(e, undefined)));
  }
}

const missing = (err: NodeJS.ErrnoException): boolean => err.code === 'ENOENT' || err.code === 'ENOTDIR';

/** lstatSync, null for a missing entry (node's throwIfNoEntry covers ENOENT, not ENOTDIR). */
function lstatOrNull(p: string): Stats | null {
  try {
    return lstatSync(p, { throwIfNoEntry: false }) ?? null;
  } catch (err) {
    if (missing(err as NodeJS.ErrnoException)) return null;
    throw err;
  }
}

/** The thread-pool flavour: every call off the event loop. */
export const ASYNC_IO: MetaIo = {
  sync: false,
  lstat: (p) => new Promise((resolve, reject) => lstat(p, (err, st) => (err ? (missing(err) ? resolve(null) : reject(err)) : resolve(st)))),
  realpath: (p) => pooled<string>((cb) => realpath.native(p, cb)),
  readlink: (p) => pooled<string>((cb) => readlink(p, cb)),
  open(p, flags, mode) {
    return pooled<number>((cb) => open(p, flags, mode, cb)).then((fd) => new FdHandle(fd, this));
  },
  mkdir: (p, mode) => pooled<void>((cb) => mkdir(p, { mode }, (e) => cb(e, undefined))),
  rmdir: (p) => pooled<void>((cb) => rmdir(p, (e) => cb(e, undefined))),
  unlink: (p) => pooled<void>((cb) => unlink(p, (e) => cb(e, undefined))),
  rename: (a, b) => pooled<void>((cb) => rename(a, b, (e) => cb(e, undefined))),
  link: (a, b) => pooled<void>((cb) => link(a, b, (e) => cb(e, undefined))),
  chmod: (p, mode) => pooled<void>((cb) => chmod(p, mode, (e) => cb(e, undefined))),
  utimes: (p, a, m) => pooled<void>((cb) => utimes(p, a, m, (e) => cb(e, undefined))),
};

/** The event-loop flavour for local filesystems (see the file comment for what stays pooled). */
export const SYNC_IO: MetaIo = {
  sync: true,
  lstat: (p) => now(() => lstatOrNull(p)),
  realpath: (p) => now(() => realpathSync.native(p)),
  readlink: (p) => now(() => readlinkSync(p)),
  open(p, flags, mode) {
    return now(() => new FdHandle(openSync(p, flags, mode), this));
  },
  mkdir: (p, mode) => now(() => void mkdirSync(p, { mode })),
  rmdir: (p) => now(() => rmdirSync(p)),
  unlink: (p, size) => (size !== undefined && size <= SYNC_UNLINK_MAX_SIZE ? now(() => unlinkSync(p)) : ASYNC_IO.unlink(p)),
  rename: (a, b) => now(() => renameSync(a, b)),
  link: (a, b) => now(() => linkSync(a, b)),
  chmod: (p, mode) => now(() => chmodSync(p, mode)),
  utimes: (p, a, m) => now(() => utimesSync(p, a, m)),
};

/** The flavour for a home folder: `setting` when forced, else by its filesystem's type. */
export function metaIoFor(home: string, setting: MetadataIo): Promise<MetaIo> {
  if (setting === 'sync') return Promise.resolve(SYNC_IO);
  if (setting === 'async') return Promise.resolve(ASYNC_IO);
  return pooled<{ type: number }>((cb) => statfs(home, cb)).then(
    (st) => (LOCAL_FS_TYPES.has(st.type) ? SYNC_IO : ASYNC_IO),
    () => ASYNC_IO,
  );
}
