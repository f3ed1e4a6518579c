/**
 * One SFTP session on a raw channel: frames packets, answers INIT with VERSION and Coffer's
 * extensions, dispatches requests, and writes replies. Memory stays bounded whatever the client
 * does: at most MAX_INFLIGHT requests (and MAX_INFLIGHT_BYTES of READ/WRITE payload) are served at
 * once, further packets wait in arrival order, and reading from the channel pauses while work is
 * queued or the channel cannot take more replies (so ssh2 stops opening the client's window).
 */
import type { Duplex } from 'node:stream';
import type { FileEventSink } from '../events/events.js';
import type { Logger } from '../util/logger.js';
import type { Vfs } from '../vfs/vfs.js';
import { toVfsError } from '../vfs/vfs-error.js';
import { MAX_READ_WRITE_LENGTH, SFTP_VERSION } from './constants.js';
import type { SftpContext } from './context.js';
import { isPooled, recycleDataBuffer, recyclePacketBuffer, takePacketBuffer } from './data-buffers.js';
import { ADVERTISED_EXTENSIONS, dispatch } from './dispatcher.js';
import { SftpCodecError } from './errors.js';
import { PacketFramer } from './framing.js';
import { HandleTable } from './handle-table.js';
import { fileClosed } from './ops/file-ops.js';
import { encodeStatus } from './packets/status.js';
import { encodeVersion } from './packets/version.js';
import type { SftpIdRequest } from './request-types.js';
import { decodeInit, decodeRequest } from './packets/packet.js';
import { isExpected, toStatus } from './status.js';

/** Requests served at once per session (OpenSSH's client keeps 64 in flight). */
export const MAX_INFLIGHT = 64;
/** READ lengths plus WRITE payloads being served at once per session. */
export const MAX_INFLIGHT_BYTES = 16 * 1024 * 1024;

/** What a session needs from the server. */
export interface SftpSessionOptions {
  vfs: Vfs;
  user: string;
  log: Logger;
  /** Most open handles (maxHandlesPerSession; what limits@openssh.com reports). */
  maxHandles: number;
  /**
   * Aborted when the connection is gone or being ended. ssh2 emits a channel's 'close' only after
   * its 'end', which never comes while the session holds the channel paused (a client that died
   * while replies were waiting for 'drain'): the session would keep its handles open forever.
   */
  signal?: AbortSignal;
  /**
   * Aborted when the peer closed the channel (or the connection ends): no reply will be read, so
   * hash work is dropped at once, even while the session holds the channel paused and so has not
   * seen its 'close' yet. Other requests are still served until teardown.
   */
  closed?: AbortSignal;
  /**
   * Serve reads only: every request that could change the disk answers PERMISSION_DENIED before
   * the Vfs sees it (dispatcher.ts). Nothing in the server sets it yet; it is the switch a
   * read-only user or share would turn on (OpenSSH's sftp-server -R).
   */
  readOnly?: boolean;
  /** Where files opened and closed and namespace changes are reported (default: nowhere). */
  events?: FileEventSink;
}

/** The channel: a byte stream, plus ssh2's exit(status) for the exit-status request. */
export type SftpChannel = Duplex & { exit?(status: number): void };

const ignore: FileEventSink = () => {};

const weight = (req: SftpIdRequest): number =>
  req.kind === 'read' ? Math.min(req.length, MAX_READ_WRITE_LENGTH) : req.kind === 'write' ? req.data.length : 0;

/** Serves SFTP on `channel` until it closes (see SftpSession.done and .busy). */
export function serveSftp(channel: SftpChannel, opts: SftpSessionOptions): SftpSession {
  return new SftpSession(channel, opts);
}

/** A running SFTP session. */
export class SftpSession {
  /** Resolves once the channel has closed and every handle is closed. */
  readonly done: Promise<void>;
  private readonly ctx: SftpContext;
  private readonly framer = new PacketFramer(undefined, takePacketBuffer);
  private readonly queue: Buffer[] = [];
  private initialized = false;
  private inflight = 0;
  private inflightBytes = 0;
  private waitingDrain = false;
  private inputEnded = false;
  private closed = false;
  private tornDown = false;
  private finish!: () => void;
  private readonly signal: AbortSignal | undefined;
  private readonly onAbort = (): void => void this.teardown();
  /** Aborted at teardown or when the peer closed the channel: drops the session's hash work (ctx.signal). */
  private readonly ended = new AbortController();
  private readonly peerClosed: AbortSignal | undefined;
  private readonly onPeerClosed = (): void => this.ended.abort();

  constructor(
    private readonly channel: SftpChannel,
    opts: SftpSessionOptions,
  ) {
    this.ctx = { vfs: opts.vfs, handles: new HandleTable(opts.maxHandles), user: opts.user, log: opts.log, signal: this.ended.signal, readOnly: opts.readOnly ?? false, events: opts.events ?? ignore };
    this.done = new Promise((resolve) => (this.finish = resolve));
    channel.on('data', (chunk: Buffer) => this.onData(chunk));
    channel.on('end', () => {
      this.inputEnded = true;
      this.maybeEnd();
    });
    channel.on('close', () => void this.teardown());
    this.signal = opts.signal;
    if (this.signal?.aborted) queueMicrotask(this.onAbort);
    else this.signal?.addEventListener('abort', this.onAbort, { once: true });
    this.peerClosed = opts.closed;
    if (this.peerClosed?.aborted) this.ended.abort();
    else this.peerClosed?.addEventListener('abort', this.onPeerClosed, { once: true });
    channel.on('error', (err: Error) => opts.log.debug({ event: 'sftp-channel-error', err: err.message }, 'sftp channel error'));
  }

