/**
 * SSH_FXP_EXTENDED_REPLY and the payloads of the extensions Coffer implements (limits, statvfs,
 * check-file), encode and decode. The NAME-shaped answers (expand-path@openssh.com,
 * home-directory) are encodePathName's (name.ts).
 */
import { PacketType } from '../constants.js';
import { Reader } from '../reader.js';
import { Writer, stringSize } from '../writer.js';

/** A decoded EXTENDED_REPLY: its raw, extension-specific payload (a view into the packet). */
export interface ExtendedReply {
  kind: 'extended-reply';
  id: number;
  data: Buffer;
}

/** SSH_FXP_EXTENDED_REPLY with a raw, extension-specific payload. */
export function encodeExtendedReply(id: number, payload: Uint8Array): Buffer {
  return new Writer(9 + payload.length).u8(PacketType.EXTENDED_REPLY).u32(id).raw(payload).finish();
}

/** An EXTENDED_REPLY body after its id. */
export function decodeExtendedReply(r: Reader, id: number): ExtendedReply {
  return { kind: 'extended-reply', id, data: r.rest() };
}

/** The four numbers of limits@openssh.com (OpenSSH PROTOCOL §4.8). */
export interface SftpLimits {
  maxPacketLength: number;
  maxReadLength: number;
  maxWriteLength: number;
  /** 0 = unknown / no limit. */
  maxOpenHandles: number;
}

/** The eleven statvfs@openssh.com fields (OpenSSH PROTOCOL §4.4), in wire order. */
export interface StatVfs {
  bsize: number;
  frsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  favail: number;
  fsid: number;
  flag: number;
  namemax: number;
}

/** The wire order of the StatVfs fields. */
export const STATVFS_FIELDS: ReadonlyArray<keyof StatVfs> = [
  'bsize',
  'frsize',
  'blocks',
  'bfree',
  'bavail',
  'files',
  'ffree',
  'favail',
  'fsid',
  'flag',
  'namemax',
];

/** EXTENDED_REPLY for limits@openssh.com: four uint64. */
export function encodeLimitsReply(id: number, l: SftpLimits): Buffer {
  return new Writer(9 + 32)
    .u8(PacketType.EXTENDED_REPLY)
    .u32(id)
    .u64(l.maxPacketLength)
    .u64(l.maxReadLength)
    .u64(l.maxWriteLength)
    .u64(l.maxOpenHandles)
    .finish();
}

/** EXTENDED_REPLY for statvfs@openssh.com / fstatvfs@openssh.com: eleven uint64. */
export function encodeStatvfsReply(id: number, st: StatVfs): Buffer {
  const w = new Writer(9 + 88).u8(PacketType.EXTENDED_REPLY).u32(id);
  for (const f of STATVFS_FIELDS) w.u64(st[f]);
  return w.finish();
}

/**
 * EXTENDED_REPLY for check-file: string algorithm, then the raw digests concatenated (the draft,
 * ProFTPD and WinSCP). With `legacy` (paramiko's `check-file` request) the string "check-file"
 * comes first, since paramiko's SFTPFile.check reads and skips it before the algorithm.
 */
export function encodeCheckFileReply(
  id: number,
  algorithm: string,
  digests: Uint8Array | readonly Uint8Array[],
  legacy = false,
): Buffer {
  const parts = digests instanceof Uint8Array ? [digests] : digests;
  let size = 9 + stringSize(algorithm) + (legacy ? stringSize('check-file') : 0);
  for (const d of parts) size += d.length;
  const w = new Writer(size).u8(PacketType.EXTENDED_REPLY).u32(id);
  if (legacy) w.string('check-file');
  w.string(algorithm);
  for (const d of parts) w.raw(d);
  return w.finish();
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
  const algorithm = r.text();
  return { algorithm, digests: r.rest() };
}
