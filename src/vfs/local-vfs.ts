/**
 * LocalVfs: the Vfs on the local disk, jailed in one home. Every operation normalises its virtual
 * path, resolves it through the Jail at access time, and opens last components with O_NOFOLLOW;
 * FIFOs, devices and sockets are refused before any open could block (security catalog 1.13).
 *
 * Longer than 300 lines on purpose: one class with every operation of the Vfs interface, each a
 * short sequence of jail check, descriptor and quota call; the parts they share live elsewhere
 * (jail.ts, meta-io.ts, local-handles.ts, quota/).
 */
import { constants, type Stats } from 'node:fs';
import { opendir, readlink, statfs, symlink } from 'node:fs/promises';
import { chargeHandle } from '../quota/file-charge.js';
import { QuotaExceededError, type UserQuota } from '../quota/user-quota.js';
import { RwLock } from '../util/rw-lock.js';
import { Jail, type Resolved } from './jail.js';
import { shownText, storedText } from './link-text.js';
import { checkOwnership, LocalDir, LocalFile, permissionBits, sizeOf } from './local-handles.js';
import { metaIoFor, type FileLike, type MetadataIo, type MetaIo } from './meta-io.js';
import type { OpenFlags, SetAttrs, SpaceInfo, Vfs, VfsDir, VfsFile } from './vfs.js';
import { notFound, VfsError } from './vfs-error.js';
import { normalizePath, resolveWithin, splitPath } from './virtual-path.js';

const { O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_TRUNC, O_EXCL, O_APPEND, O_NOFOLLOW, O_NONBLOCK, O_DIRECTORY } = constants;
/** Linux's O_PATH (node does not export it): a descriptor that only names an inode. */
const O_PATH = 0o10000000;

/** Mode of new files and folders when the client sends none (OpenSSH: 0666/0777 less umask 022). */
const DEFAULT_FILE_MODE = 0o644;
const DEFAULT_DIR_MODE = 0o755;

/** Options of a LocalVfs. */
export interface LocalVfsOptions {
  /** Let the user create symlinks (inside the home only). */
  symlinks: boolean;
  /** The user's quota, shared with their other sessions; absent = no accounting. */
  quota?: UserQuota;
  /**
   * The user's namespace lock, shared with their other sessions in this process (user-locks.ts);
   * absent = a lock of this Vfs's own (one session alone).
   */
  lock?: RwLock;
  /**
   * Where metadata calls run (meta-io.ts): 'auto' (the event loop on a local filesystem, the
   * thread pool elsewhere), 'sync' or 'async'. Absent = 'auto'.
   */
  metadataIo?: MetadataIo;
  /**
   * Other processes may serve this user at the same time (workers, nodes on shared homes): the
   * user's namespace lock is per process, so operations that create or remove names act through
   * their parent folder's descriptor, checked to be inside the home (see pinned()).
   */
  sharedHome?: boolean;
}

/** The open(2) flags for SFTP open flags. CREAT, TRUNC and APPEND count as writes. */
export function openMode(f: OpenFlags): number {
  const writes = f.write || f.append || f.trunc;
  let mode = f.read && writes ? O_RDWR : writes ? O_WRONLY : O_RDONLY;
  if (f.creat) mode |= O_CREAT;
  if (f.creat && f.excl) mode |= O_EXCL;
  if (f.trunc) mode |= O_TRUNC;
  if (f.append) mode |= O_APPEND;
  return mode | O_NOFOLLOW | O_NONBLOCK;
}

/** The Vfs error for what open(2) said, where the Vfs contract names one (else the errno error). */
function openError(err: unknown): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return notFound();
  if (code === 'EISDIR') return new VfsError('NOT_A_FILE', 'Is a directory');
  if (code === 'ENXIO') return new VfsError('NOT_A_FILE', 'Not a regular file'); // a FIFO with no reader
  return err;
}

