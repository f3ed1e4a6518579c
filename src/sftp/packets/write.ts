/**
 * SSH_FXP_WRITE (draft-ietf-secsh-filexfer-02 §6.4): handle, offset, data. Encode and decode,
 * plus the header alone for senders that keep the data in place after it (the client's reusable
 * request buffers, client/direct-writes.ts): writeHeaderLength, encodeWriteHeader.
 */
import { PacketType } from '../constants.js';
import type { Reader } from '../reader.js';
import type { WriteRequest } from '../request-types.js';
import type { Writer } from '../writer.js';

const TWO_32 = 0x1_0000_0000;

/** WRITE's body after its id (the data is a view into the packet). */
export function decodeWrite(r: Reader, id: number): WriteRequest {
  return { kind: 'write', id, handle: r.handle(), offset: r.u64(), data: r.bytes() };
}

/** Appends WRITE's body. */
export function writeWrite(w: Writer, req: WriteRequest): void {
  w.bytes(req.handle).u64(req.offset).bytes(req.data);
}

/** Bytes before the data in a WRITE on a handle of `handleLength` bytes, length field included. */
export function writeHeaderLength(handleLength: number): number {
  return 4 + 1 + 4 + 4 + handleLength + 8 + 4;
}

/**
 * Writes a WRITE's header (length field included) into `buf` at 0, for `dataLength` bytes of data
 * that follow it at writeHeaderLength(handle.length). The same bytes as encodeRequest's, with no
 * allocation and no range checks: the caller passes a uint32 id and length and a safe offset.
 */
export function encodeWriteHeader(buf: Buffer, id: number, handle: Buffer, offset: number, dataLength: number): void {
  const head = writeHeaderLength(handle.length);
  buf.writeUInt32BE(head - 4 + dataLength, 0);
  buf[4] = PacketType.WRITE;
  buf.writeUInt32BE(id, 5);
  buf.writeUInt32BE(handle.length, 9);
  handle.copy(buf, 13);
  const p = 13 + handle.length;
  buf.writeUInt32BE(Math.floor(offset / TWO_32), p);
  buf.writeUInt32BE(offset >>> 0, p + 4);
  buf.writeUInt32BE(dataLength, p + 8);
}
