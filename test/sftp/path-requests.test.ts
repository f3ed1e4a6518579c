import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { decodeInit, decodeRequest, encodeRequest } from '../../src/sftp/packets/packet.js';
import { StatusCode } from '../../src/sftp/constants.js';
import type { RequestOfKind, SftpRequest } from '../../src/sftp/request-types.js';
import { b, payloadOf, throwsCodec } from './wire.js';

/** Encode must give `want` exactly; decoding `want` must give `req` back. */
function roundTrip(req: SftpRequest, want: Buffer): void {
  assert.deepEqual(encodeRequest(req), want);
  assert.deepEqual(decodeRequest(payloadOf(want)), req);
}

describe('INIT', () => {
  test('version 3', () => {
    roundTrip({ kind: 'init', version: 3 }, b(0, 0, 0, 5, 1, 0, 0, 0, 3));
  });
  test('extension pairs after the version are ignored', () => {
    const pkt = b(1, 0, 0, 0, 6, 0, 0, 0, 1, 'x', 0, 0, 0, 1, 'y');
    assert.deepEqual(decodeInit(pkt), { kind: 'init', version: 6 });
  });
  test('a first packet other than INIT is a fatal error', () => {
    const err = throwsCodec(() => decodeInit(b(17, 0, 0, 0, 1, 0, 0, 0, 1, '/')), 'SFTP_ERR_NOT_INIT', 'none');
    assert.equal(err.fatal, true);
    throwsCodec(() => decodeInit(b()), 'SFTP_ERR_NOT_INIT', 'none');
  });
  test('a truncated INIT is fatal (it has no id)', () => {
    const err = throwsCodec(() => decodeInit(b(1, 0, 0, 3)), 'SFTP_ERR_TRUNCATED', 'none');
    assert.equal(err.fatal, true);
  });
});

describe('single-path requests', () => {
  const cases: Array<[SftpRequest['kind'], number]> = [
    ['lstat', 7],
    ['opendir', 11],
    ['remove', 13],
    ['rmdir', 15],
    ['realpath', 16],
    ['stat', 17],
    ['readlink', 19],
  ];
  for (const [kind, type] of cases) {
    test(`${kind} (type ${type})`, () => {
      const want = b(0, 0, 0, 13, type, 0, 0, 0, 42, 0, 0, 0, 4, '/foo');
      roundTrip({ kind, id: 42, path: '/foo' } as SftpRequest, want);
    });
  }
  test('an empty path', () => {
    roundTrip({ kind: 'stat', id: 1, path: '' }, b(0, 0, 0, 9, 17, 0, 0, 0, 1, 0, 0, 0, 0));
  });
  test('REALPATH ignores a v6 control byte and compose path', () => {
    const pkt = b(16, 0, 0, 0, 7, 0, 0, 0, 1, '.', 1, 0, 0, 0, 1, 'a');
    assert.deepEqual(decodeRequest(pkt), { kind: 'realpath', id: 7, path: '.' });
  });
  test('the largest request id', () => {
    roundTrip({ kind: 'stat', id: 0xffffffff, path: '/' }, b(0, 0, 0, 10, 17, 255, 255, 255, 255, 0, 0, 0, 1, '/'));
  });
  test('multi-byte UTF-8 paths decode exactly', () => {
    // "/é" = 2f c3 a9, "€" = e2 82 ac
    roundTrip({ kind: 'stat', id: 3, path: '/é€' }, b(0, 0, 0, 15, 17, 0, 0, 0, 3, 0, 0, 0, 6, 0x2f, 0xc3, 0xa9, 0xe2, 0x82, 0xac));
  });
  test('a leading byte-order mark is kept, not stripped', () => {
    const req = decodeRequest(b(17, 0, 0, 0, 3, 0, 0, 0, 4, 0xef, 0xbb, 0xbf, 'a'));
    assert.deepEqual(req, { kind: 'stat', id: 3, path: '\uFEFFa' });
  });
  test('NUL and control bytes are valid UTF-8: decoded as is (the jail refuses them)', () => {
    const req = decodeRequest(b(17, 0, 0, 0, 3, 0, 0, 0, 3, 'a', 0, 0x1b));
    assert.deepEqual(req, { kind: 'stat', id: 3, path: 'a\u0000\u001b' });
  });
});

