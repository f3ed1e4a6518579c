/**
 * Decodes one request payload (type byte + body, as the framer yields it) into an SftpRequest.
 * Errors are SftpCodecErrors carrying the request id once it was read (answer STATUS
 * err.status to err.id); without an id (INIT, or a packet shorter than 5 bytes) they are fatal.
 * Bytes after the last field are ignored, as OpenSSH's sftp-server discards them (process()).
 */
import { PacketType } from './constants.js';
import { SftpCodecError } from './errors.js';
import { Reader } from './reader.js';
import { readAttrs } from './attrs.js';
import { decodeExtended } from './extended-requests.js';
import type { InitRequest, PathRequest, HandleRequest, SftpIdRequest, SftpRequest } from './request-types.js';

type Decoder = (r: Reader, id: number) => SftpIdRequest;

function path(kind: PathRequest['kind']): Decoder {
  return (r, id) => ({ kind, id, path: r.utf8() });
}

function handle(kind: HandleRequest['kind']): Decoder {
  return (r, id) => ({ kind, id, handle: r.handle() });
}

const DECODERS: ReadonlyMap<number, Decoder> = new Map<number, Decoder>([
  [PacketType.OPEN, (r, id) => ({ kind: 'open', id, path: r.utf8(), pflags: r.u32(), attrs: readAttrs(r) })],
  [PacketType.CLOSE, handle('close')],
  [PacketType.READ, (r, id) => ({ kind: 'read', id, handle: r.handle(), offset: r.u64(), length: r.u32() })],
  [PacketType.WRITE, (r, id) => ({ kind: 'write', id, handle: r.handle(), offset: r.u64(), data: r.bytes() })],
  [PacketType.LSTAT, path('lstat')],
  [PacketType.FSTAT, handle('fstat')],
  [PacketType.SETSTAT, (r, id) => ({ kind: 'setstat', id, path: r.utf8(), attrs: readAttrs(r) })],
  [PacketType.FSETSTAT, (r, id) => ({ kind: 'fsetstat', id, handle: r.handle(), attrs: readAttrs(r) })],
  [PacketType.OPENDIR, path('opendir')],
  [PacketType.READDIR, handle('readdir')],
  [PacketType.REMOVE, path('remove')],
  [PacketType.MKDIR, (r, id) => ({ kind: 'mkdir', id, path: r.utf8(), attrs: readAttrs(r) })],
  [PacketType.RMDIR, path('rmdir')],
  // A v6 control byte and compose-path strings may follow; v3 ignores them.
  [PacketType.REALPATH, path('realpath')],
  [PacketType.STAT, path('stat')],
  [PacketType.RENAME, (r, id) => ({ kind: 'rename', id, oldPath: r.utf8(), newPath: r.utf8() })],
  [PacketType.READLINK, path('readlink')],
  [PacketType.SYMLINK, (r, id) => ({ kind: 'symlink', id, first: r.utf8(), second: r.utf8() })],
  [PacketType.EXTENDED, decodeExtended],
]);

// One reader for every packet: decoding is synchronous, so it is never shared.
const reader = new Reader();

/** Decodes a request payload; throws SftpCodecError (see the module comment). */
export function decodeRequest(payload: Buffer): SftpRequest {
  const r = reader.reset(payload);
  try {
    const type = r.u8();
    if (type === PacketType.INIT) return { kind: 'init', version: r.u32() };
    const decode = DECODERS.get(type);
    r.id = r.u32();
    if (decode === undefined) {
      throw r.error('SFTP_ERR_UNKNOWN_TYPE', `unknown request type ${type}`);
    }
    return decode(r, r.id);
  } finally {
    r.release();
  }
}

/** Decodes the first packet of a session, which must be INIT (else a fatal SFTP_ERR_NOT_INIT). */
export function decodeInit(payload: Buffer): InitRequest {
  if (payload.length === 0 || payload[0] !== PacketType.INIT) {
    const type = payload.length === 0 ? 'an empty packet' : `type ${payload[0]}`;
    throw new SftpCodecError('SFTP_ERR_NOT_INIT', `first packet is ${type}, not INIT`);
  }
  return decodeRequest(payload) as InitRequest;
}
