/**
 * SSH_FXP_EXTENDED bodies: the extension name, then its fields (OpenSSH PROTOCOL §4 for the
 * @openssh.com ones, draft-ietf-secsh-filexfer-extensions for check-file, paramiko for the
 * legacy `check-file`). Encode and decode. A name Coffer does not know decodes to
 * `unknown-extended`, never an error. Their answers are in extended-reply.ts.
 */
import { ExtensionName } from '../constants.js';
import type { Reader } from '../reader.js';
import type { CheckFileHandleRequest, SftpIdRequest } from '../request-types.js';
import type { Writer } from '../writer.js';
import { writeRename } from './path.js';

type ExtDecoder = (r: Reader, id: number) => SftpIdRequest;

function checkFileHandle(legacy: boolean): ExtDecoder {
  return (r, id): CheckFileHandleRequest => ({
    kind: 'check-file-handle',
    id,
    handle: r.handle(),
    algorithms: r.utf8().split(','),
    start: r.u64(),
    length: r.u64(),
    blockSize: r.u32(),
    legacy,
  });
}

/** Each extension Coffer decodes: its wire name, the request kind and the decoder of its fields. */
const EXTENSIONS: ReadonlyArray<readonly [string, SftpIdRequest['kind'], ExtDecoder]> = [
  [ExtensionName.POSIX_RENAME, 'posix-rename', (r, id) => ({ kind: 'posix-rename', id, oldPath: r.utf8(), newPath: r.utf8() })],
  [ExtensionName.STATVFS, 'statvfs', (r, id) => ({ kind: 'statvfs', id, path: r.utf8() })],
  [ExtensionName.FSTATVFS, 'fstatvfs', (r, id) => ({ kind: 'fstatvfs', id, handle: r.handle() })],
  [ExtensionName.FSYNC, 'fsync', (r, id) => ({ kind: 'fsync', id, handle: r.handle() })],
  [ExtensionName.LIMITS, 'limits', (_r, id) => ({ kind: 'limits', id })],
  [ExtensionName.EXPAND_PATH, 'expand-path', (r, id) => ({ kind: 'expand-path', id, path: r.utf8() })],
  [ExtensionName.HOME_DIRECTORY, 'home-directory', (r, id) => ({ kind: 'home-directory', id, username: r.utf8() })],
  [
    ExtensionName.COPY_DATA,
    'copy-data',
    (r, id) => ({
      kind: 'copy-data',
      id,
      readHandle: r.handle(),
      readOffset: r.u64(),
      readLength: r.u64(),
      writeHandle: r.handle(),
      writeOffset: r.u64(),
    }),
  ],
  [
    ExtensionName.CHECK_FILE_NAME,
    'check-file-name',
    (r, id) => ({
      kind: 'check-file-name',
      id,
      path: r.utf8(),
      algorithms: r.utf8().split(','),
      start: r.u64(),
      length: r.u64(),
      blockSize: r.u32(),
    }),
  ],
  [ExtensionName.CHECK_FILE_HANDLE, 'check-file-handle', checkFileHandle(false)],
  [ExtensionName.CHECK_FILE, 'check-file-handle', checkFileHandle(true)],
];

const EXT_DECODERS: ReadonlyMap<string, ExtDecoder> = new Map(EXTENSIONS.map(([name, , decode]) => [name, decode]));

/** Decodes the body of an EXTENDED request whose id was already read. */
export function decodeExtended(r: Reader, id: number): SftpIdRequest {
  const nameBytes = r.bytes();
  // Match on the raw bytes' latin1 form: no UTF-8 failure can hide an unknown name.
  const name = nameBytes.toString('latin1');
  const decode = EXT_DECODERS.get(name);
  if (decode === undefined) {
    return { kind: 'unknown-extended', id, name: nameBytes.toString('utf8'), data: r.rest() };
  }
  return decode(r, id);
}

/** Kind -> wire name; paramiko's legacy `check-file` is chosen by the request's `legacy` flag. */
const EXT_NAMES: ReadonlyMap<string, string> = new Map(EXTENSIONS.filter(([name]) => name !== ExtensionName.CHECK_FILE).map(([name, kind]) => [kind, name]));

function extensionName(req: SftpIdRequest): string {
  if (req.kind === 'unknown-extended') return req.name;
  if (req.kind === 'check-file-handle') return req.legacy ? ExtensionName.CHECK_FILE : ExtensionName.CHECK_FILE_HANDLE;
  return EXT_NAMES.get(req.kind)!;
}

/** Appends an EXTENDED body (the extension name, then its fields) for a request of an extension kind. */
export function writeExtended(w: Writer, req: SftpIdRequest): void {
  w.string(extensionName(req));
  if (req.kind === 'posix-rename') return writeRename(w, req);
  // The path or handle (if any) comes first.
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
