import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { decodeReply, decodeRequest, encodeRequest } from '../../src/sftp/packets/packet.js';
import { PacketFramer } from '../../src/sftp/framing.js';
import { SftpCodecError } from '../../src/sftp/errors.js';
import { StatusCode } from '../../src/sftp/constants.js';
import { encodeAttrs } from '../../src/sftp/packets/attrs.js';
import { encodeName } from '../../src/sftp/packets/name.js';
import { encodeStatus } from '../../src/sftp/packets/status.js';
import { encodeVersion } from '../../src/sftp/packets/version.js';
import type { SftpRequest } from '../../src/sftp/request-types.js';
import { b, payloadOf, prng, throwsCodec } from './wire.js';

const H = b(0, 0, 0, 1);
const ATTRS = { size: 5, uid: 1, gid: 2, permissions: 0o644, atime: 3, mtime: 4, extended: [{ type: 't', data: b(1) }] };
const CHECK = { algorithms: ['md5', 'sha1'], start: 1, length: 2, blockSize: 256 };

/** One real request of every kind (unknown-extended excluded: its data is "the rest"). */
const REQUESTS: SftpRequest[] = [
  { kind: 'open', id: 1, path: '/f', pflags: 0x1a, attrs: ATTRS },
  { kind: 'close', id: 2, handle: H },
  { kind: 'read', id: 3, handle: H, offset: 2 ** 40, length: 1024 },
  { kind: 'write', id: 4, handle: H, offset: 7, data: b('data') },
  { kind: 'lstat', id: 5, path: '/l' },
  { kind: 'fstat', id: 6, handle: H },
  { kind: 'setstat', id: 7, path: '/s', attrs: ATTRS },
  { kind: 'fsetstat', id: 8, handle: H, attrs: ATTRS },
  { kind: 'opendir', id: 9, path: '/d' },
  { kind: 'readdir', id: 10, handle: H },
  { kind: 'remove', id: 11, path: '/r' },
  { kind: 'mkdir', id: 12, path: '/m', attrs: { permissions: 0o755 } },
  { kind: 'rmdir', id: 13, path: '/m' },
  { kind: 'realpath', id: 14, path: '.' },
  { kind: 'stat', id: 15, path: '/s' },
  { kind: 'rename', id: 16, oldPath: '/a', newPath: '/b' },
  { kind: 'readlink', id: 17, path: '/l' },
  { kind: 'symlink', id: 18, first: 't', second: '/l' },
  { kind: 'posix-rename', id: 19, oldPath: '/a', newPath: '/b' },
  { kind: 'statvfs', id: 20, path: '/' },
  { kind: 'fstatvfs', id: 21, handle: H },
  { kind: 'fsync', id: 22, handle: H },
  { kind: 'limits', id: 23 },
  { kind: 'expand-path', id: 24, path: '~/x' },
  { kind: 'home-directory', id: 25, username: 'alice' },
  { kind: 'copy-data', id: 26, readHandle: H, readOffset: 1, readLength: 2, writeHandle: H, writeOffset: 3 },
  { kind: 'check-file-name', id: 27, path: '/f', ...CHECK },
  { kind: 'check-file-handle', id: 28, handle: H, ...CHECK, legacy: false },
  { kind: 'check-file-handle', id: 29, handle: H, ...CHECK, legacy: true },
];

describe('every prefix of a real request is a clean, typed error', () => {
  for (const req of REQUESTS) {
    test(`${req.kind}${'legacy' in req && req.legacy ? ' (legacy)' : ''}`, () => {
      const payload = payloadOf(encodeRequest(req));
      assert.deepEqual(decodeRequest(payload), req);
      for (let cut = 0; cut < payload.length; cut++) {
        const err = throwsCodec(() => decodeRequest(payload.subarray(0, cut)), 'SFTP_ERR_TRUNCATED');
        // Once the 4 id bytes are in, the error names the id: the session answers BAD_MESSAGE.
        assert.equal(err.id, cut >= 5 ? (req as { id: number }).id : undefined, `cut ${cut}`);
        if (cut >= 5) assert.equal(err.status, StatusCode.BAD_MESSAGE);
      }
    });
  }
});

