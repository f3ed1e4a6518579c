/**
 * A read and its answer: SSH_FXP_READ (handle, offset, length) and SSH_FXP_DATA (the bytes).
 * Encode and decode, plus the fast forms both sides use on bulk data: the server reads a file
 * straight into a buffer after a reserved DATA header (allocDataReply, finishDataReply), the
 * client copies a DATA reply's bytes straight into its READ's buffer once it has read the header
 * (dataReplyLength).
 */
import { PacketType } from '../constants.js';
import type { Reader } from '../reader.js';
import type { ReadRequest } from '../request-types.js';
import { Writer, checkUint } from '../writer.js';

/** READ's body after its id. */
export function decodeRead(r: Reader, id: number): ReadRequest {
  return { kind: 'read', id, handle: r.handle(), offset: r.u64(), length: r.u32() };
}

/** Appends READ's body. */
export function writeRead(w: Writer, req: ReadRequest): void {
  w.bytes(req.handle).u64(req.offset).u32(req.length);
}

/** A decoded DATA reply (the data is a view into the packet). */
export interface DataReply {
  kind: 'data';
  id: number;
  data: Buffer;
}

/** Bytes before the payload in a DATA message: length, type, id, data length. */
export const DATA_HEADER_LENGTH = 13;

/** SSH_FXP_DATA, copying `data` once into the message. */
export function encodeData(id: number, data: Uint8Array): Buffer {
  return new Writer(DATA_HEADER_LENGTH + data.length).u8(PacketType.DATA).u32(id).bytes(data).finish();
}

/** A DATA body after its id. */
export function decodeData(r: Reader, id: number): DataReply {
  return { kind: 'data', id, data: r.bytes() };
}

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

/**
 * The first DATA_HEADER_LENGTH bytes of a message (length field included): the data length when
 * it is a DATA reply whose data length agrees with its length field (the data is all that
 * follows), else -1. Its id is messageId(head).
 */
export function dataReplyLength(head: Buffer): number {
  if (head[4] !== PacketType.DATA) return -1;
  const dataLength = head.readUInt32BE(9);
  return dataLength + 9 === head.readUInt32BE(0) ? dataLength : -1;
}

/** The request id of a framed message other than INIT and VERSION (after length and type). */
export function messageId(head: Buffer): number {
  return head.readUInt32BE(5);
}