  /** True while a file is open: an upload or download may be under way. */
  get busy(): boolean {
    return this.ctx.handles.size > 0;
  }

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    try {
      this.framer.push(chunk, (payload) => this.queue.push(payload));
    } catch (err) {
      return this.fatal(err);
    }
    this.pump();
  }

  /** Starts queued requests while limits allow; pauses input while anything is left waiting. */
  private pump(): void {
    while (this.queue.length > 0 && !this.closed) {
      if (this.inflight >= MAX_INFLIGHT || this.inflightBytes >= MAX_INFLIGHT_BYTES) break;
      this.handlePacket(this.queue.shift()!);
    }
    const blocked = this.queue.length > 0 || this.waitingDrain;
    if (blocked && !this.channel.isPaused()) this.channel.pause();
    else if (!blocked && this.channel.isPaused() && !this.closed) this.channel.resume();
    this.maybeEnd();
  }

  private handlePacket(payload: Buffer): void {
    let req;
    try {
      req = this.initialized ? decodeRequest(payload) : decodeInit(payload);
    } catch (err) {
      if (err instanceof SftpCodecError && !err.fatal) return this.send(encodeStatus(err.id!, toStatus(err).code, toStatus(err).message));
      return this.fatal(err);
    }
    if (req.kind === 'init') {
      if (this.initialized) return this.fatal(new SftpCodecError('SFTP_ERR_NOT_INIT', 'duplicate INIT'));
      this.initialized = true;
      // Coffer speaks version 3 only; OpenSSH's sftp-server answers 3 whatever the client asks.
      return this.send(encodeVersion(SFTP_VERSION, ADVERTISED_EXTENSIONS));
    }
    this.run(req, payload);
  }

  private run(req: SftpIdRequest, payload: Buffer): void {
    const w = weight(req);
    this.inflight += 1;
    this.inflightBytes += w;
    // One reaction for both outcomes (a catch() and then a then() cost two turns of the microtask
    // queue on every request).
    const finish = (reply: Buffer): void => {
      // A WRITE's data is on disk (or failed) by now: its packet may be reused.
      if (req.kind === 'write') recyclePacketBuffer(payload);
      this.inflight -= 1;
      this.inflightBytes -= w;
      this.send(reply);
      this.pump();
    };
    dispatch(this.ctx, req).then(finish, (err: unknown) => finish(this.failed(req, err)));
  }

  /** The STATUS reply of a request that failed, logged as its error deserves. */
  private failed(req: SftpIdRequest, err: unknown): Buffer {
    const status = toStatus(err);
    if (toVfsError(err).code === 'QUOTA_EXCEEDED') {
      this.ctx.log.info({ event: 'quota.refused', op: req.kind }, 'quota exceeded');
      // A WRITE's refusal is reported by the write operation, which knows the file's path.
      if (req.kind !== 'write') this.ctx.events({ event: 'quota-refused', ...('path' in req && typeof req.path === 'string' ? { path: req.path } : {}) });
    } else {
      const level = isExpected(err) ? 'debug' : 'warn';
      this.ctx.log[level]({ event: 'sftp-error', op: req.kind, status: status.code, err: String((err as Error)?.message ?? err) }, 'request failed');
    }
    return encodeStatus(req.id, status.code, status.message);
  }

  private send(reply: Buffer): void {
    if (this.closed) return;
    const written = isPooled(reply) ? this.channel.write(reply, () => recycleDataBuffer(reply)) : this.channel.write(reply);
    if (!written && !this.waitingDrain) {
      this.waitingDrain = true;
      this.channel.once('drain', () => {
        this.waitingDrain = false;
        this.pump();
      });
    }
  }

  /** After the client's EOF, end our side once every request has been answered. */
  private maybeEnd(): void {
    if (this.inputEnded && !this.closed && this.queue.length === 0 && this.inflight === 0) {
      this.closed = true;
      // As sshd does when sftp-server exits: without an exit status, ssh reports -1 and scp fails.
      this.channel.exit?.(0);
      this.channel.end();
    }
  }

  /** A packet that cannot be answered (bad framing, no INIT, no request id): end the session. */
  private fatal(err: unknown): void {
    this.ctx.log.warn({ event: 'sftp-protocol-error', err: String((err as Error)?.message ?? err) }, 'malformed SFTP input; closing the session');
    this.closed = true;
    this.queue.length = 0;
    this.channel.end();
    this.channel.destroy();
  }

  /** Once, at the channel's close or the connection's end: closes every handle after its queued work. */
  private async teardown(): Promise<void> {
    if (this.tornDown) return;
    this.tornDown = true;
    this.signal?.removeEventListener('abort', this.onAbort);
    this.peerClosed?.removeEventListener('abort', this.onPeerClosed);
    this.closed = true;
    this.queue.length = 0;
    // Before draining: a handle's queued check-file settles once its hash is dropped (a slice
    // being hashed comes back first, so no descriptor is closed under a worker's pread).
    this.ended.abort();
    for (const target of await this.ctx.handles.drain()) {
      if (target.kind === 'file') {
        await target.file.close().catch(() => undefined);
        fileClosed(this.ctx, target, 'interrupted');
      } else await target.dir.close();
    }
    this.finish();
  }
}
