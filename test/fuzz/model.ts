/**
 * An independent model of what the server must do with a byte stream, written from the protocol
 * rules rather than from src/sftp: 4-byte length prefix, 0 or more than 256 KiB is fatal; the
 * first packet must be INIT (type 1) with its uint32 version; after that a packet of 5 bytes or
 * more carries a request id and must get exactly one reply, a shorter one or a second INIT is
 * fatal. A trailing partial packet gets nothing.
 */

/** The length field's limit (bytes after it), as OpenSSH's SFTP_MAX_MSG_LENGTH. */
export const MAX_PACKET = 256 * 1024;

/** What one chunk of client bytes makes the server owe. */
export interface Expectation {
  /** Request ids that must be answered (one reply per occurrence). */
  ids: number[];
  /** A VERSION reply is owed. */
  version: boolean;
  /** The stream became unanswerable here: the server must close the channel. */
  fatal: string | null;
}

/** Incremental model of the server's framing and INIT rules. */
export class StreamModel {
  private pending: Buffer = Buffer.alloc(0);
  private initialized = false;
  /** Why the stream is dead, once it is. */
  fatal: string | null = null;

  /** Feeds client bytes; returns what the newly completed packets make the server owe. */
  feed(bytes: Uint8Array): Expectation {
    const out: Expectation = { ids: [], version: false, fatal: null };
    if (this.fatal !== null) return out;
    this.pending = this.pending.length === 0 ? Buffer.from(bytes) : Buffer.concat([this.pending, bytes]);
    while (this.pending.length >= 4 && this.fatal === null) {
      const len = this.pending.readUInt32BE(0);
      if (len === 0 || len > MAX_PACKET) {
        this.die(out, `length field ${len}`);
        break;
      }
      if (this.pending.length < 4 + len) break;
      this.packet(this.pending.subarray(4, 4 + len), out);
      this.pending = this.pending.subarray(4 + len);
    }
    return out;
  }

  private packet(p: Buffer, out: Expectation): void {
    if (!this.initialized) {
      if (p[0] !== 1 || p.length < 5) return this.die(out, 'first packet is not a whole INIT');
      this.initialized = true;
      out.version = true;
      return;
    }
    if (p[0] === 1) return this.die(out, 'second INIT');
    if (p.length < 5) return this.die(out, `packet of ${p.length} bytes has no request id`);
    out.ids.push(p.readUInt32BE(1));
  }

  private die(out: Expectation, why: string): void {
    this.fatal = why;
    out.fatal = why;
  }
}
