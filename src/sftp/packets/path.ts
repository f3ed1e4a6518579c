/**
 * Requests on paths: a path alone (LSTAT, STAT, OPENDIR, REMOVE, RMDIR, REALPATH, READLINK), a
 * path with attributes (SETSTAT, MKDIR), two paths (RENAME, SYMLINK). Encode and decode. REALPATH
 * may carry a v6 control byte and compose-path strings after the path; v3 ignores them.
 */
import type { Reader } from '../reader.js';
import type { PathAttrsRequest, PathRequest, RenameRequest, SymlinkRequest } from '../request-types.js';
import type { Writer } from '../writer.js';
import { readAttrs, writeAttrs } from './attrs.js';

/** The decoder of a request whose body is one path. */
export function pathRequest(kind: PathRequest['kind']): (r: Reader, id: number) => PathRequest {
  return (r, id) => ({ kind, id, path: r.utf8() });
}

/** The decoder of SETSTAT or MKDIR: a path and attributes. */
export function pathAttrsRequest(kind: PathAttrsRequest['kind']): (r: Reader, id: number) => PathAttrsRequest {
  return (r, id) => ({ kind, id, path: r.utf8(), attrs: readAttrs(r) });
}

/** Appends SETSTAT's or MKDIR's body. */
export function writePathAttrs(w: Writer, req: PathAttrsRequest): void {
  w.string(req.path);
  writeAttrs(w, req.attrs);
}

/** RENAME's body after its id (posix-rename@openssh.com has the same fields). */
export function decodeRename(r: Reader, id: number): RenameRequest {
  return { kind: 'rename', id, oldPath: r.utf8(), newPath: r.utf8() };
}

/** Appends a RENAME's or posix-rename's fields. */
export function writeRename(w: Writer, req: RenameRequest): void {
  w.string(req.oldPath).string(req.newPath);
}

/** SYMLINK's body after its id: its two strings in wire order (see SymlinkRequest). */
export function decodeSymlink(r: Reader, id: number): SymlinkRequest {
  return { kind: 'symlink', id, first: r.utf8(), second: r.utf8() };
}

/** Appends SYMLINK's body. */
export function writeSymlink(w: Writer, req: SymlinkRequest): void {
  w.string(req.first).string(req.second);
}
