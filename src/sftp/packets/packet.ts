/**
 * The packet type tables, both directions: decodeRequest / encodeRequest (every request, INIT
 * included, the exact inverses of each other) and decodeReply (every reply a v3 server sends).
 * The fields of each packet are its family's file (open.ts, data.ts, write.ts, status.ts ...).
 *
 * Decoding takes a payload (type byte + body, as PacketFramer yields it); encoding returns one
 * framed message. Errors are SftpCodecErrors carrying the request id once it was read (the server
 * answers STATUS err.status to err.id); without an id (INIT, or a packet shorter than 5 bytes)
 * they are fatal. Bytes after a request's last field are ignored, as OpenSSH's sftp-server
 * discards them (process()).
 */
import { PacketType } from '../constants.js';
import { SftpCodecError } from '../errors.js';
import { Reader } from '../reader.js';
import type { InitRequest, SftpIdRequest, SftpRequest } from '../request-types.js';
import { Writer } from '../writer.js';
import { attrsSize, decodeAttrsReply, type AttrsReply, type FileAttrs } from './attrs.js';
import { decodeData, decodeRead, writeRead, type DataReply } from './data.js';
import { decodeExtended, writeExtended } from './extended.js';
import { decodeExtendedReply, type ExtendedReply } from './extended-reply.js';
import { decodeFsetstat, decodeHandle, handleRequest, writeFsetstat, type HandleReply } from './handle.js';
import { decodeName, type NameReply } from './name.js';
import { decodeOpen, writeOpen } from './open.js';
import { decodeRename, decodeSymlink, pathAttrsRequest, pathRequest, writePathAttrs, writeRename, writeSymlink } from './path.js';
import { decodeStatus, type StatusReply } from './status.js';
import { decodeInit as decodeInitBody, decodeVersion, encodeInit, type VersionReply } from './version.js';
import { decodeWrite, writeWrite } from './write.js';

type Decoder = (r: Reader, id: number) => SftpIdRequest;

/** Each request with a type of its own: its kind, its type number and its body's decoder. */
const REQUESTS: ReadonlyArray<readonly [SftpIdRequest['kind'], number, Decoder]> = [
  ['open', PacketType.OPEN, decodeOpen],
  ['close', PacketType.CLOSE, handleRequest('close')],
  ['read', PacketType.READ, decodeRead],
  ['write', PacketType.WRITE, decodeWrite],
  ['lstat', PacketType.LSTAT, pathRequest('lstat')],
  ['fstat', PacketType.FSTAT, handleRequest('fstat')],
  ['setstat', PacketType.SETSTAT, pathAttrsRequest('setstat')],
  ['fsetstat', PacketType.FSETSTAT, decodeFsetstat],
  ['opendir', PacketType.OPENDIR, pathRequest('opendir')],
  ['readdir', PacketType.READDIR, handleRequest('readdir')],
  ['remove', PacketType.REMOVE, pathRequest('remove')],
  ['mkdir', PacketType.MKDIR, pathAttrsRequest('mkdir')],
  ['rmdir', PacketType.RMDIR, pathRequest('rmdir')],
  ['realpath', PacketType.REALPATH, pathRequest('realpath')],
  ['stat', PacketType.STAT, pathRequest('stat')],
  ['rename', PacketType.RENAME, decodeRename],
  ['readlink', PacketType.READLINK, pathRequest('readlink')],
  ['symlink', PacketType.SYMLINK, decodeSymlink],
];

/** Type number -> decoder; every extension is an EXTENDED (extended.ts). */
const DECODERS: ReadonlyMap<number, Decoder> = new Map([...REQUESTS.map(([, type, decode]) => [type, decode] as const), [PacketType.EXTENDED, decodeExtended]]);

/** Kind -> type number, for the kinds that are not extensions. */
const TYPES: ReadonlyMap<string, number> = new Map(REQUESTS.map(([kind, type]) => [kind, type]));

// One reader for every request: decoding is synchronous, so it is never shared.
const reader = new Reader();

/** Decodes a request payload; throws SftpCodecError (see the module comment). */
export function decodeRequest(payload: Buffer): SftpRequest {
  const r = reader.reset(payload);
  try {
    const type = r.u8();
    if (type === PacketType.INIT) return decodeInitBody(r);
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

/** Encodes a request (INIT included) as one framed message: the inverse of decodeRequest. */
export function encodeRequest(req: SftpRequest): Buffer {
  if (req.kind === 'init') return encodeInit(req.version);
  const w = new Writer(requestCapacity(req));
  const type = TYPES.get(req.kind);
  w.u8(type ?? PacketType.EXTENDED).u32(req.id);
  if (type === undefined) writeExtended(w, req);
  else writeFields(w, req);
  return w.finish();
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

// The body of a request with a type of its own (not EXTENDED).
function writeFields(w: Writer, req: SftpIdRequest): void {
  switch (req.kind) {
    case 'open':
      return writeOpen(w, req);
    case 'read':
      return writeRead(w, req);
    case 'write':
      return writeWrite(w, req);
    case 'setstat':
    case 'mkdir':
      return writePathAttrs(w, req);
    case 'fsetstat':
      return writeFsetstat(w, req);
    case 'rename':
      return writeRename(w, req);
    case 'symlink':
      return writeSymlink(w, req);
    default:
      // A path or a handle alone.
      if ('path' in req) w.string(req.path);
      if ('handle' in req) w.bytes(req.handle);
  }
}

/** Every reply a v3 server sends. Names and messages are decoded leniently (invalid UTF-8 → U+FFFD). */
export type SftpReply = VersionReply | StatusReply | HandleReply | DataReply | NameReply | AttrsReply | ExtendedReply;

type ReplyDecoder = (r: Reader, id: number) => SftpReply;

const REPLY_DECODERS: ReadonlyMap<number, ReplyDecoder> = new Map<number, ReplyDecoder>([
  [PacketType.STATUS, decodeStatus],
  [PacketType.HANDLE, decodeHandle],
  [PacketType.DATA, decodeData],
  [PacketType.NAME, decodeName],
  [PacketType.ATTRS, decodeAttrsReply],
  [PacketType.EXTENDED_REPLY, decodeExtendedReply],
]);

/** Decodes one reply payload (type byte + body); throws SftpCodecError. */
export function decodeReply(payload: Buffer): SftpReply {
  const r = new Reader(payload);
  const type = r.u8();
  if (type === PacketType.VERSION) return decodeVersion(r);
  r.id = r.u32();
  const decode = REPLY_DECODERS.get(type);
  if (decode === undefined) throw r.error('SFTP_ERR_UNKNOWN_TYPE', `unknown reply type ${type}`);
  return decode(r, r.id);
}