describe('invalid UTF-8 paths are BAD_MESSAGE for the request id', () => {
  const bad: Array<[string, number[]]> = [
    ['a lone continuation byte', [0x80]],
    ['0xff', [0x2f, 0xff]],
    ['an overlong "/"', [0xc0, 0xaf]],
    ['a UTF-16 surrogate', [0xed, 0xa0, 0x80]],
    ['a cut sequence', [0x61, 0xe2, 0x82]],
    ['Latin-1 é', [0x63, 0x61, 0x66, 0xe9]],
  ];
  for (const [name, bytes] of bad) {
    test(name, () => {
      const pkt = b(17, 0, 0, 0, 9, 0, 0, 0, bytes.length, Buffer.from(bytes));
      const err = throwsCodec(() => decodeRequest(pkt), 'SFTP_ERR_BAD_UTF8', 9);
      assert.equal(err.status, StatusCode.BAD_MESSAGE);
      assert.equal(err.fatal, false);
    });
  }
  test('in the second path of RENAME', () => {
    const pkt = b(18, 0, 0, 0, 4, 0, 0, 0, 1, 'a', 0, 0, 0, 1, 0xfe);
    throwsCodec(() => decodeRequest(pkt), 'SFTP_ERR_BAD_UTF8', 4);
  });
});

describe('two-path requests', () => {
  test('RENAME oldpath, newpath', () => {
    const want = b(0, 0, 0, 22, 18, 0, 0, 0, 5, 0, 0, 0, 4, '/old', 0, 0, 0, 5, '/new1');
    roundTrip({ kind: 'rename', id: 5, oldPath: '/old', newPath: '/new1' }, want);
  });
  test('SYMLINK keeps wire order: OpenSSH sends (targetpath, linkpath)', () => {
    // What OpenSSH's `sftp ln -s target link` sends: the target first.
    const want = b(0, 0, 0, 24, 20, 0, 0, 0, 6, 0, 0, 0, 6, 'target', 0, 0, 0, 5, '/link');
    roundTrip({ kind: 'symlink', id: 6, first: 'target', second: '/link' }, want);
  });
});

describe('path + attrs requests', () => {
  test('MKDIR with permissions 0755', () => {
    const want = b(0, 0, 0, 19, 14, 0, 0, 0, 8, 0, 0, 0, 2, '/d', 0, 0, 0, 4, 0, 0, 0x01, 0xed);
    roundTrip({ kind: 'mkdir', id: 8, path: '/d', attrs: { permissions: 0o755 } }, want);
  });
  test('MKDIR with empty attrs', () => {
    const want = b(0, 0, 0, 15, 14, 0, 0, 0, 8, 0, 0, 0, 2, '/d', 0, 0, 0, 0);
    roundTrip({ kind: 'mkdir', id: 8, path: '/d', attrs: {} }, want);
  });
  test('SETSTAT with size and times', () => {
    const want = b(
      0, 0, 0, 31, 9, 0, 0, 0, 9, 0, 0, 0, 2, '/f',
      0, 0, 0, 9, // SIZE | ACMODTIME
      0, 0, 0, 1, 0, 0, 0, 0, // size 2^32
      0x65, 0x5c, 0x9b, 0x00, // atime
      0x65, 0x5c, 0x9b, 0x01, // mtime
    );
    const attrs = { size: 2 ** 32, atime: 0x655c9b00, mtime: 0x655c9b01 };
    roundTrip({ kind: 'setstat', id: 9, path: '/f', attrs }, want);
  });
});

describe('types', () => {
  test('every kind can be extracted from the union (the dispatcher table relies on it)', () => {
    const stat: RequestOfKind<'stat'> = { kind: 'stat', id: 1, path: '/' };
    const fsync: RequestOfKind<'fsync'> = { kind: 'fsync', id: 2, handle: Buffer.alloc(0) };
    const rename: RequestOfKind<'posix-rename'> = { kind: 'posix-rename', id: 3, oldPath: 'a', newPath: 'b' };
    assert.deepEqual([stat.kind, fsync.kind, rename.kind], ['stat', 'fsync', 'posix-rename']);
  });
});
