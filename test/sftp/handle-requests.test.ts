import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { decodeRequest, encodeRequest } from '../../src/sftp/packets/packet.js';
import type { SftpRequest } from '../../src/sftp/request-types.js';
import { b, payloadOf, throwsCodec } from './wire.js';

function roundTrip(req: SftpRequest, want: Buffer): void {
  assert.deepEqual(encodeRequest(req), want);
  assert.deepEqual(decodeRequest(payloadOf(want)), req);
}

const H = b(0, 0, 0, 1); // a 4-byte handle, as OpenSSH's server makes them

describe('single-handle requests', () => {
  const cases: Array<['close' | 'fstat' | 'readdir', number]> = [
    ['close', 4],
    ['fstat', 8],
    ['readdir', 12],
  ];
  for (const [kind, type] of cases) {
    test(`${kind} (type ${type})`, () => {
      roundTrip({ kind, id: 42, handle: H }, b(0, 0, 0, 13, type, 0, 0, 0, 42, 0, 0, 0, 4, 0, 0, 0, 1));
    });
  }
  test('the handle is a view into the packet, not a copy', () => {
    const pkt = b(4, 0, 0, 0, 1, 0, 0, 0, 2, 'hh');
    const req = decodeRequest(pkt);
    assert.equal(req.kind, 'close');
    if (req.kind === 'close') assert.equal(req.handle.buffer, pkt.buffer);
  });
  test('an empty handle decodes (the handle table refuses it)', () => {
    roundTrip({ kind: 'close', id: 1, handle: b() }, b(0, 0, 0, 9, 4, 0, 0, 0, 1, 0, 0, 0, 0));
  });
  test('a 256-byte handle is accepted', () => {
    const h = Buffer.alloc(256, 7);
    const req = decodeRequest(b(4, 0, 0, 0, 1, 0, 0, 1, 0, h));
    assert.deepEqual(req, { kind: 'close', id: 1, handle: h });
  });
  test('a 257-byte handle is BAD_MESSAGE for the id', () => {
    const pkt = b(8, 0, 0, 0, 77, 0, 0, 1, 1, Buffer.alloc(257, 7));
    const err = throwsCodec(() => decodeRequest(pkt), 'SFTP_ERR_HANDLE_TOO_LONG', 77);
    assert.equal(err.status, 5);
  });
});

describe('READ', () => {
  test('offset 0, length 32768', () => {
    const want = b(0, 0, 0, 25, 5, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0);
    roundTrip({ kind: 'read', id: 1, handle: H, offset: 0, length: 32768 }, want);
  });
  test('offset 2^40 is read exactly', () => {
    const want = b(0, 0, 0, 25, 5, 0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0x01, 0, 0, 0, 0, 0, 0, 0x03, 0xfc, 0);
    roundTrip({ kind: 'read', id: 2, handle: H, offset: 2 ** 40, length: 261120 }, want);
  });
  test('offset 2^53 - 1 is the largest accepted', () => {
    const want = b(0, 0, 0, 25, 5, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0x1f, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255);
    roundTrip({ kind: 'read', id: 3, handle: H, offset: Number.MAX_SAFE_INTEGER, length: 0xffffffff }, want);
  });
  test('offset 2^53 is rejected with the id', () => {
    const pkt = b(5, 0, 0, 0, 4, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0);
    throwsCodec(() => decodeRequest(pkt), 'SFTP_ERR_UNSAFE_INTEGER', 4);
  });
  test('offset 0xFFFFFFFFFFFFFFFF is rejected with the id', () => {
    const pkt = b(5, 0, 0, 0, 5, 0, 0, 0, 4, 0, 0, 0, 1, 255, 255, 255, 255, 255, 255, 255, 255, 0, 0, 0x80, 0);
    throwsCodec(() => decodeRequest(pkt), 'SFTP_ERR_UNSAFE_INTEGER', 5);
  });
  test('the encoder refuses offsets that are not safe non-negative integers', () => {
    for (const offset of [2 ** 53, -1, 1.5, Number.NaN]) {
      throwsCodec(() => encodeRequest({ kind: 'read', id: 1, handle: H, offset, length: 1 }), 'SFTP_ERR_BAD_VALUE');
    }
  });
});

describe('WRITE', () => {
  test('data at offset 2^32 + 1', () => {
    const want = b(0, 0, 0, 30, 6, 0, 0, 0, 9, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 5, 'hello');
    roundTrip({ kind: 'write', id: 9, handle: H, offset: 2 ** 32 + 1, data: b('hello') }, want);
  });
  test('empty data', () => {
    const want = b(0, 0, 0, 25, 6, 0, 0, 0, 9, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    roundTrip({ kind: 'write', id: 9, handle: H, offset: 0, data: b() }, want);
  });
  test('255 KiB of data is a view into the payload (no copy)', () => {
    const data = Buffer.alloc(261120, 0xab);
    const msg = encodeRequest({ kind: 'write', id: 1, handle: H, offset: 0, data });
    assert.equal(msg.length, 4 + 1 + 4 + 8 + 8 + 4 + 261120);
    const payload = payloadOf(msg);
    const req = decodeRequest(payload);
    assert.equal(req.kind, 'write');
    if (req.kind !== 'write') return;
    assert.equal(req.data.buffer, payload.buffer);
    assert.equal(req.data.byteOffset, payload.byteOffset + 25);
    assert.deepEqual(req.data, data);
  });
  test('a data length past the end is truncation, with the id', () => {
    const pkt = b(6, 0, 0, 0, 9, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 6, 'hello');
    throwsCodec(() => decodeRequest(pkt), 'SFTP_ERR_TRUNCATED', 9);
  });
  test('a data length of 0xFFFFFFFF is truncation, not an allocation', () => {
    const pkt = b(6, 0, 0, 0, 9, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 255, 255, 'x');
    throwsCodec(() => decodeRequest(pkt), 'SFTP_ERR_TRUNCATED', 9);
  });
});

describe('FSETSTAT', () => {
  test('size 0 and permissions 0644', () => {
    const want = b(0, 0, 0, 29, 10, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xa4);
    roundTrip({ kind: 'fsetstat', id: 3, handle: H, attrs: { size: 0, permissions: 0o644 } }, want);
  });
});

describe('trailing bytes after a complete request are ignored (as OpenSSH does)', () => {
  test('CLOSE with one extra byte', () => {
    const req = decodeRequest(b(4, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 1, 0xff));
    assert.deepEqual(req, { kind: 'close', id: 1, handle: H });
  });
});
