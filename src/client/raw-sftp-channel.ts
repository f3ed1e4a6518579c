/**
 * A second `sftp` channel spoken with Coffer's own codec (src/sftp/packets/), for requests
 * ssh2's client cannot make: it sends no arbitrary EXTENDED requests and drops the payload of
 * EXTENDED_REPLYs it does not know, so check-file goes through here.
 */
import type { Client, ClientChannel } from 'ssh2';
import { SFTP_VERSION } from '../sftp/constants.js';
import { decodeReply, encodeRequest, type SftpReply } from '../sftp/packets/packet.js';
import { encodeInit } from '../sftp/packets/version.js';
import { PacketFramer } from '../sftp/framing.js';
import type { SftpIdRequest } from '../sftp/request-types.js';
import { ClientError } from './errors.js';

type Pending = { resolve(reply: SftpReply): void; reject(err: Error): void };

/** An SFTP v3 session on its own channel; requests resolve with their decoded reply. */
export class RawSftpChannel {
  private readonly framer = new PacketFramer();
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private failure: Error | null = null;
  private versionWaiter: Pending | null = null;
  /** The extensions of the server's VERSION. */
  extensions = new Map<string, string>();

  private constructor(private readonly channel: ClientChannel) {
    channel.on('data', (chunk: Buffer) => this.onData(chunk));
    channel.on('close', () => this.fail(new ClientError('COFFER_CHANNEL', 'the checksum channel closed')));
    channel.on('error', (err: Error) => this.fail(err));
    channel.stderr.resume();
  }

  /** Opens the subsystem and exchanges INIT/VERSION. */
  static async open(ssh: Client): Promise<RawSftpChannel> {
    const channel = await new Promise<ClientChannel>((resolve, reject) => ssh.subsys('sftp', (err, ch) => (err ? reject(err) : resolve(ch))));
    const raw = new RawSftpChannel(channel);
    const version = await new Promise<SftpReply>((resolve, reject) => {
      raw.versionWaiter = { resolve, reject };
      channel.write(encodeInit(SFTP_VERSION));
    });
    if (version.kind === 'version') raw.extensions = new Map(version.extensions);
    return raw;
  }

  /** Sends one request built for a fresh id and resolves with its reply. */
  request(build: (id: number) => SftpIdRequest): Promise<SftpReply> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.channel.write(encodeRequest(build(id)));
    });
  }

  /** Closes the channel. */
  close(): void {
    this.channel.end();
  }

  private onData(chunk: Buffer): void {
    try {
      this.framer.push(chunk, (payload) => this.onReply(decodeReply(Buffer.from(payload))));
    } catch (err) {
      this.fail(err as Error);
      this.channel.close();
    }
  }

  private onReply(reply: SftpReply): void {
    if (reply.kind === 'version') {
      this.versionWaiter?.resolve(reply);
      this.versionWaiter = null;
      return;
    }
    const waiter = this.pending.get(reply.id);
    this.pending.delete(reply.id);
    waiter?.resolve(reply);
  }

  private fail(err: Error): void {
    this.failure ??= err;
    this.versionWaiter?.reject(err);
    this.versionWaiter = null;
    for (const waiter of this.pending.values()) waiter.reject(err);
    this.pending.clear();
  }
}
