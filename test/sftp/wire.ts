/**
 * Test helpers for byte-exact codec tests: spell packets as literal byte lists where a string
 * part stands for its raw characters (no length prefix: lengths are always written out by hand).
 */
import assert from 'node:assert/strict';
import { SftpCodecError, type SftpCodecErrorCode } from '../../src/sftp/errors.js';

/** Bytes from numbers (0–255) and strings (their UTF-8 bytes, nothing added). */
export function b(...parts: Array<number | string | Uint8Array>): Buffer {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === 'number') {
      assert.ok(Number.isInteger(p) && p >= 0 && p <= 255, `byte ${p}`);
      out.push(p);
    } else {
      out.push(...(typeof p === 'string' ? Buffer.from(p, 'utf8') : p));
    }
  }
  return Buffer.from(out);
}

/** The payload of a framed message, after checking that its length prefix is exact. */
export function payloadOf(msg: Buffer): Buffer {
  assert.equal(msg.readUInt32BE(0), msg.length - 4, 'length prefix');
  return msg.subarray(4);
}

/** Asserts that `fn` throws an SftpCodecError with `code` (and `id` when given). */
export function throwsCodec(fn: () => unknown, code: SftpCodecErrorCode, id?: number | 'none'): SftpCodecError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof SftpCodecError, `expected SftpCodecError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  if (id === 'none') assert.equal(caught.id, undefined);
  else if (id !== undefined) assert.equal(caught.id, id);
  return caught;
}

/** A tiny seeded PRNG (mulberry32): the same seed always gives the same sequence. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
