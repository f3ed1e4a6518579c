/**
 * A tiny raw SFTP client for end-to-end tests: an ssh2 Client opens the `sftp` subsystem and gets
 * the bare byte stream; requests are encoded with Coffer's encodeRequest (or built byte by byte
 * with rawPacket, to send malformed input) and replies are framed and decoded with the codec.
 * Every reply is matched to its request by id; anything unmatched is kept in `unexpected`.
 */
import assert from 'node:assert/strict';
import type { ClientChannel, ConnectConfig } from 'ssh2';
import { decodeReply, encodeRequest, type SftpReply } from '../../src/sftp/packets/packet.js';
import { OpenFlags, StatusCode } from '../../src/sftp/constants.js';
import type { FileAttrs } from '../../src/sftp/packets/attrs.js';
import { PacketFramer } from '../../src/sftp/framing.js';
import type { SftpIdRequest } from '../../src/sftp/request-types.js';
import { connect, type SshClient } from './ssh-clients.js';

/** A request without its id (the client numbers requests itself). */
export type RequestBody = SftpIdRequest extends infer R ? (R extends SftpIdRequest ? Omit<R, 'id'> : never) : never;

/** The reply kinds, narrowed. */
export type VersionReply = Extract<SftpReply, { kind: 'version' }>;
export type StatusReply = Extract<SftpReply, { kind: 'status' }>;

export { OpenFlags, StatusCode };

/** One raw SFTP session on its own ssh2 connection (or on a shared one, see RawSftp.open). */
export class RawSftp {
  /** Replies nobody waited for (a wrong id, or a reply after the channel was given up). */
  readonly unexpected: SftpReply[] = [];
  /** Resolves once the channel has closed (the server ended it, or we did). */
  readonly closed: Promise<void>;
  /** Set when a reply could not be framed or decoded. */
  decodeError: Error | undefined;
  isClosed = false;
  /** Bytes of reply data received so far. */
  bytesIn = 0;
  private nextId = 1;
  private readonly framer = new PacketFramer();
  private readonly pending = new Map<number, { resolve: (r: SftpReply) => void; reject: (e: Error) => void }>();
  private versionWaiter: ((r: SftpReply) => void) | undefined;

  private constructor(
    readonly client: SshClient,
    readonly stream: ClientChannel,
  ) {
    this.closed = new Promise((resolve) => {
      stream.on('close', () => {
        this.isClosed = true;
        for (const p of this.pending.values()) p.reject(new Error('sftp channel closed'));
        this.pending.clear();
        resolve();
      });
    });
    stream.on('error', () => {});
    stream.on('data', (chunk: Buffer) => this.onData(chunk));
  }

  /** Opens the `sftp` subsystem on a logged-in client (no INIT sent yet). */
  static open(client: SshClient): Promise<RawSftp> {
    return new Promise((resolve, reject) => {
      client.subsys('sftp', (err, stream) => (err ? reject(err) : resolve(new RawSftp(client, stream))));
    });
  }

  /** Logs in, opens the subsystem and (unless `init` is false) exchanges INIT/VERSION. */
  static async connect(port: number, config: ConnectConfig, init = true): Promise<RawSftp> {
    const client = await connect(port, config);
    const sftp = await RawSftp.open(client);
    if (init) await sftp.init();
    return sftp;
  }

  private onData(chunk: Buffer): void {
    this.bytesIn += chunk.length;
    try {
      this.framer.push(chunk, (payload) => this.onReply(decodeReply(payload)));
    } catch (err) {
      this.decodeError = err as Error;
    }
  }

  private onReply(reply: SftpReply): void {
    if (reply.kind === 'version') {
      const w = this.versionWaiter;
      this.versionWaiter = undefined;
      if (w) w(reply);
      else this.unexpected.push(reply);
      return;
    }
    const p = this.pending.get(reply.id);
    if (!p) return void this.unexpected.push(reply);
    this.pending.delete(reply.id);
    p.resolve(reply);
  }

  /** Sends INIT (version 3 unless told) and resolves the VERSION reply. */
  init(version = 3): Promise<VersionReply> {
    return new Promise((resolve, reject) => {
      this.versionWaiter = (r) => resolve(r as VersionReply);
      this.closed.then(() => reject(new Error('sftp channel closed before VERSION')));
      this.stream.write(encodeRequest({ kind: 'init', version }));
    });
  }

  /** A fresh request id. */
  id(): number {
    return this.nextId++;
  }

  /** Sends a request (numbered here) and resolves its reply. */
  request(body: RequestBody): Promise<SftpReply> {
    const id = this.id();
    return this.sendBytes(id, encodeRequest({ ...body, id } as SftpIdRequest));
  }

  /** Writes already-encoded bytes and resolves the reply to `id`. */
  sendBytes(id: number, bytes: Buffer): Promise<SftpReply> {
    if (this.isClosed) return Promise.reject(new Error('sftp channel closed'));
    const p = new Promise<SftpReply>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    this.stream.write(bytes);
    return p;
  }

  /** Writes bytes with no reply expected (malformed input). */
  writeRaw(bytes: Buffer): void {
    this.stream.write(bytes);
  }

