/**
 * MemoryVfs: the Vfs contract in memory, as small as it can be honestly (pkg/sftp's InMemHandler).
 * It is the spec a next backend starts from: test/vfs/vfs-contract.test.ts runs the same suite
 * against it and LocalVfs, and vfs-agreement.test.ts compares the two on random operations, so
 * every behaviour and error here is LocalVfs's as a client sees it (errno codes through
 * toVfsError). No symlinks (LocalVfs with symlinks off), no quota, no umask; the home is "/",
 * `..` stops there, and no message names anything but virtual paths.
 */
import type { Stats } from 'node:fs';
import { applyAttrs, checkOwnership, FILE_PARENT, meta, resize, statsOf, type DirNode, type FileNode, type MemoryNode } from './memory-nodes.js';
import type { DirEntry, OpenFlags, SetAttrs, SpaceInfo, Vfs, VfsDir, VfsFile } from './vfs.js';
import { notFound, VfsError } from './vfs-error.js';
import { normalizePath, splitPath } from './virtual-path.js';

/** Blocks (of 4096 bytes) and entries statvfs reports as the whole filesystem. */
const CAPACITY_BLOCKS = 1 << 20;
const CAPACITY_FILES = 1 << 20;

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
