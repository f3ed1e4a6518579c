/**
 * coalesceWrites (src/util/cork.ts): writes of one event-loop turn leave together, after the
 * turn, in order and complete; write() keeps its return value and 'drain' (back-pressure); a
 * destroyed socket is not corked; the batching is real (one send for many writes); and a pooled
 * SSH packet (ssh-packets.ts) goes back to its pool when its write completes.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, connect, type Socket, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { coalesceWrites } from '../../src/util/cork.js';
import { allocPacket, isPooledPacket } from '../../src/util/ssh-packets.js';

describe('coalesceWrites', () => {
  let server: Server;
  let port: number;
  const received: Buffer[] = [];
  let peer: Socket | null = null;

  before(async () => {
    server = createServer((s) => {
      peer = s;
      s.on('data', (d: Buffer) => received.push(d));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as { port: number }).port;
  });
  after(() => {
    peer?.destroy();
    server.close();
  });

  async function client(): Promise<Socket> {
    const s = connect(port, '127.0.0.1');
    await once(s, 'connect');
    s.setNoDelay(true);
    coalesceWrites(s);
    return s;
  }

  it('holds the writes of one turn and sends them in one go, in order, once the turn ends', async () => {
    const s = await client();
    const sends: number[] = [];
    // libuv's write paths: one buffer (writeBuffer/writeUtf8String) or several at once (writev).
    const handle = (s as unknown as { _handle: Record<string, (...a: unknown[]) => unknown> })._handle;
    for (const m of ['writev', 'writeBuffer']) {
      const orig = handle[m]!.bind(handle);
      handle[m] = (...a: unknown[]) => (sends.push(m === 'writev' ? (a[1] as unknown[]).length : 1), orig(...a));
    }
    const parts = Array.from({ length: 50 }, (_, i) => Buffer.from(`part-${i};`));
    for (const p of parts) assert.equal(s.write(p), true);
    assert.equal(s.writableCorked, 1, 'corked during the turn');
    assert.deepEqual(sends, [], 'nothing sent during the turn');
    await new Promise((r) => process.nextTick(r));
    assert.equal(s.writableCorked, 0, 'uncorked after it');
    assert.equal(sends.length, 1, `one send for 50 writes (${sends.join(',')})`);
    const want = Buffer.concat(parts).toString();
    while (Buffer.concat(received).toString().length < want.length) await once(peer!, 'data');
    assert.equal(Buffer.concat(received).toString(), want);
    s.destroy();
  });

  it('keeps back-pressure: write() returns false above the high-water mark and drain follows', async () => {
    const s = await client();
    const big = Buffer.alloc(s.writableHighWaterMark + 1);
    assert.equal(s.write(big), false);
    await once(s, 'drain');
    s.destroy();
  });

  it('gives a pooled SSH packet back to its pool once its write completed; the bytes arrive intact', async () => {
    const s = await client();
    received.length = 0;
    const packets = Array.from({ length: 8 }, (_, i) => {
      const p = allocPacket({ block: 16, aad: 4, tag: 16 }, 30000);
      p.fill(i + 1, 5, 5 + 30000);
      return p;
    });
    const want = Buffer.concat(packets.map((p) => Buffer.from(p)));
    assert.equal(packets.filter((p) => isPooledPacket(p)).length, 8);
    for (const p of packets) s.write(p);
    assert.equal(packets.filter((p) => isPooledPacket(p)).length, 8, 'still lent while the socket holds them');
    // Writes complete in order: once this one's callback runs, so have the packets'.
    await new Promise<void>((resolve) => s.write(Buffer.alloc(0), () => resolve()));
    assert.equal(packets.filter((p) => isPooledPacket(p)).length, 0, 'all released after the writes completed');
    while (Buffer.concat(received).length < want.length) await once(peer!, 'data');
    assert.ok(Buffer.concat(received).equals(want), 'bytes arrived as written');
    s.destroy();
  });

  it('does not cork a destroyed socket', async () => {
    const s = await client();
    s.destroy();
    s.on('error', () => undefined);
    s.write(Buffer.from('x'));
    assert.equal(s.writableCorked, 0);
  });
});
