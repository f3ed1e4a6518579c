/**
 * Client side: decodes reply payloads (as PacketFramer yields them) and the payloads of the
 * EXTENDED_REPLYs Coffer's client reads. Malformed input throws SftpCodecError, as on the server.
 */
import { PacketType } from './constants.js';
import { Reader } from './reader.js';
import { readAttrs } from './attrs.js';
import type { FileAttrs } from './attrs.js';
import { STATVFS_FIELDS } from './extended-replies.js';
import type { SftpLimits, StatVfs } from './extended-replies.js';
import type { NameEntry } from './replies.js';

/** Every reply a v3 server sends. Names and messages are decoded leniently (invalid UTF-8 → U+FFFD). */
export type SftpReply =
  | { kind: 'version'; version: number; extensions: Array<[string, string]> }
  | { kind: 'status'; id: number; code: number; message: string; language: string }
  | { kind: 'handle'; id: number; handle: Buffer }
  | { kind: 'data'; id: number; data: Buffer }
  | { kind: 'name'; id: number; entries: NameEntry[] }
  | { kind: 'attrs'; id: number; attrs: FileAttrs }
  | { kind: 'extended-reply'; id: number; data: Buffer };

function text(r: Reader): string {
  return r.bytes().toString('utf8');
}

function readVersion(r: Reader): SftpReply {
  const version = r.u32();
  const extensions: Array<[string, string]> = [];
  while (r.remaining > 0) extensions.push([text(r), text(r)]);
  return { kind: 'version', version, extensions };
}

// Message and language tag are optional before v3 and some servers omit them: default to ''.
function readStatus(r: Reader, id: number): SftpReply {
  const code = r.u32();
  const message = r.remaining > 0 ? text(r) : '';
  const language = r.remaining > 0 ? text(r) : '';
  return { kind: 'status', id, code, message, language };
}

function readName(r: Reader, id: number): SftpReply {
  const count = r.u32();
  // Each entry needs at least 12 bytes: refuse absurd counts before allocating anything.
  if (count > r.remaining / 12) throw r.error('SFTP_ERR_TRUNCATED', `NAME count ${count} exceeds the packet`);
  const entries: NameEntry[] = [];
  for (let i = 0; i < count; i++) entries.push({ filename: text(r), longname: text(r), attrs: readAttrs(r) });
  return { kind: 'name', id, entries };
}

/** Decodes one reply payload (type byte + body); throws SftpCodecError. */
export function decodeReply(payload: Buffer): SftpReply {
  const r = new Reader(payload);
  const type = r.u8();
  if (type === PacketType.VERSION) return readVersion(r);
  r.id = r.u32();
  const id = r.id;
  switch (type) {
    case PacketType.STATUS:
      return readStatus(r, id);
    case PacketType.HANDLE:
      return { kind: 'handle', id, handle: r.handle() };
    case PacketType.DATA:
      return { kind: 'data', id, data: r.bytes() };
    case PacketType.NAME:
      return readName(r, id);
    case PacketType.ATTRS:
      return { kind: 'attrs', id, attrs: readAttrs(r) };
    case PacketType.EXTENDED_REPLY:
      return { kind: 'extended-reply', id, data: r.rest() };
    default:
      throw r.error('SFTP_ERR_UNKNOWN_TYPE', `unknown reply type ${type}`);
  }
}

/** The limits@openssh.com numbers from an EXTENDED_REPLY's data (values above 2^53 are rounded). */
export function decodeLimitsReply(data: Buffer): SftpLimits {
  const r = new Reader(data);
  return {
    maxPacketLength: r.u64Lossy(),
    maxReadLength: r.u64Lossy(),
    maxWriteLength: r.u64Lossy(),
    maxOpenHandles: r.u64Lossy(),
  };
}

/** The statvfs@openssh.com fields from an EXTENDED_REPLY's data (values above 2^53 are rounded). */
export function decodeStatvfsReply(data: Buffer): StatVfs {
  const r = new Reader(data);
  const st = {} as StatVfs;
  for (const f of STATVFS_FIELDS) st[f] = r.u64Lossy();
  return st;
}

/** A check-file reply: the algorithm and the concatenated raw digests. */
export interface CheckFileResult {
  algorithm: string;
  digests: Buffer;
}

/** Decodes check-file reply data; `legacy` skips the leading "check-file" string (paramiko form). */
export function decodeCheckFileReply(data: Buffer, legacy = false): CheckFileResult {
  const r = new Reader(data);
  if (legacy) r.bytes();
  const algorithm = text(r);
  return { algorithm, digests: r.rest() };
}
