/**
 * SSH_FXP_NAME (draft-ietf-secsh-filexfer-02 §7): the answer to READDIR, REALPATH, READLINK and
 * the path extensions. Encode and decode; longname.ts builds the longname text.
 */
import { PacketType } from '../constants.js';
import type { Reader } from '../reader.js';
import { Writer, stringSize } from '../writer.js';
import { attrsSize, readAttrs, writeAttrs, type FileAttrs } from './attrs.js';

/** One entry of a NAME reply. */
export interface NameEntry {
  filename: string;
  longname: string;
  attrs: FileAttrs;
}

/** A decoded NAME reply; names are decoded leniently (invalid UTF-8 becomes U+FFFD). */
export interface NameReply {
  kind: 'name';
  id: number;
  entries: NameEntry[];
}

/** Bytes one NAME entry takes on the wire. */
export function nameEntrySize(e: NameEntry): number {
  return stringSize(e.filename) + stringSize(e.longname) + attrsSize(e.attrs);
}

/** SSH_FXP_NAME; over 256 KiB in total throws SFTP_ERR_MESSAGE_TOO_LONG (send fewer entries). */
export function encodeName(id: number, entries: readonly NameEntry[]): Buffer {
  let size = 13;
  for (const e of entries) size += nameEntrySize(e);
  const w = new Writer(size).u8(PacketType.NAME).u32(id).u32(entries.length);
  for (const e of entries) {
    w.string(e.filename).string(e.longname);
    writeAttrs(w, e.attrs);
  }
  return w.finish();
}

/**
 * A NAME with one path and empty attributes, filename = longname = path: OpenSSH's answer to
 * REALPATH, expand-path@openssh.com and home-directory (process_realpath, process_extended_*).
 */
export function encodePathName(id: number, path: string): Buffer {
  return encodeName(id, [{ filename: path, longname: path, attrs: {} }]);
}

/** A NAME body after its id. */
export function decodeName(r: Reader, id: number): NameReply {
  const count = r.u32();
  // Each entry needs at least 12 bytes: refuse absurd counts before allocating anything.
  if (count > r.remaining / 12) throw r.error('SFTP_ERR_TRUNCATED', `NAME count ${count} exceeds the packet`);
  const entries: NameEntry[] = [];
  for (let i = 0; i < count; i++) entries.push({ filename: r.text(), longname: r.text(), attrs: readAttrs(r) });
  return { kind: 'name', id, entries };
}
