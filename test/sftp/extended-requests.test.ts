import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { decodeRequest, encodeRequest } from '../../src/sftp/packets/packet.js';
import type { SftpRequest } from '../../src/sftp/request-types.js';
import { b, payloadOf, throwsCodec } from './wire.js';

function roundTrip(req: SftpRequest, want: Buffer): void {
  assert.deepEqual(encodeRequest(req), want);
  assert.deepEqual(decodeRequest(payloadOf(want)), req);
}

const H = b(0, 0, 0, 1);
const H2 = b(0, 0, 0, 2);

describe('OpenSSH extensions', () => {
  test('posix-rename@openssh.com oldpath newpath', () => {
    const want = b(0, 0, 0, 45, 200, 0, 0, 0, 1, 0, 0, 0, 24, 'posix-rename@openssh.com', 0, 0, 0, 2, '/a', 0, 0, 0, 2, '/b');
    roundTrip({ kind: 'posix-rename', id: 1, oldPath: '/a', newPath: '/b' }, want);
  });
  test('statvfs@openssh.com path', () => {
    const want = b(0, 0, 0, 33, 200, 0, 0, 0, 2, 0, 0, 0, 19, 'statvfs@openssh.com', 0, 0, 0, 1, '/');
    roundTrip({ kind: 'statvfs', id: 2, path: '/' }, want);
  });
  test('fstatvfs@openssh.com handle', () => {
    const want = b(0, 0, 0, 37, 200, 0, 0, 0, 3, 0, 0, 0, 20, 'fstatvfs@openssh.com', 0, 0, 0, 4, 0, 0, 0, 1);
    roundTrip({ kind: 'fstatvfs', id: 3, handle: H }, want);
  });
  test('fsync@openssh.com handle', () => {
    const want = b(0, 0, 0, 34, 200, 0, 0, 0, 4, 0, 0, 0, 17, 'fsync@openssh.com', 0, 0, 0, 4, 0, 0, 0, 1);
    roundTrip({ kind: 'fsync', id: 4, handle: H }, want);
  });
  test('limits@openssh.com (no arguments)', () => {
    const want = b(0, 0, 0, 27, 200, 0, 0, 0, 5, 0, 0, 0, 18, 'limits@openssh.com');
    roundTrip({ kind: 'limits', id: 5 }, want);
  });
  test('expand-path@openssh.com path', () => {
    const want = b(0, 0, 0, 37, 200, 0, 0, 0, 6, 0, 0, 0, 23, 'expand-path@openssh.com', 0, 0, 0, 1, '~');
    roundTrip({ kind: 'expand-path', id: 6, path: '~' }, want);
  });
  test('home-directory username', () => {
    const want = b(0, 0, 0, 32, 200, 0, 0, 0, 7, 0, 0, 0, 14, 'home-directory', 0, 0, 0, 5, 'alice');
    roundTrip({ kind: 'home-directory', id: 7, username: 'alice' }, want);
  });
  test('copy-data read-handle offset length write-handle offset', () => {
    const want = b(
      0, 0, 0, 58, 200, 0, 0, 0, 8, 0, 0, 0, 9, 'copy-data',
      0, 0, 0, 4, 0, 0, 0, 1,
      0, 0, 0, 0, 0, 0, 0x10, 0, // read from 4096
      0, 0, 0, 0, 0, 0, 0, 0, // length 0 = to EOF
      0, 0, 0, 4, 0, 0, 0, 2,
      0, 0, 0x01, 0, 0, 0, 0, 0, // write to 2^40
    );
    const req: SftpRequest = { kind: 'copy-data', id: 8, readHandle: H, readOffset: 4096, readLength: 0, writeHandle: H2, writeOffset: 2 ** 40 };
    roundTrip(req, want);
  });
  test('copy-data with a write offset of 2^63 is rejected with the id', () => {
    const pkt = b(200, 0, 0, 0, 8, 0, 0, 0, 9, 'copy-data', 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 0x80, 0, 0, 0, 0, 0, 0, 0);
    throwsCodec(() => decodeRequest(pkt), 'SFTP_ERR_UNSAFE_INTEGER', 8);
  });
});

