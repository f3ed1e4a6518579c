/**
 * Encoders for the server's replies. Each returns one framed message (length prefix included),
 * built in one allocation sized exactly, ready for channel.write(). DATA has a second, zero-copy
 * form: read the file straight into a buffer after a reserved header (allocDataReply).
 */
import { PacketType, statusMessage } from './constants.js';
import { attrsSize, writeAttrs } from './attrs.js';
import type { FileAttrs } from './attrs.js';
import { Writer, checkUint, stringSize } from './writer.js';

/** One entry of a NAME reply. */
export interface NameEntry {
  filename: string;
  longname: string;
  attrs: FileAttrs;
}

/** SSH_FXP_VERSION with extension (name, data) pairs in order. */
export function encodeVersion(version: number, extensions: ReadonlyArray<readonly [string, string]> = []): Buffer {
  let size = 9;
  for (const [name, data] of extensions) size += stringSize(name) + stringSize(data);
  const w = new Writer(size).u8(PacketType.VERSION).u32(version);
  for (const [name, data] of extensions) w.string(name).string(data);
  return w.finish();
}

/** SSH_FXP_STATUS; the message defaults to OpenSSH's wording, the language tag is ''. */
export function encodeStatus(id: number, code: number, message: string = statusMessage(code), language = ''): Buffer {
  const size = 13 + stringSize(message) + stringSize(language);
  return new Writer(size).u8(PacketType.STATUS).u32(id).u32(code).string(message).string(language).finish();
}

/** SSH_FXP_HANDLE. */
export function encodeHandle(id: number, handle: Uint8Array): Buffer {
  return new Writer(13 + handle.length).u8(PacketType.HANDLE).u32(id).bytes(handle).finish();
}

/** SSH_FXP_DATA, copying `data` once into the message. */
export function encodeData(id: number, data: Uint8Array): Buffer {
  return new Writer(DATA_HEADER_LENGTH + data.length).u8(PacketType.DATA).u32(id).bytes(data).finish();
}

/** Bytes before the payload in a DATA message: length, type, id, data length. */
export const DATA_HEADER_LENGTH = 13;

/** A buffer for a DATA reply of up to `maxData` bytes: read the payload in at DATA_HEADER_LENGTH. */
export function allocDataReply(maxData: number): Buffer {
  return Buffer.allocUnsafe(DATA_HEADER_LENGTH + maxData);
}

/** Writes the DATA header into `buf` (from allocDataReply) and returns the message view. */
export function finishDataReply(buf: Buffer, id: number, dataLength: number): Buffer {
  checkUint(id, 0xffff_ffff, 'request id');
  checkUint(dataLength, buf.length - DATA_HEADER_LENGTH, 'DATA length');
  buf.writeUInt32BE(dataLength + 9, 0);
  buf[4] = PacketType.DATA;
  buf.writeUInt32BE(id, 5);
  buf.writeUInt32BE(dataLength, 9);
  return buf.subarray(0, DATA_HEADER_LENGTH + dataLength);
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

/** SSH_FXP_ATTRS. */
export function encodeAttrs(id: number, attrs: FileAttrs): Buffer {
  const w = new Writer(9 + attrsSize(attrs)).u8(PacketType.ATTRS).u32(id);
  writeAttrs(w, attrs);
  return w.finish();
}

/** SSH_FXP_EXTENDED_REPLY with a raw, extension-specific payload. */
export function encodeExtendedReply(id: number, payload: Uint8Array): Buffer {
  return new Writer(9 + payload.length).u8(PacketType.EXTENDED_REPLY).u32(id).raw(payload).finish();
}
