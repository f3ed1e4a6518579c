import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { decodeCheckFileReply, decodeLimitsReply, decodeStatvfsReply, encodeCheckFileReply, encodeLimitsReply, encodeStatvfsReply, type StatVfs } from '../../src/sftp/packets/extended-reply.js';
import { MAX_MESSAGE_LENGTH, MAX_READ_WRITE_LENGTH } from '../../src/sftp/constants.js';
import { decodeReply } from '../../src/sftp/packets/packet.js';
import { b, payloadOf, throwsCodec } from './wire.js';

/** The data of an EXTENDED_REPLY message for `id`. */
function replyData(msg: Buffer, id: number): Buffer {
  const reply = decodeReply(payloadOf(msg));
  assert.equal(reply.kind, 'extended-reply');
  assert.equal(reply.kind === 'extended-reply' && reply.id, id);
  return reply.kind === 'extended-reply' ? reply.data : b();
}

describe('limits@openssh.com reply', () => {
  test("OpenSSH's numbers: 262144, 261120, 261120, then open handles", () => {
    const limits = { maxPacketLength: MAX_MESSAGE_LENGTH, maxReadLength: MAX_READ_WRITE_LENGTH, maxWriteLength: MAX_READ_WRITE_LENGTH, maxOpenHandles: 256 };
    const want = b(
      0, 0, 0, 37, 201, 0, 0, 0, 1,
      0, 0, 0, 0, 0, 0x04, 0, 0,
      0, 0, 0, 0, 0, 0x03, 0xfc, 0,
      0, 0, 0, 0, 0, 0x03, 0xfc, 0,
      0, 0, 0, 0, 0, 0, 0x01, 0,
    );
    const msg = encodeLimitsReply(1, limits);
    assert.deepEqual(msg, want);
    assert.deepEqual(decodeLimitsReply(replyData(msg, 1)), limits);
  });
});

describe('statvfs@openssh.com reply', () => {
  test('eleven uint64 in PROTOCOL order', () => {
    const st: StatVfs = { bsize: 4096, frsize: 4096, blocks: 262144, bfree: 131072, bavail: 131072, files: 1000, ffree: 900, favail: 900, fsid: 0, flag: 2, namemax: 255 };
    const u64 = (n: number) => [0, 0, 0, 0, (n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
    const fields = [4096, 4096, 262144, 131072, 131072, 1000, 900, 900, 0, 2, 255];
    const want = b(0, 0, 0, 93, 201, 0, 0, 0, 2, ...fields.flatMap(u64));
    const msg = encodeStatvfsReply(2, st);
    assert.deepEqual(msg, want);
    assert.deepEqual(decodeStatvfsReply(replyData(msg, 2)), st);
  });
  test('the client reads an fsid above 2^53 (from real servers) without throwing', () => {
    const data = Buffer.alloc(88);
    data.fill(0xff, 64, 72); // fsid = 2^64 - 1
    assert.equal(decodeStatvfsReply(data).fsid, 2 ** 64);
  });
  test('a short statvfs reply is truncation', () => {
    throwsCodec(() => decodeStatvfsReply(Buffer.alloc(87)), 'SFTP_ERR_TRUNCATED');
  });
});

describe('check-file reply', () => {
  const md5Empty = Buffer.from('d41d8cd98f00b204e9800998ecf8427e', 'hex');
  test('draft form: string algorithm, then the raw digests', () => {
    const want = b(0, 0, 0, 28, 201, 0, 0, 0, 3, 0, 0, 0, 3, 'md5', md5Empty);
    const msg = encodeCheckFileReply(3, 'md5', md5Empty);
    assert.deepEqual(msg, want);
    assert.deepEqual(decodeCheckFileReply(replyData(msg, 3)), { algorithm: 'md5', digests: md5Empty });
  });
  test('several block digests are concatenated with no separators', () => {
    const d1 = Buffer.alloc(20, 1);
    const d2 = Buffer.alloc(20, 2);
    const msg = encodeCheckFileReply(4, 'sha1', [d1, d2]);
    assert.deepEqual(msg, b(0, 0, 0, 53, 201, 0, 0, 0, 4, 0, 0, 0, 4, 'sha1', d1, d2));
    assert.deepEqual(decodeCheckFileReply(replyData(msg, 4)).digests, Buffer.concat([d1, d2]));
  });
  test("paramiko's legacy form starts with the string check-file", () => {
    const want = b(0, 0, 0, 42, 201, 0, 0, 0, 5, 0, 0, 0, 10, 'check-file', 0, 0, 0, 3, 'md5', md5Empty);
    const msg = encodeCheckFileReply(5, 'md5', md5Empty, true);
    assert.deepEqual(msg, want);
    assert.deepEqual(decodeCheckFileReply(replyData(msg, 5), true), { algorithm: 'md5', digests: md5Empty });
  });
  test('too many block digests for one message is refused', () => {
    const many = Array.from({ length: 5000 }, () => Buffer.alloc(64));
    throwsCodec(() => encodeCheckFileReply(1, 'sha512', many), 'SFTP_ERR_MESSAGE_TOO_LONG');
  });
});
