import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { allocDataReply, DATA_HEADER_LENGTH, encodeData, finishDataReply } from '../../src/sftp/packets/data.js';
import { encodeAttrs } from '../../src/sftp/packets/attrs.js';
import { encodeExtendedReply } from '../../src/sftp/packets/extended-reply.js';
import { encodeHandle } from '../../src/sftp/packets/handle.js';
import { encodeName, encodePathName } from '../../src/sftp/packets/name.js';
import { encodeStatus } from '../../src/sftp/packets/status.js';
import { encodeVersion } from '../../src/sftp/packets/version.js';
import { SERVER_EXTENSIONS, StatusCode } from '../../src/sftp/constants.js';
import { decodeReply, type SftpReply } from '../../src/sftp/packets/packet.js';
import { b, payloadOf, throwsCodec } from './wire.js';

/** `msg` must equal `want`, and decode back to `reply`. */
function check(msg: Buffer, want: Buffer, reply: SftpReply): void {
  assert.deepEqual(msg, want);
  assert.deepEqual(decodeReply(payloadOf(want)), reply);
}

describe('VERSION', () => {
  test('version 3 without extensions', () => {
    check(encodeVersion(3), b(0, 0, 0, 5, 2, 0, 0, 0, 3), { kind: 'version', version: 3, extensions: [] });
  });
  test('version 3 with extension pairs', () => {
    const want = b(0, 0, 0, 57, 2, 0, 0, 0, 3, 0, 0, 0, 24, 'posix-rename@openssh.com', 0, 0, 0, 1, '1', 0, 0, 0, 10, 'check-file', 0, 0, 0, 1, '1');
    check(encodeVersion(3, [['posix-rename@openssh.com', '1'], ['check-file', '1']]), want, {
      kind: 'version',
      version: 3,
      extensions: [['posix-rename@openssh.com', '1'], ['check-file', '1']],
    });
  });
  test("Coffer's advertised set (SPEC §5), in order", () => {
    const reply = decodeReply(payloadOf(encodeVersion(3, SERVER_EXTENSIONS)));
    assert.deepEqual(reply, {
      kind: 'version',
      version: 3,
      extensions: [
        ['posix-rename@openssh.com', '1'],
        ['statvfs@openssh.com', '2'],
        ['fstatvfs@openssh.com', '2'],
        ['fsync@openssh.com', '1'],
        ['limits@openssh.com', '1'],
        ['expand-path@openssh.com', '1'],
        ['home-directory', '1'],
        ['copy-data', '1'],
        ['check-file', '1'],
      ],
    });
  });
});

describe('STATUS', () => {
  test('OK with the default message', () => {
    const want = b(0, 0, 0, 24, 101, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 7, 'Success', 0, 0, 0, 0);
    check(encodeStatus(1, StatusCode.OK), want, { kind: 'status', id: 1, code: 0, message: 'Success', language: '' });
  });
  test('FAILURE "Quota exceeded"', () => {
    const want = b(0, 0, 0, 31, 101, 0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 0, 14, 'Quota exceeded', 0, 0, 0, 0);
    check(encodeStatus(2, StatusCode.FAILURE, 'Quota exceeded'), want, { kind: 'status', id: 2, code: 4, message: 'Quota exceeded', language: '' });
  });
  test("default messages are OpenSSH's", () => {
    const words = ['Success', 'End of file', 'No such file', 'Permission denied', 'Failure', 'Bad message', 'No connection', 'Connection lost', 'Operation unsupported', 'Unknown error'];
    words.forEach((message, code) => {
      const reply = decodeReply(payloadOf(encodeStatus(code, code)));
      assert.deepEqual(reply, { kind: 'status', id: code, code, message, language: '' });
    });
  });
  test('a UTF-8 message counts bytes, not characters', () => {
    const msg = encodeStatus(3, 4, 'é');
    assert.deepEqual(msg, b(0, 0, 0, 19, 101, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 2, 0xc3, 0xa9, 0, 0, 0, 0));
  });
  test('a negative id or code is refused', () => {
    throwsCodec(() => encodeStatus(-1, 0), 'SFTP_ERR_BAD_VALUE');
    throwsCodec(() => encodeStatus(1, 2 ** 32), 'SFTP_ERR_BAD_VALUE');
  });
});

