/**
 * The packet pool of src/sftp/data-buffers.ts: large packets come from reused buffers that hold
 * exactly the asked length; small and oversized ones are fresh; only pooled buffers go back, each
 * reused once given back; the framer uses the allocator for packets that span chunks.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_MESSAGE_LENGTH } from '../../src/sftp/constants.js';
import { recyclePacketBuffer, takePacketBuffer } from '../../src/sftp/data-buffers.js';
import { PacketFramer } from '../../src/sftp/framing.js';

describe('packet buffers', () => {
  it('pools large packets and hands a given-back buffer out again', () => {
    const a = takePacketBuffer(200_000);
    assert.equal(a.length, 200_000);
    assert.equal(a.buffer.byteLength, MAX_MESSAGE_LENGTH);
    recyclePacketBuffer(a);
    const b = takePacketBuffer(70_000);
    assert.equal(b.buffer, a.buffer, 'the same memory, reused');
    assert.equal(b.length, 70_000);
    const c = takePacketBuffer(70_000);
    assert.notEqual(c.buffer, b.buffer, 'a buffer in use is not handed out twice');
  });

  it('gives small and oversized packets their own buffers, and ignores them when given back', () => {
    const small = takePacketBuffer(100);
    assert.equal(small.length, 100);
    recyclePacketBuffer(small);
    const other = Buffer.alloc(100_000);
    recyclePacketBuffer(other);
    const next = takePacketBuffer(100_000);
    assert.notEqual(next.buffer, other.buffer);
    assert.notEqual(next.buffer, small.buffer);
    assert.equal(takePacketBuffer(MAX_MESSAGE_LENGTH + 1).length, MAX_MESSAGE_LENGTH + 1);
  });

  it('the framer assembles a packet that spans chunks in the allocator\'s buffer', () => {
    const sizes: number[] = [];
    const framer = new PacketFramer(undefined, (n) => (sizes.push(n), takePacketBuffer(n)));
    const body = Buffer.alloc(100_000, 0xab);
    const packet = Buffer.concat([Buffer.from([0, 1, 0x86, 0xa0]), body]); // length 100000
    const out: Buffer[] = [];
    framer.push(packet.subarray(0, 50_000), (p) => out.push(p));
    framer.push(packet.subarray(50_000), (p) => out.push(p));
    assert.deepEqual(sizes, [100_000]);
    assert.equal(out.length, 1);
    assert.ok(out[0]!.equals(body));
    assert.equal(out[0]!.buffer.byteLength, MAX_MESSAGE_LENGTH, 'pooled');
  });
});
