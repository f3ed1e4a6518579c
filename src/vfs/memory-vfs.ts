/**
 * MemoryVfs: the Vfs contract in memory, as small as it can be honestly (pkg/sftp's InMemHandler).
 * It is the spec a next backend starts from: test/vfs/vfs-contract.test.ts runs the same suite
 * against it and LocalVfs, so every behaviour and error code here is LocalVfs's as a client sees
 * it (errno codes compared through toVfsError). No symlinks (LocalVfs with symlinks off), no quota,
 * no umask; the home is "/", `..` stops there, and no message names anything but virtual paths.
 */
import { constants, Stats } from 'node:fs';
import type { DirEntry, OpenFlags, SetAttrs, SpaceInfo, Vfs, VfsDir, VfsFile } from './vfs.js';
import { notFound, VfsError } from './vfs-error.js';
import { normalizePath, splitPath } from './virtual-path.js';

interface Meta {
  ino: number;
  /** Permission bits only (0777). */
  mode: number;
  atimeMs: number;
  mtimeMs: number;
  ctimeMs: number;
}
interface FileNode extends Meta {
  kind: 'file';
  data: Buffer;
}
interface DirNode extends Meta {
  kind: 'dir';
  entries: Map<string, MemoryNode>;
}
type MemoryNode = FileNode | DirNode;

/** Stands for a parent that is a file: it has no entries, and nothing can be linked into it. */
const FILE_PARENT: DirNode = { kind: 'dir', entries: new Map(), ino: 0, mode: 0, atimeMs: 0, mtimeMs: 0, ctimeMs: 0 };

/** Blocks (of 4096 bytes) and entries statvfs reports as the whole filesystem. */
const CAPACITY_BLOCKS = 1 << 20;
const CAPACITY_FILES = 1 << 20;

// Owner of every node: the process's, as LocalVfs's files are the server's.
const UID = process.getuid?.() ?? 0;
const GID = process.getgid?.() ?? 0;

let nextIno = 1;
function meta(mode: number): Meta {
  const now = Date.now();
  return { ino: nextIno++, mode: mode & 0o777, atimeMs: now, mtimeMs: now, ctimeMs: now };
}

/** A node's lstat, as a real fs.Stats (its isFile() and friends read `mode`). */
function statsOf(node: MemoryNode): Stats {
  const size = node.kind === 'dir' ? 4096 : node.data.length;
  const type = node.kind === 'dir' ? constants.S_IFDIR : constants.S_IFREG;
  const { ino, atimeMs, mtimeMs, ctimeMs } = node;
  const fields: Record<string, unknown> = {
    dev: 1, ino, mode: type | node.mode, nlink: node.kind === 'dir' ? 2 : 1, uid: UID, gid: GID, rdev: 0, size,
    blksize: 4096, blocks: Math.ceil(size / 512), atimeMs, mtimeMs, ctimeMs, birthtimeMs: ctimeMs,
    atime: new Date(atimeMs), mtime: new Date(mtimeMs), ctime: new Date(ctimeMs), birthtime: new Date(ctimeMs),
  };
  // Own data properties: they shadow whatever accessors Node's Stats.prototype defines.
  const descriptors = Object.fromEntries(Object.entries(fields).map(([k, value]) => [k, { value, enumerable: true }]));
  return Object.create(Stats.prototype, descriptors) as Stats;
}

/** SETSTAT's ownership rule (SPEC §5): a uid or gid other than the current one is refused. */
function checkOwnership(attrs: SetAttrs): void {
  if ((attrs.uid !== undefined && attrs.uid !== UID) || (attrs.gid !== undefined && attrs.gid !== GID)) {
    throw new VfsError('DENIED', 'Changing ownership is not allowed');
  }
}

/** Sets a file's size: cut, or extended with zeros. */
function resize(node: FileNode, size: number): void {
  const data = Buffer.alloc(size);
  node.data.copy(data, 0, 0, Math.min(size, node.data.length));
  node.data = data;
  node.mtimeMs = node.ctimeMs = Date.now();
}

/** Applies SETSTAT/FSETSTAT attributes in LocalVfs's order: ownership, size, permissions, times. */
function applyAttrs(node: MemoryNode, attrs: SetAttrs): void {
  checkOwnership(attrs);
  if (attrs.size !== undefined) {
    if (node.kind !== 'file') throw new VfsError('NOT_A_FILE', 'Is a directory');
    resize(node, attrs.size);
  }
  if (attrs.permissions !== undefined) node.mode = attrs.permissions & 0o777;
  if (attrs.atime !== undefined && attrs.mtime !== undefined) {
    node.atimeMs = attrs.atime * 1000;
    node.mtimeMs = attrs.mtime * 1000;
  }
}

