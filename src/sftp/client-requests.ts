/**
 * Client side: encodes any SftpRequest into one framed message, the exact inverse of
 * decodeRequest. The coffer client uses it for check-file over a raw `sftp` channel; tests use it
 * to build valid packets (and cut them into malformed ones).
 */
import { ExtensionName, PacketType } from './constants.js';
import { attrsSize, writeAttrs } from './attrs.js';
import type { FileAttrs } from './attrs.js';
import { Writer } from './writer.js';
import type { SftpIdRequest, SftpRequest } from './request-types.js';

const TYPES: ReadonlyMap<string, number> = new Map([
  ['open', PacketType.OPEN],
  ['close', PacketType.CLOSE],
  ['read', PacketType.READ],
  ['write', PacketType.WRITE],
  ['lstat', PacketType.LSTAT],
  ['fstat', PacketType.FSTAT],
  ['setstat', PacketType.SETSTAT],
  ['fsetstat', PacketType.FSETSTAT],
  ['opendir', PacketType.OPENDIR],
  ['readdir', PacketType.READDIR],
  ['remove', PacketType.REMOVE],
  ['mkdir', PacketType.MKDIR],
  ['rmdir', PacketType.RMDIR],
  ['realpath', PacketType.REALPATH],
  ['stat', PacketType.STAT],
  ['rename', PacketType.RENAME],
  ['readlink', PacketType.READLINK],
  ['symlink', PacketType.SYMLINK],
]);

const EXT_NAMES: ReadonlyMap<string, string> = new Map([
  ['posix-rename', ExtensionName.POSIX_RENAME],
  ['statvfs', ExtensionName.STATVFS],
  ['fstatvfs', ExtensionName.FSTATVFS],
  ['fsync', ExtensionName.FSYNC],
  ['limits', ExtensionName.LIMITS],
  ['expand-path', ExtensionName.EXPAND_PATH],
  ['home-directory', ExtensionName.HOME_DIRECTORY],
  ['copy-data', ExtensionName.COPY_DATA],
  ['check-file-name', ExtensionName.CHECK_FILE_NAME],
]);

/** Encodes a request (INIT included) as one framed message. */
export function encodeRequest(req: SftpRequest): Buffer {
  if (req.kind === 'init') return new Writer(9).u8(PacketType.INIT).u32(req.version).finish();
  const w = new Writer(requestCapacity(req));
  const type = TYPES.get(req.kind);
  w.u8(type ?? PacketType.EXTENDED).u32(req.id);
  if (type === undefined) w.string(extensionName(req));
  writeFields(w, req);
  return w.finish();
}

function extensionName(req: SftpIdRequest): string {
  if (req.kind === 'unknown-extended') return req.name;
  if (req.kind === 'check-file-handle') return req.legacy ? ExtensionName.CHECK_FILE : ExtensionName.CHECK_FILE_HANDLE;
  return EXT_NAMES.get(req.kind)!;
}

// Room for fixed fields plus every variable part; strings are sized at 3 bytes per unit.
function requestCapacity(req: SftpIdRequest): number {
  let n = 64;
  for (const v of Object.values(req)) {
    if (typeof v === 'string') n += 4 + v.length * 3;
    else if (v instanceof Uint8Array) n += 4 + v.length;
    else if (Array.isArray(v)) n += 4 + v.join(',').length * 3;
    else if (typeof v === 'object' && v !== null) n += attrsSize(v as FileAttrs);
  }
  return n;
}

function writeFields(w: Writer, req: SftpIdRequest): void {
  switch (req.kind) {
    case 'open':
      w.string(req.path).u32(req.pflags);
      return writeAttrs(w, req.attrs);
    case 'read':
      w.bytes(req.handle).u64(req.offset).u32(req.length);
      return;
    case 'write':
      w.bytes(req.handle).u64(req.offset).bytes(req.data);
      return;
    case 'setstat':
    case 'mkdir':
      w.string(req.path);
      return writeAttrs(w, req.attrs);
    case 'fsetstat':
      w.bytes(req.handle);
      return writeAttrs(w, req.attrs);
    case 'rename':
    case 'posix-rename':
      w.string(req.oldPath).string(req.newPath);
      return;
    case 'symlink':
      w.string(req.first).string(req.second);
      return;
    default:
      return writeExtendedFields(w, req);
  }
}

// Plain path/handle requests and extensions: the path or handle (if any) comes first.
function writeExtendedFields(w: Writer, req: SftpIdRequest): void {
  if ('path' in req) w.string(req.path);
  if ('handle' in req) w.bytes(req.handle);
  switch (req.kind) {
    case 'home-directory':
      w.string(req.username);
      return;
    case 'copy-data':
      w.bytes(req.readHandle).u64(req.readOffset).u64(req.readLength).bytes(req.writeHandle).u64(req.writeOffset);
      return;
    case 'check-file-name':
    case 'check-file-handle':
      w.string(req.algorithms.join(',')).u64(req.start).u64(req.length).u32(req.blockSize);
      return;
    case 'unknown-extended':
      w.raw(req.data);
      return;
    default:
      return;
  }
}
