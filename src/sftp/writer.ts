/**
 * Builds one SFTP message into one Buffer: the 4-byte length prefix is reserved up front and
 * written by finish(). Size the writer right (the encoders compute exact sizes where cheap) and a
 * message costs one allocation; otherwise the buffer doubles.
 */
import { MAX_MESSAGE_LENGTH } from './constants.js';
import { SftpCodecError } from './errors.js';

const TWO_32 = 0x1_0000_0000;

/** Throws SFTP_ERR_BAD_VALUE unless `n` is an integer in [0, max]. */
export function checkUint(n: number, max: number, what: string): void {
  if (!Number.isInteger(n) || n < 0 || n > max) {
    throw new SftpCodecError('SFTP_ERR_BAD_VALUE', `${what} ${n} is not an integer in [0, ${max}]`);
  }
}

/** Appends SFTP wire types; finish() returns the framed message (length prefix included). */
export class Writer {
  buf: Buffer;
  pos = 4;

  /** `capacity` counts the whole message, length prefix included. */
  constructor(capacity = 256) {
    this.buf = Buffer.allocUnsafe(Math.max(capacity, 16));
  }

  private ensure(n: number): void {
    const need = this.pos + n;
    if (need <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  /** One byte (0–255). */
  u8(v: number): this {
    this.ensure(1);
    this.buf[this.pos++] = v;
    return this;
  }

  /** A uint32; throws SFTP_ERR_BAD_VALUE outside [0, 2^32 - 1]. */
  u32(v: number): this {
    checkUint(v, 0xffff_ffff, 'uint32');
    this.ensure(4);
    this.buf.writeUInt32BE(v, this.pos);
    this.pos += 4;
    return this;
  }

  /** A uint64 from a safe integer; throws SFTP_ERR_BAD_VALUE otherwise. */
  u64(v: number): this {
    checkUint(v, Number.MAX_SAFE_INTEGER, 'uint64');
    this.ensure(8);
    this.buf.writeUInt32BE(Math.floor(v / TWO_32), this.pos);
    this.buf.writeUInt32BE(v >>> 0, this.pos + 4);
    this.pos += 8;
    return this;
  }

  /** A length-prefixed string from raw bytes. */
  bytes(b: Uint8Array): this {
    this.ensure(4 + b.length);
    this.buf.writeUInt32BE(b.length, this.pos);
    this.buf.set(b, this.pos + 4);
    this.pos += 4 + b.length;
    return this;
  }

  /** A length-prefixed UTF-8 string (encoded in place, length written after). */
  string(s: string): this {
    // Worst case is 3 bytes per UTF-16 unit; measure exactly only when that would not fit.
    if (this.pos + 4 + s.length * 3 > this.buf.length) this.ensure(4 + Buffer.byteLength(s, 'utf8'));
    const n = this.buf.write(s, this.pos + 4, 'utf8');
    this.buf.writeUInt32BE(n, this.pos);
    this.pos += 4 + n;
    return this;
  }

  /** Raw bytes with no length prefix. */
  raw(b: Uint8Array): this {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }

  /** Writes the length prefix and returns the message; over 256 KiB throws MESSAGE_TOO_LONG. */
  finish(): Buffer {
    const length = this.pos - 4;
    if (length > MAX_MESSAGE_LENGTH) {
      throw new SftpCodecError('SFTP_ERR_MESSAGE_TOO_LONG', `message of ${length} bytes (max ${MAX_MESSAGE_LENGTH})`);
    }
    this.buf.writeUInt32BE(length, 0);
    return this.buf.subarray(0, this.pos);
  }
}

/** Bytes a string field takes on the wire (4-byte length + UTF-8). */
export function stringSize(s: string): number {
  return 4 + Buffer.byteLength(s, 'utf8');
}
