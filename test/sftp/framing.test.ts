import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { PacketFramer, framePackets } from '../../src/sftp/framing.js';
import { MAX_MESSAGE_LENGTH } from '../../src/sftp/constants.js';
import { b, throwsCodec } from './wire.js';

const STAT = b(0, 0, 0, 13, 17, 0, 0, 0, 42, 0, 0, 0, 4, '/foo');
const CLOSE = b(0, 0, 0, 13, 4, 0, 0, 0, 43, 0, 0, 0, 4, 0, 0, 0, 1);

describe('PacketFramer', () => {
  test('one packet in one chunk is passed on as a view (no copy)', () => {
    const f = new PacketFramer();
    const out = framePackets(f, STAT);
    assert.deepEqual(out, [STAT.subarray(4)]);
    assert.equal(out[0]!.buffer, STAT.buffer);
    assert.equal(f.buffered, 0);
  });
  test('many packets in one chunk come out in order', () => {
    const out = framePackets(new PacketFramer(), Buffer.concat([STAT, CLOSE, STAT]));
    assert.deepEqual(out, [STAT.subarray(4), CLOSE.subarray(4), STAT.subarray(4)]);
  });
  test('a packet split at every possible point', () => {
    const stream = Buffer.concat([STAT, CLOSE]);
    for (let cut = 0; cut <= stream.length; cut++) {
      const f = new PacketFramer();
      const out = [...framePackets(f, stream.subarray(0, cut)), ...framePackets(f, stream.subarray(cut))];
      assert.deepEqual(out, [STAT.subarray(4), CLOSE.subarray(4)], `cut at ${cut}`);
      assert.equal(f.buffered, 0);
    }
  });
  test('one byte at a time', () => {
    const f = new PacketFramer();
    const stream = Buffer.concat([STAT, CLOSE]);
    const out: Buffer[] = [];
    for (const byte of stream) f.push(Buffer.from([byte]), (p) => out.push(p));
    assert.deepEqual(out, [STAT.subarray(4), CLOSE.subarray(4)]);
  });
  test('a packet of exactly the maximum length (262144 after the length field) is accepted', () => {
    const pkt = Buffer.alloc(4 + MAX_MESSAGE_LENGTH, 6);
    pkt.writeUInt32BE(MAX_MESSAGE_LENGTH, 0);
    const f = new PacketFramer();
    const out: Buffer[] = [];
    // In 1000-byte chunks: the partial packet is held in one buffer, copied once.
    for (let i = 0; i < pkt.length; i += 1000) {
      f.push(pkt.subarray(i, i + 1000), (p) => out.push(p));
      assert.ok(f.buffered <= MAX_MESSAGE_LENGTH + 4);
    }
    assert.equal(out.length, 1);
    assert.equal(out[0]!.length, MAX_MESSAGE_LENGTH);
  });
  test('a length of 262145 is refused as soon as the length field is complete', () => {
    const f = new PacketFramer();
    throwsCodec(() => f.push(b(0, 4, 0, 1), () => assert.fail('no packet')), 'SFTP_ERR_PACKET_TOO_LONG', 'none');
  });
  test('a length of 0xFFFFFFFF is refused', () => {
    throwsCodec(() => framePackets(new PacketFramer(), b(255, 255, 255, 255, 1)), 'SFTP_ERR_PACKET_TOO_LONG', 'none');
  });
  test('a length of 0 is refused', () => {
    const err = throwsCodec(() => framePackets(new PacketFramer(), b(0, 0, 0, 0, 1, 2)), 'SFTP_ERR_EMPTY_PACKET', 'none');
    assert.equal(err.fatal, true);
  });
  test('packets before a bad length are delivered, then the error', () => {
    const f = new PacketFramer();
    const out: Buffer[] = [];
    throwsCodec(() => f.push(Buffer.concat([STAT, b(0, 0, 0, 0)]), (p) => out.push(p)), 'SFTP_ERR_EMPTY_PACKET');
    assert.deepEqual(out, [STAT.subarray(4)]);
  });
  test('after an error the framer stays failed', () => {
    const f = new PacketFramer();
    throwsCodec(() => framePackets(f, b(0, 0, 0, 0)), 'SFTP_ERR_EMPTY_PACKET');
    throwsCodec(() => framePackets(f, STAT), 'SFTP_ERR_EMPTY_PACKET');
  });
  test('a smaller maximum can be configured', () => {
    const f = new PacketFramer(12);
    throwsCodec(() => framePackets(f, STAT), 'SFTP_ERR_PACKET_TOO_LONG');
    assert.equal(framePackets(new PacketFramer(13), STAT).length, 1);
  });
  test('an empty chunk is harmless', () => {
    const f = new PacketFramer();
    assert.deepEqual(framePackets(f, b()), []);
    assert.deepEqual(framePackets(f, STAT), [STAT.subarray(4)]);
  });
  test('a sink that throws leaves the framer at the next packet', () => {
    const f = new PacketFramer();
    assert.throws(() => f.push(STAT, () => { throw new Error('dispatcher bug'); }), /dispatcher bug/);
    assert.deepEqual(framePackets(f, CLOSE), [CLOSE.subarray(4)]);
  });
  test('copied payloads do not share memory with later chunks', () => {
    const f = new PacketFramer();
    const first = Buffer.from(STAT.subarray(0, 8));
    framePackets(f, first);
    const out = framePackets(f, Buffer.from(STAT.subarray(8)));
    first.fill(0);
    assert.deepEqual(out, [STAT.subarray(4)]);
  });
});
