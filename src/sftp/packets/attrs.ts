/**
 * ATTRS (draft-ietf-secsh-filexfer-02 §5): a flags word, then only the fields it announces.
 * Unknown flag bits are ignored, as OpenSSH's decode_attrib does. The structure (read and
 * written inside OPEN, SETSTAT, NAME ...) and the SSH_FXP_ATTRS reply, encode and decode.
 */
import { AttrFlags, MAX_ATTR_EXTENSIONS, PacketType } from '../constants.js';
import type { Reader } from '../reader.js';
import { Writer } from '../writer.js';

/** One vendor (type, data) pair of an ATTRS with the EXTENDED flag. */
export interface AttrExtension {
  type: string;
  data: Buffer;
}

/**
 * File attributes; absent fields are not on the wire. uid/gid travel together (UIDGID) and so do
 * atime/mtime (ACMODTIME): the encoder sends a pair only when both halves are present.
 * `permissions` is the full st_mode (file type bits included); times are Unix seconds.
 */
export interface FileAttrs {
  size?: number;
  uid?: number;
  gid?: number;
  permissions?: number;
  atime?: number;
  mtime?: number;
  extended?: AttrExtension[];
}

/** Reads an ATTRS; a size above 2^53 - 1 or too many extended pairs is an SftpCodecError. */
export function readAttrs(r: Reader): FileAttrs {
  const flags = r.u32();
  const a: FileAttrs = {};
  if (flags & AttrFlags.SIZE) a.size = r.u64();
  if (flags & AttrFlags.UIDGID) {
    a.uid = r.u32();
    a.gid = r.u32();
  }
  if (flags & AttrFlags.PERMISSIONS) a.permissions = r.u32();
  if (flags & AttrFlags.ACMODTIME) {
    a.atime = r.u32();
    a.mtime = r.u32();
  }
  if (flags & AttrFlags.EXTENDED) a.extended = readExtensions(r);
  return a;
}

function readExtensions(r: Reader): AttrExtension[] {
  const count = r.u32();
  if (count > MAX_ATTR_EXTENSIONS) {
    throw r.error('SFTP_ERR_TOO_MANY_ATTR_EXTENSIONS', `${count} ATTRS extensions (max ${MAX_ATTR_EXTENSIONS})`);
  }
  const out: AttrExtension[] = [];
  for (let i = 0; i < count; i++) out.push({ type: r.utf8(), data: r.bytes() });
  return out;
}

/** The flags word `attrs` encodes to. */
export function attrFlags(a: FileAttrs): number {
  let flags = 0;
  if (a.size !== undefined) flags |= AttrFlags.SIZE;
  if (a.uid !== undefined && a.gid !== undefined) flags |= AttrFlags.UIDGID;
  if (a.permissions !== undefined) flags |= AttrFlags.PERMISSIONS;
  if (a.atime !== undefined && a.mtime !== undefined) flags |= AttrFlags.ACMODTIME;
  if (a.extended !== undefined && a.extended.length > 0) flags |= AttrFlags.EXTENDED;
  return flags >>> 0;
}

/** Bytes `attrs` takes on the wire. */
export function attrsSize(a: FileAttrs): number {
  const flags = attrFlags(a);
  let n = 4;
  if (flags & AttrFlags.SIZE) n += 8;
  if (flags & AttrFlags.UIDGID) n += 8;
  if (flags & AttrFlags.PERMISSIONS) n += 4;
  if (flags & AttrFlags.ACMODTIME) n += 8;
  if (flags & AttrFlags.EXTENDED) {
    n += 4;
    for (const e of a.extended!) n += 8 + Buffer.byteLength(e.type) + e.data.length;
  }
  return n;
}

/** Appends `attrs`; values out of range throw SftpCodecError SFTP_ERR_BAD_VALUE. */
export function writeAttrs(w: Writer, a: FileAttrs): void {
  const flags = attrFlags(a);
  w.u32(flags);
  if (flags & AttrFlags.SIZE) w.u64(a.size!);
  if (flags & AttrFlags.UIDGID) w.u32(a.uid!).u32(a.gid!);
  if (flags & AttrFlags.PERMISSIONS) w.u32(a.permissions!);
  if (flags & AttrFlags.ACMODTIME) w.u32(a.atime!).u32(a.mtime!);
  if (flags & AttrFlags.EXTENDED) {
    w.u32(a.extended!.length);
    for (const e of a.extended!) w.string(e.type).bytes(e.data);
  }
}

/** The fields of a node:fs Stats that attrsFromStats() reads. */
export interface StatsLike {
  size: number;
  uid: number;
  gid: number;
  mode: number;
  atimeMs: number;
  mtimeMs: number;
}

const MAX_U32 = 0xffff_ffff;

function clampU32(n: number): number {
  return n <= 0 ? 0 : n >= MAX_U32 ? MAX_U32 : Math.floor(n);
}

/** Full ATTRS for a stat result, as OpenSSH's stat_to_attrib; times clamped to uint32 seconds. */
export function attrsFromStats(st: StatsLike): FileAttrs {
  return {
    size: Math.min(Math.max(st.size, 0), Number.MAX_SAFE_INTEGER),
    uid: clampU32(st.uid),
    gid: clampU32(st.gid),
    permissions: clampU32(st.mode),
    atime: clampU32(st.atimeMs / 1000),
    mtime: clampU32(st.mtimeMs / 1000),
  };
}

/** A decoded ATTRS reply. */
export interface AttrsReply {
  kind: 'attrs';
  id: number;
  attrs: FileAttrs;
}

/** SSH_FXP_ATTRS. */
export function encodeAttrs(id: number, attrs: FileAttrs): Buffer {
  const w = new Writer(9 + attrsSize(attrs)).u8(PacketType.ATTRS).u32(id);
  writeAttrs(w, attrs);
  return w.finish();
}

/** An ATTRS reply's body after its id. */
export function decodeAttrsReply(r: Reader, id: number): AttrsReply {
  return { kind: 'attrs', id, attrs: readAttrs(r) };
}
