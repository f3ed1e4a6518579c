import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { attrFlags, attrsFromStats, attrsSize, type FileAttrs, readAttrs, writeAttrs } from '../../src/sftp/packets/attrs.js';
import { Reader } from '../../src/sftp/reader.js';
import { Writer } from '../../src/sftp/writer.js';
import { b, throwsCodec } from './wire.js';

/** The ATTRS bytes of `a` (without the writer's length prefix). */
function encode(a: FileAttrs): Buffer {
  const w = new Writer(8);
  writeAttrs(w, a);
  return w.finish().subarray(4);
}

function decode(bytes: Buffer): FileAttrs {
  const r = new Reader(bytes);
  const a = readAttrs(r);
  assert.equal(r.remaining, 0, 'all bytes consumed');
  return a;
}

const FULL: FileAttrs = { size: 1234, uid: 1000, gid: 100, permissions: 0o100644, atime: 1700000000, mtime: 1700567890 };
const FULL_BYTES = b(
  0, 0, 0, 0x0f,
  0, 0, 0, 0, 0, 0, 0x04, 0xd2, // size 1234
  0, 0, 0x03, 0xe8, 0, 0, 0, 0x64, // uid 1000, gid 100
  0, 0, 0x81, 0xa4, // 0100644
  0x65, 0x53, 0xf1, 0x00, // atime 1700000000
  0x65, 0x5c, 0x9b, 0x52, // mtime 1700567890
);

describe('ATTRS', () => {
  test('no fields: flags 0', () => {
    assert.deepEqual(encode({}), b(0, 0, 0, 0));
    assert.deepEqual(decode(b(0, 0, 0, 0)), {});
  });
  test('every field, byte-exact', () => {
    assert.deepEqual(encode(FULL), FULL_BYTES);
    assert.deepEqual(decode(FULL_BYTES), FULL);
    assert.equal(attrsSize(FULL), FULL_BYTES.length);
  });
  test('all 16 combinations of the four v3 field groups round-trip', () => {
    const groups: FileAttrs[] = [{ size: 2 ** 40 + 3 }, { uid: 0, gid: 0xffffffff }, { permissions: 0o40755 }, { atime: 0, mtime: 0xffffffff }];
    for (let mask = 0; mask < 16; mask++) {
      const a: FileAttrs = Object.assign({}, ...groups.filter((_, i) => mask & (1 << i)));
      const bytes = encode(a);
      assert.equal(bytes.readUInt32BE(0), mask);
      assert.equal(bytes.length, attrsSize(a));
      assert.deepEqual(decode(bytes), a);
    }
  });
  test('extended pairs', () => {
    const a: FileAttrs = { size: 1, extended: [{ type: 'acl@x', data: b(1, 2) }] };
    const want = b(0x80, 0, 0, 0x01, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 5, 'acl@x', 0, 0, 0, 2, 1, 2);
    assert.deepEqual(encode(a), want);
    assert.deepEqual(decode(want), a);
  });
  test('more than 64 extended pairs is refused before reading them', () => {
    const bytes = b(0x80, 0, 0, 0, 0, 0, 0, 65);
    throwsCodec(() => readAttrs(new Reader(bytes)), 'SFTP_ERR_TOO_MANY_ATTR_EXTENSIONS');
    throwsCodec(() => readAttrs(new Reader(b(0x80, 0, 0, 0, 0xff, 0xff, 0xff, 0xff))), 'SFTP_ERR_TOO_MANY_ATTR_EXTENSIONS');
  });
  test('a count of 64 pairs that are not there is truncation', () => {
    throwsCodec(() => readAttrs(new Reader(b(0x80, 0, 0, 0, 0, 0, 0, 64))), 'SFTP_ERR_TRUNCATED');
  });
  test('unknown flag bits are ignored (OpenSSH decode_attrib)', () => {
    assert.deepEqual(decode(b(0, 0, 0x01, 0x04, 0, 0, 0x01, 0xed)), { permissions: 0o755 });
  });
  test('a pair with one half missing is not sent', () => {
    assert.equal(attrFlags({ uid: 1 }), 0);
    assert.equal(attrFlags({ mtime: 1 }), 0);
    assert.deepEqual(encode({ gid: 5, atime: 7 }), b(0, 0, 0, 0));
  });
  test('values the wire cannot carry are refused', () => {
    throwsCodec(() => encode({ size: -1 }), 'SFTP_ERR_BAD_VALUE');
    throwsCodec(() => encode({ size: 2 ** 53 }), 'SFTP_ERR_BAD_VALUE');
    throwsCodec(() => encode({ permissions: 2 ** 32 }), 'SFTP_ERR_BAD_VALUE');
    throwsCodec(() => encode({ atime: 1.5, mtime: 1 }), 'SFTP_ERR_BAD_VALUE');
  });
});

describe('attrsFromStats', () => {
  test('copies size, ids and mode; times become whole seconds', () => {
    const st = { size: 1234, uid: 1000, gid: 100, mode: 0o100644, atimeMs: 1700000000999.5, mtimeMs: 1700567890000 };
    assert.deepEqual(attrsFromStats(st), FULL);
  });
  test('clamps times before 1970 and after 2106 into uint32', () => {
    const a = attrsFromStats({ size: 0, uid: 0, gid: 0, mode: 0, atimeMs: -5000, mtimeMs: 2 ** 33 * 1000 });
    assert.equal(a.atime, 0);
    assert.equal(a.mtime, 0xffffffff);
    assert.doesNotThrow(() => encode(a));
  });
});
