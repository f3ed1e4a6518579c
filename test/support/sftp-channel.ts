/**
 * An in-process stand-in for ssh2's server channel, for serveSftp tests without SSH: requests
 * are encoded with Coffer's client codec and pushed in, replies framed and matched to their ids.
 */
import { Duplex } from 'node:stream';
import { decodeReply, encodeRequest, type SftpReply } from '../../src/sftp/packets/packet.js';
import { PacketFramer } from '../../src/sftp/framing.js';
import type { SftpIdRequest } from '../../src/sftp/request-types.js';

/** A request without its id (the channel numbers requests). */
export type Body = SftpIdRequest extends infer R ? (R extends SftpIdRequest ? Omit<R, 'id'> : never) : never;

/** A channel standing in for ssh2's: requests pushed in, replies framed as they are written. */
export class TestChannel extends Duplex {
  private readonly framer = new PacketFramer(1 << 20);
  private readonly waiting = new Map<number, (r: SftpReply) => void>();
  private versionSeen: ((r: SftpReply) => void) | undefined;
  private nextId = 1;
  override _read(): void {}
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.framer.push(Buffer.from(chunk), (p) => {
      const reply = decodeReply(Buffer.from(p));
      if (reply.kind === 'version') this.versionSeen?.(reply);
      else this.waiting.get(reply.id)?.(reply);
    });
    cb();
  }
  /** Sends INIT; resolves the VERSION reply. */
  init(): Promise<SftpReply> {
    return new Promise((resolve) => {
      this.versionSeen = resolve;
      this.push(encodeRequest({ kind: 'init', version: 3 }));
    });
  }
  /** Sends one request with the next id; resolves its reply. */
  request(body: Body): Promise<SftpReply> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.push(encodeRequest({ ...body, id } as SftpIdRequest));
    });
  }
}
