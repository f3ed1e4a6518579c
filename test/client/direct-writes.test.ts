/**
 * direct-writes.ts: a WRITE built in a reusable slot leaves as the same bytes ssh2's sftp.write
 * would send, cut at the channel's packet size and held back by its window; requests leave in
 * order, after whatever ssh2 had queued; each is completed through ssh2's request table; slots
 * are reused once sent; the data area is aligned; without ssh2's internals sftp.write is used;
 * and ssh2's real client uploads through it intact, its window far smaller than the requests
 * in flight.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { SFTPWrapper } from 'ssh2';
import { RequestWriter } from '../../src/client/direct-writes.js';
import { openSession, startFixture, type Fixture } from './support.js';

type Cb = (err?: Error | null) => void;

/** A stand-in for ssh2's SFTP object with the internals RequestWriter uses. */
function fakeSftp(window: number, packetSize = 1000) {
  const sent: Buffer[] = [];
  const sftp = {
    _requests: {} as Record<number, { cb?: Cb } | undefined>,
    _writeReqid: -1,
    _maxWriteLen: 4096,
    _buffer: [] as Buffer[],
    _waitWindow: false,
    _chunkcb: undefined as (() => void) | undefined,
    _protocol: { channelData: (_id: number, data: Buffer) => void sent.push(Buffer.from(data)) },
    outgoing: { id: 7, window, packetSize, state: 'open' },
  };
  /** What ssh2's client does on CHANNEL_WINDOW_ADJUST. */
  const adjust = (n: number) => {
    sftp.outgoing.window += n;
    if (sftp._waitWindow) {
      sftp._waitWindow = false;
      sftp._chunkcb?.call(sftp);
    }
  };
  /** The channel's bytes so far, as one stream. */
  const stream = () => Buffer.concat(sent);
  return { sftp, sent, adjust, stream, asSftp: sftp as unknown as SFTPWrapper };
}

/** The WRITE request ssh2 builds (SFTP.js write()), for comparison. */
function ssh2Write(id: number, handle: Buffer, offset: number, data: Buffer): Buffer {
  const b = Buffer.alloc(4 + 1 + 4 + 4 + handle.length + 8 + 4 + data.length);
  b.writeUInt32BE(b.length - 4, 0);
  b[4] = 6;
  b.writeUInt32BE(id, 5);
  b.writeUInt32BE(handle.length, 9);
  handle.copy(b, 13);
  b.writeBigUInt64BE(BigInt(offset), 13 + handle.length);
  b.writeUInt32BE(data.length, 21 + handle.length);
  data.copy(b, 25 + handle.length);
  return b;
}

function fill(w: RequestWriter, data: Buffer) {
  const slot = w.acquire();
  data.copy(slot.data);
  return slot;
}