describe('HANDLE and DATA', () => {
  test('HANDLE', () => {
    const want = b(0, 0, 0, 13, 102, 0, 0, 0, 4, 0, 0, 0, 4, 0, 0, 0, 1);
    check(encodeHandle(4, b(0, 0, 0, 1)), want, { kind: 'handle', id: 4, handle: b(0, 0, 0, 1) });
  });
  test('DATA (copying)', () => {
    const want = b(0, 0, 0, 14, 103, 0, 0, 0, 5, 0, 0, 0, 5, 'hello');
    check(encodeData(5, b('hello')), want, { kind: 'data', id: 5, data: b('hello') });
  });
  test('DATA read into place gives the same bytes, with no copy of the payload', () => {
    const buf = allocDataReply(16);
    const n = buf.write('hello', DATA_HEADER_LENGTH);
    const msg = finishDataReply(buf, 5, n);
    assert.deepEqual(msg, encodeData(5, b('hello')));
    assert.equal(msg.buffer, buf.buffer);
    assert.equal(msg.byteOffset, buf.byteOffset);
  });
  test('DATA read into place refuses a length beyond the buffer', () => {
    throwsCodec(() => finishDataReply(allocDataReply(4), 1, 5), 'SFTP_ERR_BAD_VALUE');
  });
  test('a full 255 KiB DATA fits under the 256 KiB maximum', () => {
    const msg = encodeData(1, Buffer.alloc(261120));
    assert.equal(msg.readUInt32BE(0), 261120 + 9);
  });
});

describe('NAME', () => {
  test('two entries', () => {
    const want = b(
      0, 0, 0, 62, 104, 0, 0, 0, 6, 0, 0, 0, 2,
      0, 0, 0, 1, 'a', 0, 0, 0, 6, '-rw a ', 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 3,
      0, 0, 0, 2, 'bc', 0, 0, 0, 0, 0, 0, 0, 0x0c, 0, 0, 0x41, 0xed, 0, 0, 0, 1, 0, 0, 0, 2,
    );
    const entries = [
      { filename: 'a', longname: '-rw a ', attrs: { size: 3 } },
      { filename: 'bc', longname: '', attrs: { permissions: 0o40755, atime: 1, mtime: 2 } },
    ];
    check(encodeName(6, entries), want, { kind: 'name', id: 6, entries });
  });
  test('no entries', () => {
    check(encodeName(7, []), b(0, 0, 0, 9, 104, 0, 0, 0, 7, 0, 0, 0, 0), { kind: 'name', id: 7, entries: [] });
  });
  test('REALPATH / expand-path / home-directory form: one path, empty attrs', () => {
    const want = b(0, 0, 0, 33, 104, 0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, 6, '/alice', 0, 0, 0, 6, '/alice', 0, 0, 0, 0);
    check(encodePathName(8, '/alice'), want, {
      kind: 'name',
      id: 8,
      entries: [{ filename: '/alice', longname: '/alice', attrs: {} }],
    });
  });
  test('a NAME over 256 KiB is refused (send fewer entries)', () => {
    const entry = { filename: 'x'.repeat(1000), longname: 'x'.repeat(1000), attrs: {} };
    throwsCodec(() => encodeName(1, Array.from({ length: 200 }, () => entry)), 'SFTP_ERR_MESSAGE_TOO_LONG');
  });
});

describe('ATTRS and EXTENDED_REPLY', () => {
  test('ATTRS', () => {
    const want = b(0, 0, 0, 21, 105, 0, 0, 0, 9, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0x81, 0xa4);
    check(encodeAttrs(9, { size: 16, permissions: 0o100644 }), want, { kind: 'attrs', id: 9, attrs: { size: 16, permissions: 0o100644 } });
  });
  test('EXTENDED_REPLY with a raw payload', () => {
    const want = b(0, 0, 0, 8, 201, 0, 0, 0, 10, 1, 2, 3);
    check(encodeExtendedReply(10, b(1, 2, 3)), want, { kind: 'extended-reply', id: 10, data: b(1, 2, 3) });
  });
});