  /** Requests sent and not answered yet. */
  get waiting(): number {
    return this.pending.size;
  }

  // ---- conveniences that assert the happy path ----

  /** OPEN; asserts a HANDLE reply and returns the handle. */
  async open(path: string, pflags: number, attrs: FileAttrs = {}): Promise<Buffer> {
    return handleOf(await this.request({ kind: 'open', path, pflags, attrs }), `open ${path}`);
  }

  /** OPENDIR; asserts a HANDLE reply. */
  async opendir(path: string): Promise<Buffer> {
    return handleOf(await this.request({ kind: 'opendir', path }), `opendir ${path}`);
  }

  /** CLOSE; asserts OK. */
  async close(handle: Buffer): Promise<void> {
    expectStatus(await this.request({ kind: 'close', handle }), StatusCode.OK, 'close');
  }

  /** WRITE; asserts OK. */
  async write(handle: Buffer, offset: number, data: Buffer): Promise<void> {
    expectStatus(await this.request({ kind: 'write', handle, offset, data }), StatusCode.OK, 'write');
  }

  /** READ; the data, or null at EOF. */
  async read(handle: Buffer, offset: number, length: number): Promise<Buffer | null> {
    const r = await this.request({ kind: 'read', handle, offset, length });
    if (r.kind === 'status' && r.code === StatusCode.EOF) return null;
    assert.equal(r.kind, 'data', `read: ${describe(r)}`);
    return (r as Extract<SftpReply, { kind: 'data' }>).data;
  }

  /** Every name of a folder listing, reading until EOF; also returns each batch's size. */
  async list(path: string): Promise<{ names: string[]; batches: number[] }> {
    const h = await this.opendir(path);
    const names: string[] = [];
    const batches: number[] = [];
    for (;;) {
      const r = await this.request({ kind: 'readdir', handle: h });
      if (r.kind === 'status' && r.code === StatusCode.EOF) break;
      assert.equal(r.kind, 'name', `readdir: ${describe(r)}`);
      const entries = (r as Extract<SftpReply, { kind: 'name' }>).entries;
      batches.push(entries.length);
      names.push(...entries.map((e) => e.filename));
    }
    await this.close(h);
    return { names, batches };
  }

  /** Ends the channel and waits for it to close. */
  async end(): Promise<void> {
    if (!this.isClosed) this.stream.end();
    await this.closed;
  }

  /** Ends the channel and the connection. */
  async disconnect(): Promise<void> {
    this.stream.end();
    this.client.end();
    await this.closed;
  }
}

/** A one-line description of a reply, for assertion messages. */
export function describe(r: SftpReply): string {
  if (r.kind === 'status') return `STATUS ${r.code} "${r.message}"`;
  if (r.kind === 'name') return `NAME [${r.entries.map((e) => e.filename).join(', ')}]`;
  if (r.kind === 'data') return `DATA (${r.data.length} bytes)`;
  return r.kind.toUpperCase();
}

/** Asserts a STATUS reply with `code`; returns it. */
export function expectStatus(r: SftpReply, code: number, what = ''): StatusReply {
  assert.ok(r.kind === 'status' && r.code === code, `${what}: expected STATUS ${code}, got ${describe(r)}`);
  return r as StatusReply;
}

/** Asserts a HANDLE reply; returns the handle. */
export function handleOf(r: SftpReply, what = ''): Buffer {
  assert.equal(r.kind, 'handle', `${what}: expected HANDLE, got ${describe(r)}`);
  return (r as Extract<SftpReply, { kind: 'handle' }>).handle;
}

/** Asserts a NAME reply with one entry; returns its filename. */
export function nameOf(r: SftpReply, what = ''): string {
  assert.ok(r.kind === 'name' && r.entries.length === 1, `${what}: expected one NAME, got ${describe(r)}`);
  return (r as Extract<SftpReply, { kind: 'name' }>).entries[0]!.filename;
}

/** A field of a hand-built packet: a u8 (`{ u8 }`), u32 (number), u64 (`{ u64 }`), string, or raw bytes. */
export type Field = number | { u8: number } | { u64: number } | string | Buffer | { raw: Buffer };

/**
 * Builds one framed packet from fields: numbers are uint32, strings and Buffers are SSH strings
 * (uint32 length + bytes), `{ raw }` is copied as is. `length` overrides the length field.
 */
export function rawPacket(type: number, fields: Field[], length?: number): Buffer {
  const parts: Buffer[] = [Buffer.from([type])];
  for (const f of fields) {
    if (typeof f === 'number') parts.push(u32(f));
    else if (typeof f === 'string') parts.push(u32(Buffer.byteLength(f)), Buffer.from(f));
    else if (Buffer.isBuffer(f)) parts.push(u32(f.length), f);
    else if ('u8' in f) parts.push(Buffer.from([f.u8]));
    else if ('u64' in f) {
      const b = Buffer.alloc(8);
      b.writeBigUInt64BE(BigInt(f.u64));
      parts.push(b);
    } else parts.push(f.raw);
  }
  const body = Buffer.concat(parts);
  return Buffer.concat([u32(length ?? body.length), body]);
}

/** A big-endian uint32. */
export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}
