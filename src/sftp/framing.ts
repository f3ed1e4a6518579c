/**
 * Splits the byte stream of an sftp channel into packet payloads (type byte + body). Bounded: it
 * holds at most one partial packet (<= the maximum message length) plus 4 length bytes, and it
 * copies each byte at most once. A packet lying whole inside one chunk is passed on as a view of
 * that chunk (no copy), so callers must not reuse a chunk's memory after push().
 */
import { MAX_MESSAGE_LENGTH } from './constants.js';
import { SftpCodecError } from './errors.js';

/** Receives each complete payload, in stream order. */
export type PacketSink = (payload: Buffer) => void;

/** Incremental SFTP framer; after an error every push() rethrows it (the stream is lost). */
export class PacketFramer {
  private lenBytes = 0;
  private len = 0;
  private pkt: Buffer | undefined = undefined;
  private pktPos = 0;
  private failure: SftpCodecError | undefined = undefined;

  /**
   * `maxLength` bounds the length field (bytes after it); defaults to 256 KiB like OpenSSH.
   * `alloc` gives the buffer for a packet that spans chunks (data-buffers.ts takePacketBuffer
   * pools the large ones; the consumer then owns each payload and may give it back).
   */
  constructor(
    readonly maxLength: number = MAX_MESSAGE_LENGTH,
    private readonly alloc: (length: number) => Buffer = Buffer.allocUnsafe,
  ) {}

  /** Bytes currently held for an incomplete packet (length bytes included). */
  get buffered(): number {
    return this.lenBytes + this.pktPos;
  }

  /** Feeds one chunk; calls `onPacket` for each completed payload; throws SftpCodecError. */
  push(chunk: Buffer, onPacket: PacketSink): void {
    if (this.failure !== undefined) throw this.failure;
    let p = 0;
    while (p < chunk.length) {
      if (this.lenBytes < 4) {
        p = this.readLength(chunk, p);
        if (this.lenBytes < 4) return;
      }
      p = this.readBody(chunk, p, onPacket);
    }
  }

  private readLength(chunk: Buffer, p: number): number {
    while (this.lenBytes < 4 && p < chunk.length) {
      this.len = this.len * 256 + chunk[p++]!;
      this.lenBytes++;
    }
    if (this.lenBytes === 4) this.checkLength();
    return p;
  }

  private checkLength(): void {
    if (this.len === 0) this.fail('SFTP_ERR_EMPTY_PACKET', 'packet length 0');
    if (this.len > this.maxLength) {
      this.fail('SFTP_ERR_PACKET_TOO_LONG', `packet length ${this.len} exceeds ${this.maxLength}`);
    }
  }

  private readBody(chunk: Buffer, p: number, onPacket: PacketSink): number {
    const avail = chunk.length - p;
    if (this.pkt === undefined && avail >= this.len) {
      const payload = chunk.subarray(p, p + this.len);
      p += this.len;
      this.resetPacket();
      onPacket(payload);
      return p;
    }
    this.pkt ??= this.alloc(this.len);
    const n = Math.min(this.len - this.pktPos, avail);
    chunk.copy(this.pkt, this.pktPos, p, p + n);
    this.pktPos += n;
    if (this.pktPos < this.len) return p + n;
    const payload = this.pkt;
    this.resetPacket();
    onPacket(payload);
    return p + n;
  }

  private resetPacket(): void {
    this.lenBytes = 0;
    this.len = 0;
    this.pkt = undefined;
    this.pktPos = 0;
  }

  private fail(code: 'SFTP_ERR_EMPTY_PACKET' | 'SFTP_ERR_PACKET_TOO_LONG', message: string): never {
    this.failure = new SftpCodecError(code, message);
    throw this.failure;
  }
}

/** Convenience for tests and one-shot use: all payloads completed by `chunk`. */
export function framePackets(framer: PacketFramer, chunk: Buffer): Buffer[] {
  const out: Buffer[] = [];
  framer.push(chunk, (payload) => out.push(payload));
  return out;
}
