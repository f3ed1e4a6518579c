/**
 * EXTENDED_REPLY messages of the extensions Coffer implements. The NAME-shaped answers
 * (expand-path@openssh.com, home-directory) use encodePathName from replies.ts.
 */
import { PacketType } from './constants.js';
import { Writer, stringSize } from './writer.js';

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