describe('check-file (draft-ietf-secsh-filexfer-extensions)', () => {
  test('check-file-name path "md5,sha256" start length block-size', () => {
    const want = b(
      0, 0, 0, 68, 200, 0, 0, 0, 9, 0, 0, 0, 15, 'check-file-name',
      0, 0, 0, 6, '/f.bin',
      0, 0, 0, 10, 'md5,sha256',
      0, 0, 0, 0, 0, 0, 0, 0,
      0, 0, 0, 0, 0, 0x10, 0, 0, // 1 MiB
      0, 0, 0x01, 0, // block size 256
    );
    const req: SftpRequest = { kind: 'check-file-name', id: 9, path: '/f.bin', algorithms: ['md5', 'sha256'], start: 0, length: 1048576, blockSize: 256 };
    roundTrip(req, want);
  });
  test('check-file-handle (WinSCP: one algorithm, 0, 0, 0)', () => {
    const want = b(0, 0, 0, 62, 200, 0, 0, 0, 10, 0, 0, 0, 17, 'check-file-handle', 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0, 4, 'sha1', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    const req: SftpRequest = { kind: 'check-file-handle', id: 10, handle: H, algorithms: ['sha1'], start: 0, length: 0, blockSize: 0, legacy: false };
    roundTrip(req, want);
  });
  test("paramiko's check-file: a handle, legacy reply form", () => {
    const want = b(0, 0, 0, 54, 200, 0, 0, 0, 11, 0, 0, 0, 10, 'check-file', 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0, 3, 'md5', 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 6, 0, 0, 0, 0);
    const req: SftpRequest = { kind: 'check-file-handle', id: 11, handle: H, algorithms: ['md5'], start: 5, length: 6, blockSize: 0, legacy: true };
    roundTrip(req, want);
  });
  test('an empty algorithm list decodes to [""] (no supported algorithm)', () => {
    const pkt = b(200, 0, 0, 0, 1, 0, 0, 0, 15, 'check-file-name', 0, 0, 0, 1, 'f', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    const req = decodeRequest(pkt);
    assert.equal(req.kind, 'check-file-name');
    if (req.kind === 'check-file-name') assert.deepEqual(req.algorithms, ['']);
  });
  test('a missing block size is truncation with the id', () => {
    const pkt = b(200, 0, 0, 0, 12, 0, 0, 0, 15, 'check-file-name', 0, 0, 0, 1, 'f', 0, 0, 0, 3, 'md5', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    throwsCodec(() => decodeRequest(pkt), 'SFTP_ERR_TRUNCATED', 12);
  });
});

describe('unknown extensions decode, they are not errors', () => {
  test('hardlink@openssh.com (not offered) keeps its name and raw data', () => {
    const data = b(0, 0, 0, 1, 'a', 0, 0, 0, 1, 'b');
    const want = b(0, 0, 0, 39, 200, 0, 0, 0, 13, 0, 0, 0, 20, 'hardlink@openssh.com', data);
    roundTrip({ kind: 'unknown-extended', id: 13, name: 'hardlink@openssh.com', data }, want);
  });
  test('an unknown name with no data', () => {
    roundTrip({ kind: 'unknown-extended', id: 14, name: 'x', data: b() }, b(0, 0, 0, 10, 200, 0, 0, 0, 14, 0, 0, 0, 1, 'x'));
  });
  test('an unknown name that is not UTF-8 still decodes', () => {
    const req = decodeRequest(b(200, 0, 0, 0, 15, 0, 0, 0, 2, 0xff, 0xfe, 9));
    assert.equal(req.kind, 'unknown-extended');
    if (req.kind === 'unknown-extended') {
      assert.equal(req.id, 15);
      assert.deepEqual(req.data, b(9));
    }
  });
  test('names match exactly: case and suffixes matter', () => {
    for (const name of ['LIMITS@openssh.com', 'limits@openssh.com ', 'check-file-names']) {
      const req = decodeRequest(b(200, 0, 0, 0, 1, 0, 0, 0, name.length, name));
      assert.equal(req.kind, 'unknown-extended', name);
    }
  });
  test('a missing extension name is truncation with the id', () => {
    throwsCodec(() => decodeRequest(b(200, 0, 0, 0, 16)), 'SFTP_ERR_TRUNCATED', 16);
  });
});
