/**
 * A bounds-checked cursor over one packet payload. Every read past the end throws an
 * SftpCodecError (SFTP_ERR_TRUNCATED) carrying `id` once the caller has set it, so decoders need
 * no try/catch to attach the request id. Strings come back as views (no copy) or strict UTF-8.
 */
import { isUtf8 } from 'node:buffer';
import { MAX_HANDLE_LENGTH } from './constants.js';
import { SftpCodecError } from './errors.js';
import type { SftpCodecErrorCode } from './errors.js';

const TWO_32 = 0x1_0000_0000;
// The high word of 2^53 - 1: anything above this is not a safe integer.
const MAX_SAFE_HIGH = 0x1f_ffff;
const EMPTY = Buffer.alloc(0);

/** Reads SFTP wire types from a Buffer, left to right. Reusable: call reset() per packet. */
export class Reader {
  buf: Buffer = EMPTY;
  pos = 0;
  /** The request id once read; attached to every error thrown afterwards. */
  id: number | undefined = undefined;

  constructor(buf?: Buffer) {
    if (buf !== undefined) this.reset(buf);
  }

  /** Start reading `buf` from offset 0 with no id yet. */
  reset(buf: Buffer): this {
    this.buf = buf;
    this.pos = 0;
    this.id = undefined;
    return this;
  }

  /** Drop the reference to the last packet (so a reused reader does not pin a large chunk). */
  release(): void {
    this.buf = EMPTY;
  }

  /** Bytes left to read. */
  get remaining(): number {
    return this.buf.length - this.pos;
  }

  /** An SftpCodecError with this reader's id. */
  error(code: SftpCodecErrorCode, message: string): SftpCodecError {
    return new SftpCodecError(code, message, this.id);
  }

  private need(n: number, what: string): void {
    if (this.buf.length - this.pos < n) {
      throw this.error('SFTP_ERR_TRUNCATED', `packet truncated in ${what} at byte ${this.pos}`);
    }
  }

  /** One byte. */
  u8(): number {
    this.need(1, 'byte');
    return this.buf[this.pos++]!;
  }

  /** A uint32. */
  u32(): number {
    this.need(4, 'uint32');
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  /** A uint64 as an exact number; above 2^53 - 1 throws SFTP_ERR_UNSAFE_INTEGER. */
  u64(): number {
    this.need(8, 'uint64');
    const hi = this.buf.readUInt32BE(this.pos);
    if (hi > MAX_SAFE_HIGH) {
      throw this.error('SFTP_ERR_UNSAFE_INTEGER', `uint64 at byte ${this.pos} is above 2^53 - 1`);
    }
    const lo = this.buf.readUInt32BE(this.pos + 4);
    this.pos += 8;
    return hi * TWO_32 + lo;
  }

  /** A uint64 as a number, rounded above 2^53 (for display-only fields such as statvfs). */
  u64Lossy(): number {
    this.need(8, 'uint64');
    const v = this.buf.readUInt32BE(this.pos) * TWO_32 + this.buf.readUInt32BE(this.pos + 4);
    this.pos += 8;
    return v;
  }

  /** A length-prefixed string as a view into the packet (no copy). */
  bytes(): Buffer {
    const n = this.u32();
    this.need(n, 'string');
    const start = this.pos;
    this.pos += n;
    return this.buf.subarray(start, start + n);
  }

  /** A length-prefixed string decoded as strict UTF-8; invalid UTF-8 throws SFTP_ERR_BAD_UTF8. */
  utf8(): string {
    const raw = this.bytes();
    if (!isUtf8(raw)) {
      throw this.error('SFTP_ERR_BAD_UTF8', 'string is not valid UTF-8');
    }
    return raw.toString('utf8');
  }

  /** A length-prefixed string decoded leniently (invalid UTF-8 becomes U+FFFD): replies' texts. */
  text(): string {
    return this.bytes().toString('utf8');
  }

  /** A handle: an opaque view of at most 256 bytes, else SFTP_ERR_HANDLE_TOO_LONG. */
  handle(): Buffer {
    const h = this.bytes();
    if (h.length > MAX_HANDLE_LENGTH) {
      throw this.error('SFTP_ERR_HANDLE_TOO_LONG', `handle of ${h.length} bytes (max 256)`);
    }
    return h;
  }

  /** Everything left, as a view. */
  rest(): Buffer {
    const start = this.pos;
    this.pos = this.buf.length;
    return this.buf.subarray(start);
  }
}