/** An open file: the node itself, so a rename or removal after OPEN changes nothing it reaches. */
class MemoryFile implements VfsFile {
  // As open(2) modes in LocalVfs's openMode: WRITE, APPEND or TRUNC make it writable, READ or
  // nothing else readable.
  private readonly writable: boolean;
  private readonly readable: boolean;

  constructor(
    private readonly node: FileNode,
    private readonly append: boolean,
    flags: OpenFlags,
  ) {
    this.writable = flags.write || flags.append || flags.trunc;
    this.readable = flags.read || !this.writable;
  }

  async read(offset: number, length: number): Promise<Buffer | null> {
    const buf = Buffer.alloc(length);
    const n = await this.readInto(buf, 0, length, offset);
    return n === 0 ? null : buf.subarray(0, n);
  }

  async readInto(buf: Buffer, bufOffset: number, length: number, offset: number): Promise<number> {
    if (!this.readable) throw new VfsError('DENIED', 'File not opened for reading');
    const data = this.node.data;
    // At or past the end: nothing (Buffer.copy would throw for a start beyond the source).
    return offset >= data.length ? 0 : data.copy(buf, bufOffset, offset, Math.min(offset + length, data.length));
  }

  async write(offset: number, data: Buffer): Promise<void> {
    if (!this.writable) throw new VfsError('DENIED', 'File not opened for writing');
    // Nothing written extends nothing; an append handle writes at the end, whatever the offset.
    if (data.length === 0) return;
    const at = this.append ? this.node.data.length : offset;
    if (at + data.length > this.node.data.length) resize(this.node, at + data.length);
    data.copy(this.node.data, at);
    this.node.mtimeMs = this.node.ctimeMs = Date.now();
  }

  reserveWrite(): void {} // no quota

  async stat(): Promise<Stats> {
    return statsOf(this.node);
  }

  async setStat(attrs: SetAttrs): Promise<void> {
    applyAttrs(this.node, attrs);
  }

  async sync(): Promise<void> {}
  async close(): Promise<void> {}
}

/** A listing of the names present at OPENDIR; a name removed since is skipped. */
class MemoryDir implements VfsDir {
  private readonly pending: string[];

  constructor(private readonly node: DirNode) {
    this.pending = [...node.entries.keys()];
  }

  async next(max: number): Promise<DirEntry[] | null> {
    const out: DirEntry[] = [];
    for (const name of (await this.names(max)) ?? []) {
      const child = this.node.entries.get(name);
      if (child) out.push({ name, stats: statsOf(child) });
    }
    return out.length === 0 && this.pending.length === 0 ? null : out;
  }

  async names(max: number): Promise<string[] | null> {
    if (!(Math.floor(max) >= 1)) return [];
    return this.pending.length === 0 ? null : this.pending.splice(0, Math.floor(max));
  }

  async close(): Promise<void> {}
}

/** A Vfs held in memory: each instance is one empty home, "/". */
export class MemoryVfs implements Vfs {
  private readonly root: DirNode = { kind: 'dir', entries: new Map(), ...meta(0o755) };

  /**
   * The folder holding `path`'s last name ("" for "/"); NOT_FOUND when the parent is missing. A
   * parent that is a file is FILE_PARENT, as LocalVfs's jail resolves any existing parent and
   * only the operation on the name then fails (ENOTDIR): checks such as "the home cannot be
   * renamed" come first either way.
   */
  private place(path: string): { dir: DirNode; name: string } {
    const vpath = normalizePath(path);
    if (vpath === '/') return { dir: this.root, name: '' };
    const { parent, name } = splitPath(vpath);
    let node: MemoryNode = this.root;
    for (const part of parent.split('/').filter(Boolean)) {
      const next: MemoryNode | undefined = node.kind === 'dir' ? node.entries.get(part) : undefined;
      if (!next) throw notFound();
      node = next;
    }
    return { dir: node.kind === 'dir' ? node : FILE_PARENT, name };
  }

  private find(path: string): MemoryNode {
    const { dir, name } = this.place(path);
    const node = name === '' ? dir : dir.entries.get(name);
    if (!node) throw notFound();
    return node;
  }

  /** Adds `node` as `name` in `dir` (the folder's times change, as on disk). */
  private link(dir: DirNode, name: string, node: MemoryNode): void {
    if (dir === FILE_PARENT) throw notFound(); // ENOTDIR
    dir.entries.set(name, node);
    dir.mtimeMs = dir.ctimeMs = Date.now();
  }

  private unlink(dir: DirNode, name: string): void {
    dir.entries.delete(name);
    dir.mtimeMs = dir.ctimeMs = Date.now();
  }

  async stat(path: string): Promise<Stats> {
    return statsOf(this.find(path));
  }

  async lstat(path: string): Promise<Stats> {
    return statsOf(this.find(path));
  }