describe('direct writes', () => {
  const handle = Buffer.from('h-01');

  test('a WRITE leaves byte for byte as ssh2 builds it, cut at the packet size; the reply completes it', () => {
    const f = fakeSftp(1 << 20, 1000);
    const w = new RequestWriter(f.asSftp, handle, 4096);
    assert.equal(w.direct, true);
    const data = randomBytes(2500);
    const answers: Array<Error | null | undefined> = [];
    const offset = 5 * 2 ** 32 + 12345; // beyond 32 bits
    const slot = fill(w, data);
    assert.equal(slot.data.byteOffset % 16, 0, 'data area aligned');
    w.send(slot, data.length, offset, (err) => answers.push(err));
    assert.deepEqual(f.stream(), ssh2Write(0, handle, offset, data));
    assert.deepEqual(f.sent.map((b) => b.length), [1000, 1000, 2500 + 29 - 2000]);
    assert.equal(f.sftp.outgoing.window, (1 << 20) - (2500 + 29));
    // ssh2's STATUS handler: look up, delete, call.
    const req = f.sftp._requests[0]!;
    delete f.sftp._requests[0];
    req.cb!(undefined);
    assert.deepEqual(answers, [undefined]);
    assert.equal(w.acquire(), slot, 'the slot is reused once sent');
  });

  test('the window holds requests back; they leave in order as it grows, partial requests included', () => {
    const f = fakeSftp(3000, 1000);
    const w = new RequestWriter(f.asSftp, handle, 4096);
    const datas = [randomBytes(4000), randomBytes(100), randomBytes(3000)];
    const slots = datas.map((d) => fill(w, d));
    datas.forEach((d, i) => w.send(slots[i]!, d.length, i * 4096, () => {}));
    const expected = Buffer.concat(datas.map((d, i) => ssh2Write(i, handle, i * 4096, d)));
    assert.deepEqual(f.stream(), expected.subarray(0, 3000), 'exactly the window went out');
    assert.equal(f.sftp._waitWindow, true);
    assert.equal(w.acquire() === slots[0], false, 'a request still waiting keeps its slot');
    f.adjust(1500);
    assert.deepEqual(f.stream(), expected.subarray(0, 4500));
    f.adjust(100_000);
    assert.deepEqual(f.stream(), expected);
    assert.equal(f.sftp._waitWindow, false);
    assert.ok(f.sent.every((b) => b.length <= 1000));
  });

  test("ssh2's own queue leaves first, then ours, even when both wait for the window", () => {
    const f = fakeSftp(0, 1000);
    const theirs = Buffer.from('ssh2-queued-request');
    // ssh2's drainBuffer: sends its queue as the window allows, re-registers if it cannot finish.
    function drainBuffer(this: typeof f.sftp) {
      this._chunkcb = undefined;
      const b = this._buffer[0]!;
      const n = Math.min(b.length, this.outgoing.window);
      this.outgoing.window -= n;
      this._protocol.channelData(7, b.subarray(0, n));
      if (n < b.length) {
        this._buffer[0] = b.subarray(n);
        this._waitWindow = true;
        this._chunkcb = drainBuffer;
      } else this._buffer = [];
    }
    f.sftp._buffer = [theirs];
    f.sftp._waitWindow = true;
    f.sftp._chunkcb = drainBuffer;
    const w = new RequestWriter(f.asSftp, handle, 4096);
    const data = randomBytes(500);
    w.send(fill(w, data), data.length, 0, () => {});
    assert.equal(f.sent.length, 0);
    f.adjust(10); // not even ssh2's request fits
    f.adjust(10_000);
    assert.deepEqual(f.stream(), Buffer.concat([theirs, ssh2Write(0, handle, 0, data)]));
  });

  test('a request ssh2 is given while ours is half sent waits until ours has left whole', () => {
    const f = fakeSftp(1000, 1000);
    const w = new RequestWriter(f.asSftp, handle, 4096);
    const [a, b] = [randomBytes(2000), randomBytes(700)];
    w.send(fill(w, a), a.length, 0, () => {});
    w.send(fill(w, b), b.length, 4096, () => {});
    // ssh2's sftp.write with no window: tryWritePayload queues it and registers drainBuffer.
    const theirs = Buffer.from('ssh2-request-issued-meanwhile');
    function drainBuffer(this: typeof f.sftp) {
      this._chunkcb = undefined;
      const x = this._buffer.shift()!;
      this.outgoing.window -= x.length;
      this._protocol.channelData(7, x);
    }
    f.sftp._buffer.push(theirs);
    f.sftp._waitWindow = true;
    f.sftp._chunkcb = drainBuffer;
    f.adjust(500); // not enough to finish ours
    f.adjust(100_000);
    const ours = [ssh2Write(0, handle, 0, a), ssh2Write(1, handle, 4096, b)];
    assert.deepEqual(f.stream(), Buffer.concat([ours[0]!, theirs, ours[1]!]));
  });

  test('a channel that is no longer open sends nothing more (ssh2 fails the requests)', () => {
    const f = fakeSftp(0, 1000);
    const w = new RequestWriter(f.asSftp, handle, 4096);
    w.send(fill(w, randomBytes(10)), 10, 0, () => {});
    f.sftp.outgoing.state = 'closed';
    f.adjust(10_000);
    assert.equal(f.sent.length, 0);
    assert.ok(f.sftp._requests[0], 'left for ssh2 to fail when the channel closes');
  });

  test('without the internals, or with a chunk over ssh2\'s maximum, sftp.write sends a copy', () => {
    const calls: Array<[number, number, number, Buffer]> = [];
    const plain = {
      write: (_h: Buffer, buf: Buffer, off: number, len: number, pos: number, cb: Cb) => {
        calls.push([off, len, pos, Buffer.from(buf.subarray(off, off + len))]);
        cb();
      },
    } as unknown as SFTPWrapper;
    const w = new RequestWriter(plain, handle, 4096);
    assert.equal(w.direct, false);
    const data = randomBytes(300);
    let answered = false;
    const slot = fill(w, data);
    w.send(slot, 300, 77, () => (answered = true));
    assert.equal(answered, true);
    assert.deepEqual(calls[0]![3], data);
    assert.deepEqual(calls[0]!.slice(1, 3), [300, 77]);
    assert.equal(w.acquire(), slot);
    const f = fakeSftp(1 << 20);
    assert.equal(new RequestWriter(f.asSftp, handle, 8192).direct, false, 'chunk over _maxWriteLen');
  });
});

describe('direct writes through ssh2 to the real server', () => {
  let fx: Fixture;
  before(async () => {
    fx = await startFixture();
  });
  after(() => fx.close());

  test("many requests in flight, far more than the 2 MiB window, and ssh2's own writes between them", async () => {
    const { conn } = await openSession(fx);
    try {
      const sftp = conn.sftp;
      const chunk = conn.chunk;
      const count = 48; // ~12 MiB in flight at once
      const data = randomBytes(chunk * count + 1000);
      const handle = await new Promise<Buffer>((res, rej) => sftp.open('/direct.bin', 'w', (e, h) => (e ? rej(e) : res(h))));
      const w = new RequestWriter(sftp, handle, chunk);
      assert.equal(w.direct, true, 'ssh2 has the internals');
      const writes: Array<Promise<void>> = [];
      const put = (pos: number, len: number) => {
        const slot = w.acquire();
        data.copy(slot.data, 0, pos, pos + len);
        writes.push(new Promise((res, rej) => w.send(slot, len, pos, (e) => (e ? rej(e) : res()))));
      };
      for (let i = 0; i < count; i += 2) put(i * chunk, chunk);
      // ssh2's own queue in between (its window is exhausted by now)
      writes.push(new Promise((res, rej) => sftp.write(handle, data, count * chunk, 1000, count * chunk, (e) => (e ? rej(e) : res()))));
      for (let i = 1; i < count; i += 2) put(i * chunk, chunk);
      await Promise.all(writes);
      await new Promise<void>((res, rej) => sftp.close(handle, (e) => (e ? rej(e) : res())));
      const got = await readFile(join(fx.aliceHome, 'direct.bin'));
      assert.equal(createHash('sha256').update(got).digest('hex'), createHash('sha256').update(data).digest('hex'));
    } finally {
      await conn.end();
    }
  });
});
