import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { decodeReply, encodeRequest } from '../../src/sftp/packets/packet.js';
import { decodeCheckFileReply, decodeLimitsReply } from '../../src/sftp/packets/extended-reply.js';
import { b, throwsCodec } from './wire.js';

describe('client request encoders (what the coffer client sends for check-file)', () => {
  test('INIT 3', () => {
    assert.deepEqual(encodeRequest({ kind: 'init', version: 3 }), b(0, 0, 0, 5, 1, 0, 0, 0, 3));
  });
  test('OPEN for reading', () => {
    const want = b(0, 0, 0, 19, 3, 0, 0, 0, 1, 0, 0, 0, 2, '/f', 0, 0, 0, 1, 0, 0, 0, 0);
    assert.deepEqual(encodeRequest({ kind: 'open', id: 1, path: '/f', pflags: 1, attrs: {} }), want);
  });
  test('check-file-handle for sha256 over a prefix (resume verification)', () => {
    const msg = encodeRequest({ kind: 'check-file-handle', id: 2, handle: b(9), algorithms: ['sha256'], start: 0, length: 2 ** 33, blockSize: 0, legacy: false });
    assert.deepEqual(msg, b(0, 0, 0, 61, 200, 0, 0, 0, 2, 0, 0, 0, 17, 'check-file-handle', 0, 0, 0, 1, 9, 0, 0, 0, 6, 'sha256', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0));
  });
  test('an arbitrary EXTENDED request with a raw payload', () => {
    const msg = encodeRequest({ kind: 'unknown-extended', id: 3, name: 'vendor-id', data: b(0, 0, 0, 0) });
    assert.deepEqual(msg, b(0, 0, 0, 22, 200, 0, 0, 0, 3, 0, 0, 0, 9, 'vendor-id', 0, 0, 0, 0));
  });
  test('a long path grows the buffer correctly', () => {
    const path = '/' + 'é'.repeat(5000);
    const msg = encodeRequest({ kind: 'stat', id: 1, path });
    assert.equal(msg.length, 4 + 1 + 4 + 4 + 1 + 10000);
    assert.equal(msg.subarray(13).toString('utf8'), path);
  });
});

describe('client reply decoders', () => {
  test('VERSION from an OpenSSH-like server', () => {
    const pkt = b(2, 0, 0, 0, 3, 0, 0, 0, 18, 'limits@openssh.com', 0, 0, 0, 1, '1');
    assert.deepEqual(decodeReply(pkt), { kind: 'version', version: 3, extensions: [['limits@openssh.com', '1']] });
  });
  test('VERSION with a dangling extension name is truncation (fatal: no id)', () => {
    throwsCodec(() => decodeReply(b(2, 0, 0, 0, 3, 0, 0, 0, 1, 'x')), 'SFTP_ERR_TRUNCATED', 'none');
  });
  test('STATUS without message and language (pre-v3 servers) defaults them to ""', () => {
    assert.deepEqual(decodeReply(b(101, 0, 0, 0, 1, 0, 0, 0, 2)), { kind: 'status', id: 1, code: 2, message: '', language: '' });
  });
  test('a STATUS message that is not UTF-8 is shown, not refused', () => {
    const reply = decodeReply(b(101, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 1, 0xff, 0, 0, 0, 0));
    assert.equal(reply.kind === 'status' && reply.message, '\uFFFD');
  });
  test('a HANDLE over 256 bytes is refused', () => {
    throwsCodec(() => decodeReply(b(102, 0, 0, 0, 1, 0, 0, 1, 1, Buffer.alloc(257))), 'SFTP_ERR_HANDLE_TOO_LONG', 1);
  });
  test('DATA is a view into the payload', () => {
    const pkt = b(103, 0, 0, 0, 1, 0, 0, 0, 3, 'abc');
    const reply = decodeReply(pkt);
    assert.equal(reply.kind === 'data' && reply.data.buffer, pkt.buffer);
  });
  test('a NAME count larger than the packet can hold is refused before allocating', () => {
    throwsCodec(() => decodeReply(b(104, 0, 0, 0, 1, 255, 255, 255, 255)), 'SFTP_ERR_TRUNCATED', 1);
  });
  test('limits with max-open-handles 0 (unknown)', () => {
    const data = b(0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 3, 0xfc, 0, 0, 0, 0, 0, 0, 3, 0xfc, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    assert.deepEqual(decodeLimitsReply(data), { maxPacketLength: 262144, maxReadLength: 261120, maxWriteLength: 261120, maxOpenHandles: 0 });
  });
  test('a check-file reply from ProFTPD (algorithm then digest)', () => {
    const digest = Buffer.alloc(32, 0x5a);
    assert.deepEqual(decodeCheckFileReply(b(0, 0, 0, 6, 'sha256', digest)), { algorithm: 'sha256', digests: digest });
  });
});
