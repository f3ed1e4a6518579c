/**
 * File checksums for check-file (draft-ietf-secsh-filexfer-extensions) and the exec hash
 * commands. A file that can (LocalFile) is hashed on a worker thread (hash-pool.ts), shared
 * fairly between users and dropped when its session ends. Only a small range (at most
 * IN_THREAD_MAX bytes) may be hashed here on the event loop, when no worker takes it: a large
 * one is refused rather than costing the event loop more than a few milliseconds (SPEC §5).
 */
import { createHash, type Hash } from 'node:crypto';
import type { HashOptions, VfsFile } from './vfs.js';
import { VfsError } from './vfs-error.js';

/** The algorithms Coffer hashes with, by their check-file names (= node's). */
export const CHECKSUM_ALGORITHMS = ['md5', 'sha1', 'sha224', 'sha256', 'sha384', 'sha512'] as const;
export type ChecksumAlgorithm = (typeof CHECKSUM_ALGORITHMS)[number];

/** Digest length in bytes of each algorithm. */
export const DIGEST_BYTES: Record<ChecksumAlgorithm, number> = { md5: 16, sha1: 20, sha224: 28, sha256: 32, sha384: 48, sha512: 64 };

/** Smallest block size check-file accepts besides 0 (the draft's minimum). */
export const MIN_BLOCK_SIZE = 256;
/**
 * Most bytes hashed on the event loop for one request (a file without worker hashing, or no
 * worker available): 256 KiB is under 1 ms of md5, the slowest here (3.3 ms per MiB).
 */
export const IN_THREAD_MAX = 256 * 1024;

/** The first algorithm of the client's list that Coffer supports (check-file's choice), or null. */
export function pickAlgorithm(wanted: readonly string[]): ChecksumAlgorithm | null {
  for (const name of wanted) {
    const n = name.trim().toLowerCase();
    if ((CHECKSUM_ALGORITHMS as readonly string[]).includes(n)) return n as ChecksumAlgorithm;
  }
  return null;
}

/** What to hash: a range of a file, in one piece or in blocks. */
export interface ChecksumRange {
  start: number;
  /** Bytes from start; 0 = to the end of the file. */
  length: number;
  /** 0 = one digest for the whole range; else one digest per block (>= MIN_BLOCK_SIZE). */
  blockSize: number;
  /** Most digests allowed (so the reply fits in one SFTP message). */
  maxDigests?: number;
}

/**
 * Digests of a range of an open regular file, concatenated (as the check-file reply carries
 * them): one per block, or one for the range. A range past the end hashes what exists (an empty
 * range gives the digest of nothing, as sha256sum of an empty file does). `opts` names the user
 * the work is for and the signal that drops it (a worker's hash then rejects).
 */
export async function checksumFile(file: VfsFile, algorithm: ChecksumAlgorithm, range: ChecksumRange, opts: HashOptions = {}): Promise<Buffer> {
  const { start, blockSize } = range;
  if (blockSize !== 0 && blockSize < MIN_BLOCK_SIZE) throw new VfsError('FAILURE', `Block size must be 0 or at least ${MIN_BLOCK_SIZE}`);
  const st = await file.stat();
  if (!st.isFile()) throw new VfsError('NOT_A_FILE', 'Not a regular file');
  const available = Math.max(0, st.size - start);
  const total = range.length === 0 ? available : Math.min(range.length, available);
  const digests = blockSize === 0 ? 1 : Math.max(1, Math.ceil(total / blockSize));
  if (range.maxDigests !== undefined && digests > range.maxDigests) throw new VfsError('FAILURE', 'Too many blocks for one reply');
  const block = blockSize === 0 ? total : blockSize;
  const offThread = file.hashRange?.(algorithm, start, total, block, opts);
  if (offThread) return offThread;
  if (total > IN_THREAD_MAX) throw new VfsError('FAILURE', 'Hashing is unavailable now, try again later');
  return hashRange(file, algorithm, start, total, block);
}

async function hashRange(file: VfsFile, algorithm: ChecksumAlgorithm, start: number, total: number, block: number): Promise<Buffer> {
  const out: Buffer[] = [];
  const buf = Buffer.allocUnsafe(Math.max(total, 1));
  let hash = createHash(algorithm);
  let inBlock = 0;
  let done = 0;
  while (done < total) {
    const want = Math.min(buf.length, total - done, block - inBlock);
    const n = await file.readInto(buf, 0, want, start + done);
    if (n === 0) break; // the file shrank while we read it
    hash.update(buf.subarray(0, n));
    done += n;
    inBlock += n;
    if (inBlock === block) {
      out.push(hash.digest());
      hash = createHash(algorithm);
      inBlock = 0;
    }
  }
  if (inBlock > 0 || out.length === 0) out.push(hash.digest());
  return Buffer.concat(out);
}

/** Hashes a stream (exec `md5sum` with no file reads stdin) without holding it. */
export async function checksumStream(stream: AsyncIterable<Buffer>, algorithm: ChecksumAlgorithm): Promise<Buffer> {
  const hash: Hash = createHash(algorithm);
  for await (const chunk of stream) hash.update(chunk);
  return hash.digest();
}