describe('unknown packet types', () => {
  test('a reply type sent as a request: OP_UNSUPPORTED for its id', () => {
    const err = throwsCodec(() => decodeRequest(b(101, 0, 0, 0, 9, 0, 0, 0, 0)), 'SFTP_ERR_UNKNOWN_TYPE', 9);
    assert.equal(err.status, StatusCode.OP_UNSUPPORTED);
  });
  test('every type byte that is not a request', () => {
    const known = new Set([1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 200]);
    for (let type = 0; type < 256; type++) {
      if (known.has(type)) continue;
      throwsCodec(() => decodeRequest(b(type, 0, 0, 1, 0)), 'SFTP_ERR_UNKNOWN_TYPE', 256);
    }
  });
  test('an unknown type too short for an id is fatal', () => {
    const err = throwsCodec(() => decodeRequest(b(99, 0)), 'SFTP_ERR_TRUNCATED', 'none');
    assert.equal(err.fatal, true);
  });
  test('a request type sent to the client decoder', () => {
    throwsCodec(() => decodeReply(b(17, 0, 0, 0, 1)), 'SFTP_ERR_UNKNOWN_TYPE', 1);
  });
});

/** Runs `fn`; anything thrown must be an SftpCodecError. Returns whether it threw. */
function onlyCodecErrors(fn: () => unknown, what: string): boolean {
  try {
    fn();
    return false;
  } catch (e) {
    if (!(e instanceof SftpCodecError)) assert.fail(`${what}: unexpected ${String(e)}`);
    return true;
  }
}

describe('seeded random input never crashes the framer or the decoders', () => {
  const seeds = REQUESTS.map((r) => payloadOf(encodeRequest(r)));
  const replies = [encodeVersion(3, [['a', '1']]), encodeStatus(1, 4), encodeAttrs(2, ATTRS), encodeName(3, [{ filename: 'a', longname: 'b', attrs: ATTRS }])].map(payloadOf);

  test('2000 random and mutated packets through framer + decodeRequest', () => {
    const rnd = prng(0xc0ffee);
    let errors = 0;
    for (let i = 0; i < 2000; i++) {
      const payload = i % 2 === 0 ? randomPayload(rnd) : mutate(seeds[i % seeds.length]!, rnd);
      const frame = Buffer.alloc(4 + payload.length);
      frame.writeUInt32BE(rnd() < 0.05 ? Math.floor(rnd() * 2 ** 32) : payload.length, 0);
      payload.copy(frame, 4);
      const framer = new PacketFramer();
      const threw = onlyCodecErrors(() => framer.push(frame, (p) => {
        if (onlyCodecErrors(() => decodeRequest(p), `packet ${i}`)) errors++;
      }), `frame ${i}`);
      if (threw) errors++;
    }
    // The test must be able to fail: most of this input really is malformed.
    assert.ok(errors > 500, `only ${errors} errors`);
  });
  test('2000 random and mutated payloads through decodeReply', () => {
    const rnd = prng(42);
    for (let i = 0; i < 2000; i++) {
      const payload = i % 2 === 0 ? randomPayload(rnd) : mutate(replies[i % replies.length]!, rnd);
      onlyCodecErrors(() => decodeReply(payload), `reply ${i}`);
    }
  });
});

const TYPES = [1, 3, 4, 5, 6, 7, 9, 10, 14, 16, 18, 20, 200, 101, 102, 103, 104, 105, 201, 2];

function randomPayload(rnd: () => number): Buffer {
  const p = Buffer.alloc(1 + Math.floor(rnd() * 64));
  for (let j = 0; j < p.length; j++) p[j] = Math.floor(rnd() * 256);
  p[0] = TYPES[Math.floor(rnd() * TYPES.length)]!;
  // Small length fields reach deeper than random 32-bit ones.
  if (p.length > 9 && rnd() < 0.7) p.writeUInt32BE(Math.floor(rnd() * 24), 5);
  return p;
}

function mutate(seed: Buffer, rnd: () => number): Buffer {
  const p = Buffer.from(seed);
  const n = 1 + Math.floor(rnd() * 3);
  for (let j = 0; j < n; j++) p[Math.floor(rnd() * p.length)] = Math.floor(rnd() * 256);
  return rnd() < 0.3 ? p.subarray(0, Math.floor(rnd() * p.length)) : p;
}