/** Refuses anything but a regular file. */
function requireFile(st: Stats): void {
  if (!st.isFile()) throw new VfsError('NOT_A_FILE', st.isDirectory() ? 'Is a directory' : 'Not a regular file');
}

/**
 * Opens `path` with CREAT (`how`), counting the entry when the file is new: an exclusive create
 * first (the common case, one call), then, if the name exists, an open of what is there. Past the
 * entry limit only an existing file can be opened (QuotaExceededError when there is none).
 */
async function createCounted(io: MetaIo, path: string, how: number, mode: number, quota: UserQuota): Promise<FileLike> {
  if (how & O_EXCL || !quota.entriesFull) {
    // Past the limit (as the store sees it) an existing file can still be opened: fall through.
    const reserved = await Promise.resolve(quota.reserveEntry()).then(
      () => true,
      (err: unknown) => {
        if (how & O_EXCL || !(err instanceof QuotaExceededError)) throw err;
        return false;
      },
    );
    if (reserved) {
      try {
        return await io.open(path, how | O_EXCL, mode);
      } catch (err) {
        quota.unreserveEntry();
        if (how & O_EXCL || (err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
  }
  try {
    return await io.open(path, how & ~O_CREAT, mode);
  } catch (err) {
    // No such file: past the limit, or the name went away between the two calls (a program
    // outside Coffer): create it, counted, or refuse it.
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    await quota.reserveEntry();
    return io.open(path, how | O_EXCL, mode).catch((e: unknown) => (quota.unreserveEntry(), Promise.reject(e)));
  }
}

/**
 * statvfs numbers that show a quota as the filesystem (as SFTPGo does), so `df` in OpenSSH's sftp
 * prints Size = quota, Used = usage, Avail = the rest: block size 4096, halved while the quota
 * would be fewer than 16 blocks; blocks = quota / bsize; free = (quota - used) / bsize.
 */
export function quotaSpace(limit: number, used: number, disk: SpaceInfo): SpaceInfo {
  let bsize = 4096;
  while (bsize > 1 && limit / bsize < 16) bsize /= 2;
  const free = Math.floor(Math.max(0, limit - used) / bsize);
  return { bsize, blocks: Math.floor(limit / bsize), bfree: free, bavail: free, files: disk.files, ffree: disk.ffree };
}

export class LocalVfs implements Vfs {
  /** The jail's file-system calls (meta-io.ts). */
  private readonly io: MetaIo;

  /** The user's namespace lock (see namespaceOp). */
  private readonly lock: RwLock;

  private constructor(
    private readonly jail: Jail,
    private readonly options: LocalVfsOptions,
  ) {
    this.io = jail.io;
    this.lock = options.lock ?? new RwLock();
  }

  /** A Vfs confined to `home` (an existing folder). */
  static async create(home: string, options: LocalVfsOptions): Promise<LocalVfs> {
    const io = await metaIoFor(home, options.metadataIo ?? 'auto');
    return new LocalVfs(await Jail.open(home, io), options);
  }

  /** True when metadata calls run on the event loop (metadataIo resolved to 'sync'). */
  get syncMetadata(): boolean {
    return this.io.sync;
  }

  async stat(path: string): Promise<Stats> {
    return (await this.jail.existingStat(normalizePath(path), true)).st;
  }

  async lstat(path: string): Promise<Stats> {
    return (await this.jail.existingStat(normalizePath(path), false)).st;
  }

  /**
   * OPEN. The last component is opened with O_NOFOLLOW | O_NONBLOCK: a symlink fails with ELOOP
   * and takes the slow path (followed only to a target inside the home), a FIFO cannot block, and
   * the fd is fstat'ed so anything but a regular file is closed and refused. TRUNC is applied with
   * ftruncate after that fstat, so the quota is credited with the size the file really had.
   */
  async open(path: string, flags: OpenFlags, attrs: SetAttrs = {}): Promise<VfsFile> {
    // An OPEN with CREAT may create a file, and a writable one may truncate: both run alone among
    // the user's namespace operations (see namespaceOp), so no rename swaps a folder for a symlink
    // between the jail check and the open. Every OPEN registers its inode with the quota, under
    // the lock at least shared, so no removal runs between its read and its act while a handle is
    // being registered (the fuzzer found credits lost that way), and a file removed while open
    // stays charged until its last handle closes.
    if (flags.write || flags.append || flags.trunc || flags.creat) return this.namespaceOp(() => this.openNow(path, flags, attrs));
    return this.lock.shared(() => this.openNow(path, flags, attrs));
  }

  /**
   * Runs an operation that changes names in the home (or may create a file) under the user's
   * serial lock, jail check included. Renames are what can turn a path component into a symlink
   * leading out of the home (moving an admin-made link, or a user link whose relative target then
   * escapes); checked and done inside the lock, no operation of this user can act through a
   * component a concurrent rename swapped after the check (the fuzzer did that: seed 1643230123
   * moved a link into the folder outside). The same lock keeps the quota's removals and replacing
   * renames one at a time (UserQuota.leaving).
   */
  private namespaceOp<T>(op: () => Promise<T>): Promise<T> {
    return this.lock.exclusive(op);
  }

  /**
   * Runs `op` on the entry `r` names. Alone on this home (the default), the path is the one the
   * jail resolved: the user's namespace lock keeps it valid. With other processes on this home,
   * a rename there (one that swaps a folder for a link leading out) could change what the path
   * reaches between the check and `op`; so the parent folder is opened (O_PATH), its descriptor
   * checked to be inside the home, and `op` gets /proc/self/fd/N/NAME, which names an entry of
   * that folder whatever happens to its path meanwhile.
   */
  private pinned<T>(r: Resolved, op: (path: string) => Promise<T>): Promise<T> {
    return this.options.sharedHome ? this.pinnedShared(r, op) : op(r.path);
  }

  /** pinned() with other processes on this home: through the parent folder's checked descriptor. */
  private async pinnedShared<T>(r: Resolved, op: (path: string) => Promise<T>): Promise<T> {
    const dir = await this.io.open(r.dir, O_PATH | O_DIRECTORY).catch(() => Promise.reject(notFound()));
    try {
      await this.jail.verifyFd(dir.fd);
      return await op(`/proc/self/fd/${dir.fd}/${r.name}`);
    } finally {
      await dir.close();
    }
  }

  private async openNow(path: string, flags: OpenFlags, attrs: SetAttrs): Promise<VfsFile> {
    const vpath = normalizePath(path);
    const r = await this.jail.parent(vpath);
    if (r.name === '') throw new VfsError('NOT_A_FILE', 'Is a directory');
    const mode = attrs.permissions !== undefined ? permissionBits(attrs.permissions) : DEFAULT_FILE_MODE;
    const how = openMode(flags) & ~O_TRUNC;
    const quota = this.options.quota;
    const io = this.io;
    let fh: FileLike;
    try {
      // Without CREAT nothing is made: the fd check below refuses whatever a swapped path reached.
      fh = flags.creat ? await this.pinned(r, (at) => (quota ? createCounted(io, at, how, mode, quota) : io.open(at, how, mode))) : await io.open(r.path, how, mode);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const viaLink = code === 'ELOOP' || (code === 'EEXIST' && (await io.lstat(r.path).catch(() => null))?.isSymbolicLink());
      if (!viaLink) throw openError(err);
      // The last component is a symlink: follow it only to a regular file inside the home, which
      // exists (no CREAT: a file created there would escape the entry count).
      const target = await this.jail.existing(vpath, true);
      const st = await io.lstat(target);
      if (!st) throw notFound();
      requireFile(st);
      fh = await io.open(target, how & ~(O_CREAT | O_EXCL), mode).catch((e: unknown) => Promise.reject(openError(e)));
    }
    try {
      await this.jail.verifyFd(fh.fd);
      return await this.opened(fh, flags);
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  /** Checks an fd just opened, applies TRUNC, and sets up its quota accounting. */
  private async opened(fh: FileLike, flags: OpenFlags): Promise<VfsFile> {
    const st = await fh.stat();
    requireFile(st);
    const quota = this.options.quota;
    const writable = flags.write || flags.append || flags.trunc;
    if (!quota) {
      if (flags.trunc && st.size > 0) await fh.truncate(0);
      return new LocalFile(fh, flags.append);
    }
    // Registered first, so concurrent size changes of this inode share one charged size and no
    // two of them credit the same bytes (the fuzzer's concurrent-TRUNC finding); read-only
    // handles too, so a removal while they are open leaves the file charged (SPEC §5).
    const charge = chargeHandle(quota, st, writable, sizeOf(fh));
    const local = new LocalFile(fh, flags.append, charge);
    try {
      if (flags.trunc && (st.size > 0 || charge.file.charged > 0)) await local.truncateTo(0);
    } catch (err) {
      // The caller closes the descriptor; the handle registered above must go too, or the file
      // would stay tracked (never settled at a last close) for the rest of the process.
      charge.abandon();
      throw err;
    }
    return local;
  }

  async openDir(path: string): Promise<VfsDir> {
    const { path: real, st } = await this.jail.existingStat(normalizePath(path), true);
    if (!st.isDirectory()) throw new VfsError('NOT_A_DIR', 'Not a directory');
    const fh = await this.io.open(real, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK);
    try {
      await this.jail.verifyFd(fh.fd);
      const base = `/proc/self/fd/${fh.fd}`;
      return new LocalDir(await opendir(base, { bufferSize: 128 }), base, fh, this.io.sync);
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  mkdir(path: string, attrs: SetAttrs = {}): Promise<void> {
    return this.namespaceOp(async () => {
      const r = await this.jail.parent(normalizePath(path));
      if (r.name === '') throw new VfsError('EXISTS', 'File exists');
      const mode = attrs.permissions !== undefined ? permissionBits(attrs.permissions) : DEFAULT_DIR_MODE;
      await this.pinned(r, (at) => this.counted(at, () => this.io.mkdir(at, mode)));
    });
  }

  /** Runs `create`, which makes the entry `path`, with that entry reserved (refused past the limit). */
  private async counted(path: string, create: () => Promise<unknown>): Promise<void> {
    const quota = this.options.quota;
    // At the limit, a name that exists answers as it would below it (mkdir -p, put -r into an
    // existing folder expect EXISTS), not Quota exceeded.
    const exists = async () => (await this.io.lstat(path).catch(() => null)) !== null;
    if (quota?.entriesFull && (await exists())) throw new VfsError('EXISTS', 'File exists');
    try {
      await quota?.reserveEntry();
    } catch (err) {
      if (err instanceof QuotaExceededError && (await exists())) throw new VfsError('EXISTS', 'File exists');
      throw err;
    }
    try {
      await create();
    } catch (err) {
      quota?.unreserveEntry();
      throw err;
    }
  }

  rmdir(path: string): Promise<void> {
    return this.namespaceOp(async () => {
      const r = await this.jail.parent(normalizePath(path));
      if (r.name === '') throw new VfsError('DENIED', 'The home folder cannot be removed');
      await this.pinned(r, (at) => this.io.rmdir(at));
      this.options.quota?.releaseEntry();
    });
  }

  remove(path: string): Promise<void> {
    // One removal or replacing rename at a time per user, with writable OPENs: see leaving().
    return this.namespaceOp(async () => {
      const r = await this.jail.parent(normalizePath(path));
      const io = this.io;
      await this.pinned(r, async (at) => {
        // The entry's lstat: checked at the first read, which is also the quota's read of what
        // the removal frees (one lstat, unless leaving() must read again after a close).
        let size: number | undefined;
        const read = async (): Promise<Stats | null> => {
          const st = await io.lstat(at).catch(() => null);
          if (size === undefined) {
            if (!st) throw notFound();
            if (st.isDirectory()) throw new VfsError('NOT_A_FILE', 'Is a directory');
          }
          size = st?.size ?? size;
          return st;
        };
        const quota = this.options.quota;
        if (!quota) return read().then(() => io.unlink(at, size));
        await quota.leaving(read, () => io.unlink(at, size));
      });
    });
  }

  rename(from: string, to: string, overwrite: boolean): Promise<void> {
    // Renames and removals of one user run one at a time: a rename's link and unlink, or the size
    // a removal reads, must not interleave with another's, or a file could be credited while it
    // lives on under its new name (found by the fuzzer); and see namespaceOp for the jail.
    return this.namespaceOp(async () => {
      const vfrom = normalizePath(from);
      const vto = normalizePath(to);
      const src = await this.jail.parent(vfrom);
      // Within one folder (the usual rename) the parent resolved for the source serves the target.
      const dst = splitPath(vfrom).parent === splitPath(vto).parent && vfrom !== '/' && vto !== '/' ? this.jail.sibling(src, splitPath(vto).name) : await this.jail.parent(vto);
      if (src.name === '' || dst.name === '') throw new VfsError('DENIED', 'The home folder cannot be renamed');
      return this.pinned(src, (from) => this.pinned(dst, (to) => (overwrite ? this.replace(from, to) : this.renameNoClobber(from, to))));
    });
  }

  /** RENAME never overwrites (OpenSSH sftp-server.c process_rename). */
  private async renameNoClobber(from: string, to: string): Promise<void> {
    const io = this.io;
    const st = await io.lstat(from).catch(() => null);
    if (!st) throw notFound();
    // link()+unlink() fails atomically on an existing target, for regular files and symlinks
    // (Linux's link(2) links the symlink itself); folders are checked first (no renameat2 in
    // node: another process may create the target between the check and the rename).
    if (st.isFile() || st.isSymbolicLink()) {
      try {
        await io.link(from, to);
        try {
          await io.unlink(from, 0); // the data stays linked at `to`: nothing is freed
        } catch (err) {
          // `from` went away meanwhile (another server process on this home moved or removed it):
          // take back the name just linked, or the home would hold one entry nobody counted
          // (found by the fuzzer's two-process mode). Only if it is still our link.
          const now = await io.lstat(to).catch(() => null);
          if (now && now.ino === st.ino && now.dev === st.dev) await io.unlink(to, 0).catch(() => undefined);
          throw err;
        }
        return;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? '';
        if (code === 'EEXIST') throw new VfsError('EXISTS', 'File exists');
        if (!['EPERM', 'EOPNOTSUPP', 'ENOTSUP'].includes(code)) throw err;
      }
    }
    if (await io.lstat(to).catch(() => null)) throw new VfsError('EXISTS', 'File exists');
    await io.rename(from, to);
  }

  /** posix-rename: rename(2), crediting a regular file it replaces. */
  private async replace(from: string, to: string): Promise<void> {
    const io = this.io;
    const quota = this.options.quota;
    // No target: nothing is replaced, nothing to credit (what leaving() does with a null read),
    // and rename(2) itself answers for a missing source.
    if (!quota || !(await io.lstat(to).catch(() => null))) {
      return io.rename(from, to);
    }
    const src = await io.lstat(from).catch(() => null);
    if (!src) throw notFound();
    // rename(2) onto another name of the same inode changes nothing: nothing to credit.
    await quota.leaving(
      () => io.lstat(to).catch(() => null),
      () => io.rename(from, to),
      (replaced) => replaced.ino === src.ino && replaced.dev === src.dev,
    );
  }

  /**
   * SETSTAT: permissions and times are changed through a descriptor verified to be inside the
   * home (a path could be swapped between the check and the change; the fuzzer did exactly that).
   */
  async setStat(path: string, attrs: SetAttrs): Promise<void> {
    const real = await this.jail.existing(normalizePath(path), true);
    // O_PATH: no read or write permission needed (chmod 000 then chmod 644 works), no side effect
    // of opening a FIFO or device; chmod and utimes go through /proc/self/fd/N, i.e. this inode.
    const fh = await this.io.open(real, O_PATH | O_NOFOLLOW);
    const self = `/proc/self/fd/${fh.fd}`;
    try {
      const where = await this.jail.verifyFd(fh.fd);
      const st = await fh.stat();
      checkOwnership(attrs, st);
      // The resolved place, not the virtual path: a symlink to the home must not reach it either.
      if (where === this.jail.root && attrs.permissions !== undefined) throw new VfsError('DENIED', "The home folder's permissions cannot be changed");
      if (attrs.size !== undefined) {
        requireFile(st);
        const size = attrs.size;
        // With the user's removals one at a time: a removal must not credit a size read before this.
        await this.lock.exclusive(() => this.truncatePath(where, size));
      }
      if (attrs.permissions !== undefined) await this.io.chmod(self, permissionBits(attrs.permissions));
      if (attrs.atime !== undefined && attrs.mtime !== undefined) await this.io.utimes(self, attrs.atime, attrs.mtime);
    } finally {
      await fh.close();
    }
  }

  /**
   * SETSTAT size: opens the file and truncates it through a handle, so the change is charged on
   * the inode's shared tracked size like any other write (concurrent truncates of one file cannot
   * credit the same bytes twice).
   */
  private async truncatePath(real: string, size: number): Promise<void> {
    const fh = await this.io.open(real, O_WRONLY | O_NOFOLLOW | O_NONBLOCK);
    try {
      await this.jail.verifyFd(fh.fd);
      const file = await this.opened(fh, { read: false, write: true, append: false, creat: false, trunc: false, excl: false });
      try {
        await file.setStat({ size });
      } finally {
        await file.close();
      }
    } catch (err) {
      await fh.close().catch(() => undefined);
      throw err;
    }
  }

  async readlink(path: string): Promise<string> {
    const r = await this.jail.parent(normalizePath(path));
    const text = await readlink(r.path).catch(() => null);
    if (text === null) throw notFound();
    // The stored text when it is relative and stays inside, else the virtual path it reaches; never
    // a host path (link-text.ts).
    const shown = await shownText(this.jail, r.dir, text);
    if (shown === null) throw notFound();
    return shown;
  }

  async symlink(target: string, linkPath: string): Promise<void> {
    if (!this.options.symlinks) throw new VfsError('DENIED', 'Creating symlinks is disabled on this server');
    return this.namespaceOp(() => this.symlinkNow(target, linkPath));
  }

  private async symlinkNow(target: string, linkPath: string): Promise<void> {
    const vlink = normalizePath(linkPath);
    const r = await this.jail.parent(vlink);
    if (r.name === '') throw new VfsError('EXISTS', 'File exists');
    normalizePath(target); // refuses control bytes and over-long text
    const vtarget = resolveWithin(splitPath(vlink).parent, target);
    if (vtarget === null) throw new VfsError('DENIED', 'Symlinks may only point inside your home');
    // Stored relative to the link's real folder, so it never holds a host path; where it leads is
    // checked again at every access (the link may be moved later).
    const text = await storedText(this.jail, r.dir, target, vtarget);
    await this.pinned(r, (at) => this.counted(at, () => symlink(text, at)));
  }

  async statvfs(path: string): Promise<SpaceInfo> {
    await this.jail.existing(normalizePath(path), true);
    const disk = await statfs(this.jail.root);
    const quota = this.options.quota;
    if (!quota) return disk;
    const space = quota.limit !== null ? quotaSpace(quota.limit, quota.used, disk) : disk;
    // The entry limit shows as the filesystem's inodes (files / free files), as SFTPGo does.
    return quota.maxFiles !== null ? { ...space, files: quota.maxFiles, ffree: Math.max(0, quota.maxFiles - quota.usedFiles) } : space;
  }

  /** The real host folder of the home (for logs and tests; never sent to a client). */
  get root(): string {
    return this.jail.root;
  }
}
