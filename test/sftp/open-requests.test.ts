import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { decodeRequest, encodeRequest } from '../../src/sftp/packets/packet.js';
import { OpenFlags } from '../../src/sftp/constants.js';
import type { SftpRequest } from '../../src/sftp/request-types.js';
import { b, payloadOf, throwsCodec } from './wire.js';

function roundTrip(req: SftpRequest, want: Buffer): void {
  assert.deepEqual(encodeRequest(req), want);
  assert.deepEqual(decodeRequest(payloadOf(want)), req);
}

describe('OPEN', () => {
  test('OpenSSH `put`: WRITE|CREAT|TRUNC with permissions 0644', () => {
    const want = b(
      0, 0, 0, 27, 3, 0, 0, 0, 1,
      0, 0, 0, 6, '/a.txt',
      0, 0, 0, 0x1a, // WRITE | CREAT | TRUNC
      0, 0, 0, 4, 0, 0, 0x01, 0xa4,
    );
    const pflags = OpenFlags.WRITE | OpenFlags.CREAT | OpenFlags.TRUNC;
    roundTrip({ kind: 'open', id: 1, path: '/a.txt', pflags, attrs: { permissions: 0o644 } }, want);
  });
  test('OpenSSH `reput`: WRITE|CREAT|APPEND, empty attrs', () => {
    const want = b(0, 0, 0, 19, 3, 0, 0, 0, 2, 0, 0, 0, 2, '/a', 0, 0, 0, 0x0e, 0, 0, 0, 0);
    roundTrip({ kind: 'open', id: 2, path: '/a', pflags: 0x0e, attrs: {} }, want);
  });
  test('every combination of the six pflags bits decodes unchanged', () => {
    for (let pflags = 0; pflags < 64; pflags++) {
      const msg = encodeRequest({ kind: 'open', id: pflags, path: '/f', pflags, attrs: {} });
      assert.equal(msg[18], pflags);
      assert.deepEqual(decodeRequest(payloadOf(msg)), { kind: 'open', id: pflags, path: '/f', pflags, attrs: {} });
    }
  });
  test('unknown pflags bits are passed through raw (the dispatcher decides)', () => {
    const req = decodeRequest(b(3, 0, 0, 0, 1, 0, 0, 0, 1, 'f', 0x80, 0, 0, 0x41, 0, 0, 0, 0));
    assert.deepEqual(req, { kind: 'open', id: 1, path: 'f', pflags: 0x80000041, attrs: {} });
  });
  test('missing attrs is truncation with the id', () => {
    throwsCodec(() => decodeRequest(b(3, 0, 0, 0, 5, 0, 0, 0, 1, 'f', 0, 0, 0, 1)), 'SFTP_ERR_TRUNCATED', 5);
  });
  test('attrs announcing a size past 2^53 is rejected with the id', () => {
    const pkt = b(3, 0, 0, 0, 6, 0, 0, 0, 1, 'f', 0, 0, 0, 0x1a, 0, 0, 0, 1, 0xff, 0, 0, 0, 0, 0, 0, 0);
    throwsCodec(() => decodeRequest(pkt), 'SFTP_ERR_UNSAFE_INTEGER', 6);
  });
});
