// Test data and scratch folders.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';

/** /dev/shm when it is a folder, else the OS temp folder: scratch space off the disk's write-back. */
export function memoryTmpdir() {
  return existsSync('/dev/shm') && statSync('/dev/shm').isDirectory() ? '/dev/shm' : tmpdir();
}

/**
 * Writes size bytes from /dev/urandom to path; resolves with their sha256 (hex). Every block is
 * fresh: a file repeating one block would let any compression or deduplication flatter a figure.
 */
export async function writeRandomFile(path, size) {
  const h = createHash('sha256');
  const out = createWriteStream(path);
  let left = size;
  const src = createReadStream('/dev/urandom', { highWaterMark: 4 * 1024 * 1024 });
  for await (const chunk of src) {
    if (left === 0) break;
    const part = chunk.length > left ? chunk.subarray(0, left) : chunk;
    h.update(part);
    if (!out.write(part)) await new Promise((r) => out.once('drain', r));
    left -= part.length;
    if (left === 0) break;
  }
  src.destroy();
  await new Promise((r, j) => out.end((e) => (e ? j(e) : r())));
  return h.digest('hex');
}
