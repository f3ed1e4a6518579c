/**
 * The nodes of MemoryVfs (folders and files held in memory) and what is done to a node itself:
 * its lstat as a real fs.Stats, and SETSTAT's rules in LocalVfs's order.
 */
import { constants, Stats } from 'node:fs';
import type { SetAttrs } from './vfs.js';
import { VfsError } from './vfs-error.js';

/** What every node has: identity, permission bits and times. */
export interface Meta {
  ino: number;
  /** Permission bits only (0777). */
  mode: number;
  atimeMs: number;
  mtimeMs: number;
  ctimeMs: number;
}
/** A regular file: its bytes, exactly its size. */
export interface FileNode extends Meta {
  kind: 'file';
  data: Buffer;
}
/** A folder: its entries by name. */
export interface DirNode extends Meta {
  kind: 'dir';
  entries: Map<string, MemoryNode>;
}
/** A file or a folder (no symlinks). */
export type MemoryNode = FileNode | DirNode;

/** Stands for a parent that is a file: it has no entries, and nothing can be linked into it. */
export const FILE_PARENT: DirNode = { kind: 'dir', entries: new Map(), ino: 0, mode: 0, atimeMs: 0, mtimeMs: 0, ctimeMs: 0 };

// Owner of every node: the process's, as LocalVfs's files are the server's.
const UID = process.getuid?.() ?? 0;
const GID = process.getgid?.() ?? 0;

let nextIno = 1;
/** The metadata of a new node with permission bits `mode`, times now. */
export function meta(mode: number): Meta {
  const now = Date.now();
  return { ino: nextIno++, mode: mode & 0o777, atimeMs: now, mtimeMs: now, ctimeMs: now };
}

/** A node's lstat, as a real fs.Stats (its isFile() and friends read `mode`). */
export function statsOf(node: MemoryNode): Stats {
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
export function checkOwnership(attrs: SetAttrs): void {
  if ((attrs.uid !== undefined && attrs.uid !== UID) || (attrs.gid !== undefined && attrs.gid !== GID)) {
    throw new VfsError('DENIED', 'Changing ownership is not allowed');
  }
}

/** Largest file MemoryVfs holds: a client's offset must not decide how much memory is taken. */
export const MAX_MEMORY_FILE_BYTES = 64 * 1024 * 1024;

/** Sets a file's size: cut, or extended with zeros; past MAX_MEMORY_FILE_BYTES 'File too large' (EFBIG). */
export function resize(node: FileNode, size: number): void {
  if (size > MAX_MEMORY_FILE_BYTES) throw new VfsError('FAILURE', 'File too large');
  const data = Buffer.alloc(size);
  node.data.copy(data, 0, 0, Math.min(size, node.data.length));
  node.data = data;
  node.mtimeMs = node.ctimeMs = Date.now();
}

/** Applies SETSTAT/FSETSTAT attributes in LocalVfs's order: ownership, size, permissions, times. */
export function applyAttrs(node: MemoryNode, attrs: SetAttrs): void {
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
