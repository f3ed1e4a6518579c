/**
 * The thread side of hash-thread.ts. Keeps hash states by id and applies the operations in the
 * order they were posted. Bytes to hash arrive through a shared ring: an 'update' message says
 * how many bytes follow the previous ones there; once hashed, they are counted in `freed` so the
 * main thread can reuse the space.
 */
import { createHash, type Hash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';

export type HashOp =
  | { op: 'create'; id: number; algorithm: string }
  | { op: 'update'; id: number; length: number }
  | { op: 'file'; id: number; path: string; length: number; ticket: number }
  | { op: 'digest'; id: number; end: boolean; ticket: number };

export type HashReply = { ticket: number; digest: Uint8Array } | { ticket: number; error: { message: string; code?: string } };

const { ring, control } = workerData as { ring: SharedArrayBuffer; control: SharedArrayBuffer };
const bytes = new Uint8Array(ring);
/** [0]: bytes hashed out of the ring so far (the main thread waits on it when the ring is full). */
const freed = new BigInt64Array(control);
let readPos = 0;
const hashes = new Map<number, Hash>();
const fileBuf = Buffer.allocUnsafe(1024 * 1024);

function update(id: number, length: number): void {
  const hash = hashes.get(id);
  let left = length;
  while (left > 0) {
    const n = Math.min(left, bytes.length - readPos);
    hash?.update(bytes.subarray(readPos, readPos + n));
    readPos = (readPos + n) % bytes.length;
    left -= n;
  }
  Atomics.add(freed, 0, BigInt(length));
  Atomics.notify(freed, 0);
}

// The first `length` bytes of a local file, read here (a resume's prefix check).
function hashFile(hash: Hash, path: string, length: number): void {
  const fd = openSync(path, 'r');
  try {
    let pos = 0;
    while (pos < length) {
      const n = readSync(fd, fileBuf, 0, Math.min(fileBuf.length, length - pos), pos);
      if (n === 0) throw Object.assign(new Error(`${path}: shorter than ${length} bytes`), { code: 'COFFER_SHORT' });
      hash.update(fileBuf.subarray(0, n));
      pos += n;
    }
  } finally {
    closeSync(fd);
  }
}

parentPort!.on('message', (m: HashOp) => {
  if (m.op === 'update') return update(m.id, m.length);
  if (m.op === 'create') {
    hashes.set(m.id, createHash(m.algorithm));
    return;
  }
  try {
    const hash = hashes.get(m.id);
    if (!hash) throw new Error(`no hash ${m.id}`);
    if (m.op === 'file') {
      hashFile(hash, m.path, m.length);
      parentPort!.postMessage({ ticket: m.ticket, digest: new Uint8Array(0) } satisfies HashReply);
      return;
    }
    const digest = m.end ? hash.digest() : hash.copy().digest();
    if (m.end) hashes.delete(m.id);
    parentPort!.postMessage({ ticket: m.ticket, digest } satisfies HashReply);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    parentPort!.postMessage({ ticket: m.ticket, error: { message: e.message, ...(e.code ? { code: e.code } : {}) } } satisfies HashReply);
  }
});
