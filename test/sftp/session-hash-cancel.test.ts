/**
 * An SFTP session that ends while check-file requests hash a large file (issue 23 item 6): the
 * session's end drops its hash work, so teardown (which waits for every operation queued on a
 * handle before closing it) finishes after at most the slices already being hashed, instead of
 * after every queued hash; and no file is closed while a hash worker may still pread its
 * descriptor (a closed descriptor's number is reused by the next open: another user's file).
 * The peer's close (the `closed` signal) drops the hashing at once, before teardown.
 */
import assert from 'node:assert/strict';
import { open, readdir, readlink, rm, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { decodeReply, encodeRequest } from '../../src/sftp/packets/packet.js';
import { OpenFlags } from '../../src/sftp/constants.js';
import { PacketFramer } from '../../src/sftp/framing.js';
import { serveSftp } from '../../src/sftp/sftp-session.js';
import { hashPool } from '../../src/vfs/hash-pool.js';
import { LocalFile } from '../../src/vfs/local-handles.js';
import { LocalVfs } from '../../src/vfs/local-vfs.js';
import { waitFor } from '../support/wait.js';

const MiB = 1024 * 1024;

/** A channel standing in for ssh2's: every reply framed and kept. */
class Channel extends Duplex {
  readonly replies: Buffer[] = [];
  private readonly framer = new PacketFramer(1 << 20);
  constructor() {
    super({ emitClose: false, allowHalfOpen: true });
  }
  override _read(): void {}
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.framer.push(Buffer.from(chunk), (p) => this.replies.push(Buffer.from(p)));
    cb();
  }
}

/** Descriptors of this process open on `path`. */
async function fdsOn(path: string): Promise<number> {
  let n = 0;
  for (const fd of await readdir('/proc/self/fd')) if ((await readlink(`/proc/self/fd/${fd}`).catch(() => '')) === path) n++;
  return n;
}

/** The descriptors hash workers are reading right now (the pool's running slices). */
function readByWorkers(): number[] {
  const slots = (hashPool as unknown as { slots: Array<{ running: { fd: number } | null }> }).slots;
  return slots.flatMap((s) => (s.running ? [s.running.fd] : []));
}

describe('SFTP session ending while check-file hashes', () => {
  let home: string;
  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'coffer-session-hash-'));
    const fh = await open(join(home, 'big.bin'), 'w');
    await fh.truncate(2048 * MiB); // sparse: 512 slices of sha256 per request
    await fh.close();
  });
  after(() => rm(home, { recursive: true, force: true }));

  it('drops the queued hashes, ends after the slices under way, and closes no file a worker is reading', async () => {
    const closes: Array<{ fd: number; read: number[] }> = [];
    const close = LocalFile.prototype.close;
    LocalFile.prototype.close = function (this: LocalFile) {
      const fd = (this as unknown as { fh: { fd: number } }).fh.fd;
      closes.push({ fd, read: readByWorkers() });
      return close.call(this);
    };
    try {
      const vfs = await LocalVfs.create(home, { symlinks: false });
      const channel = new Channel();
      const abort = new AbortController();
      const session = serveSftp(channel, { vfs, user: 'u', log: pino({ level: 'silent' }), maxHandles: 8, signal: abort.signal });
      const send = (req: Parameters<typeof encodeRequest>[0]) => channel.push(encodeRequest(req));
      send({ kind: 'init', version: 3 });
      send({ kind: 'open', id: 1, path: '/big.bin', pflags: OpenFlags.READ, attrs: {} });
      await waitFor(() => channel.replies.length >= 2, 5000, 'VERSION and HANDLE');
      const handle = (decodeReply(channel.replies[1]!) as { handle: Buffer }).handle;
      const check = { algorithms: ['sha256'], start: 0, length: 0, blockSize: 0 };
      // Three on the handle (run one after another: CLOSE and teardown wait for them), two by name.
      for (let id = 2; id < 5; id++) send({ kind: 'check-file-handle', id, handle, legacy: false, ...check });
      for (let id = 5; id < 7; id++) send({ kind: 'check-file-name', id, path: '/big.bin', ...check });
      await waitFor(() => hashPool.pending === 3 && hashPool.slices > 2, 10_000, 'the hashes to be under way');

      const slices = hashPool.slices;
      const t0 = Date.now();
      abort.abort('connection closed');
      await session.done;
      const ms = Date.now() - t0;
      await waitFor(() => hashPool.pending === 0, 10_000, 'the by-name hashes to settle');
      await waitFor(async () => (await fdsOn(join(home, 'big.bin'))) === 0, 5000, 'every descriptor of big.bin to close');
      const after = hashPool.slices - slices;

      assert.ok(after <= hashPool.workers, `${after} slices started after the session ended (${hashPool.workers} workers)`);
      assert.ok(ms < 5000, `teardown took ${ms} ms`);
      assert.equal(closes.length, 3, 'the handle and the two by-name opens were closed');
      for (const c of closes) assert.ok(!c.read.includes(c.fd), `fd ${c.fd} closed while a worker read it (${c.read})`);
      assert.equal(channel.replies.length, 2, 'no hash was answered');
    } finally {
      LocalFile.prototype.close = close;
    }
  });

  it("the peer's close (closed signal) drops the hashing at once; other requests are served until teardown", async () => {
    const vfs = await LocalVfs.create(home, { symlinks: false });
    const channel = new Channel();
    const connection = new AbortController();
    const peer = new AbortController();
    const session = serveSftp(channel, { vfs, user: 'u', log: pino({ level: 'silent' }), maxHandles: 8, signal: connection.signal, closed: peer.signal });
    const send = (req: Parameters<typeof encodeRequest>[0]) => channel.push(encodeRequest(req));
    send({ kind: 'init', version: 3 });
    send({ kind: 'open', id: 1, path: '/big.bin', pflags: OpenFlags.READ, attrs: {} });
    await waitFor(() => channel.replies.length >= 2, 5000, 'VERSION and HANDLE');
    const handle = (decodeReply(channel.replies[1]!) as { handle: Buffer }).handle;
    const check = { algorithms: ['sha256'], start: 0, length: 0, blockSize: 0 };
    send({ kind: 'check-file-handle', id: 2, handle, legacy: false, ...check });
    send({ kind: 'check-file-name', id: 3, path: '/big.bin', ...check });
    await waitFor(() => hashPool.pending === 2 && hashPool.slices > 1, 10_000, 'the hashes to be under way');

    const slices = hashPool.slices;
    peer.abort();
    await waitFor(() => hashPool.pending === 0, 10_000, 'the hashes to be dropped');
    assert.ok(hashPool.slices - slices <= hashPool.workers, `${hashPool.slices - slices} slices started after the peer closed`);
    await waitFor(() => channel.replies.length >= 4, 5000, 'the failed check-file replies');
    const statuses = channel.replies.slice(2).map((r) => decodeReply(r));
    assert.ok(statuses.every((r) => r.kind === 'status' && r.code === 4), 'each dropped hash fails (FAILURE)');
    send({ kind: 'realpath', id: 4, path: '.' });
    await waitFor(() => channel.replies.length >= 5, 5000, 'REALPATH answered after the peer closed');
    assert.equal(decodeReply(channel.replies[4]!).kind, 'name');
    assert.equal(await fdsOn(join(home, 'big.bin')), 1, 'the handle stays open until teardown');
    connection.abort();
    await session.done;
    assert.equal(await fdsOn(join(home, 'big.bin')), 0);
  });
});