  async open(path: string, flags: OpenFlags, attrs: SetAttrs = {}): Promise<VfsFile> {
    const { dir, name } = this.place(path);
    if (name === '') throw new VfsError('NOT_A_FILE', 'Is a directory');
    let node = dir.entries.get(name);
    if (node && flags.creat && flags.excl) throw new VfsError('EXISTS', 'File exists');
    if (!node) {
      if (!flags.creat) throw notFound();
      node = { kind: 'file', data: Buffer.alloc(0), ...meta(attrs.permissions ?? 0o644) };
      this.link(dir, name, node);
    }
    if (node.kind !== 'file') throw new VfsError('NOT_A_FILE', 'Is a directory');
    if (flags.trunc && node.data.length > 0) resize(node, 0);
    return new MemoryFile(node, flags.append, flags);
  }

  async openDir(path: string): Promise<VfsDir> {
    const node = this.find(path);
    if (node.kind !== 'dir') throw new VfsError('NOT_A_DIR', 'Not a directory');
    return new MemoryDir(node);
  }

  async mkdir(path: string, attrs: SetAttrs = {}): Promise<void> {
    const { dir, name } = this.place(path);
    if (name === '' || dir.entries.has(name)) throw new VfsError('EXISTS', 'File exists');
    this.link(dir, name, { kind: 'dir', entries: new Map(), ...meta(attrs.permissions ?? 0o755) });
  }

  async rmdir(path: string): Promise<void> {
    const { dir, name } = this.place(path);
    if (name === '') throw new VfsError('DENIED', 'The home folder cannot be removed');
    const node = dir.entries.get(name);
    // rmdir(2) on a file is ENOTDIR, which a client sees as a missing folder.
    if (!node || node.kind !== 'dir') throw notFound();
    if (node.entries.size > 0) throw new VfsError('FAILURE', 'Directory not empty');
    this.unlink(dir, name);
  }

  async remove(path: string): Promise<void> {
    const { dir, name } = this.place(path);
    const node = name === '' ? dir : dir.entries.get(name);
    if (!node) throw notFound();
    if (node.kind === 'dir') throw new VfsError('NOT_A_FILE', 'Is a directory');
    this.unlink(dir, name);
  }

  async rename(from: string, to: string, overwrite: boolean): Promise<void> {
    const src = this.place(from);
    const dst = this.place(to);
    if (src.name === '' || dst.name === '') throw new VfsError('DENIED', 'The home folder cannot be renamed');
    const node = src.dir.entries.get(src.name);
    if (!node || dst.dir === FILE_PARENT) throw notFound(); // ENOTDIR before any other check of rename(2)
    const target = dst.dir.entries.get(dst.name);
    // RENAME never overwrites (OpenSSH sftp-server.c process_rename); posix-rename does, as rename(2).
    if (target && !overwrite) throw new VfsError('EXISTS', 'File exists');
    if (target === node) return;
    const [fromPath, toPath] = [normalizePath(from), normalizePath(to)];
    // rename(2)'s order: into itself (EINVAL), onto its own ancestor (ENOTEMPTY), then the kinds.
    if (node.kind === 'dir' && toPath.startsWith(`${fromPath}/`)) throw new VfsError('FAILURE', 'Invalid argument');
    if (fromPath.startsWith(`${toPath}/`)) throw new VfsError('FAILURE', 'Directory not empty');
    if (target && node.kind === 'dir' && target.kind !== 'dir') throw notFound(); // ENOTDIR
    if (target && node.kind === 'file' && target.kind === 'dir') throw new VfsError('NOT_A_FILE', 'Is a directory');
    if (target?.kind === 'dir' && target.entries.size > 0) throw new VfsError('FAILURE', 'Directory not empty');
    this.link(dst.dir, dst.name, node);
    this.unlink(src.dir, src.name);
  }

  async setStat(path: string, attrs: SetAttrs): Promise<void> {
    const node = this.find(path);
    if (node === this.root && attrs.permissions !== undefined) {
      checkOwnership(attrs);
      throw new VfsError('DENIED', "The home folder's permissions cannot be changed");
    }
    applyAttrs(node, attrs);
  }

  async readlink(path: string): Promise<string> {
    this.place(path);
    throw notFound(); // there are no links: readlink(2) says EINVAL or ENOENT, both NOT_FOUND
  }

  async symlink(): Promise<void> {
    throw new VfsError('DENIED', 'Creating symlinks is disabled on this server');
  }

  async statvfs(path: string): Promise<SpaceInfo> {
    this.find(path);
    let bytes = 0;
    let files = 0;
    const walk = (dir: DirNode): void => {
      for (const node of dir.entries.values()) {
        files += 1;
        if (node.kind === 'dir') walk(node);
        else bytes += node.data.length;
      }
    };
    walk(this.root);
    const bfree = CAPACITY_BLOCKS - Math.ceil(bytes / 4096);
    return { bsize: 4096, blocks: CAPACITY_BLOCKS, bfree, bavail: bfree, files: CAPACITY_FILES, ffree: CAPACITY_FILES - files };
  }
}
