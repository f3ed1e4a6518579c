/**
 * The handles of one SFTP session: random tokens mapped to open files and folders, at most
 * `limit` at a time. Requests on one handle run one after another in arrival order (overlapping
 * reads and writes on a file must not be reordered); requests on different handles run in parallel.
 * Tokens are looked up in this session's table only, so another session's handle bytes reach nothing.
 */
import { randomBytes } from 'node:crypto';
import type { VfsDir, VfsFile } from '../vfs/vfs.js';

/** What a handle holds. `path` is the virtual path it was opened with (for logs and transfer records). */
export type HandleTarget =
  | { kind: 'file'; file: VfsFile; path: string; writable: boolean; stats: HandleStats }
  | { kind: 'dir'; dir: VfsDir; path: string };

/** Bytes moved through a file handle, for the transfer log line at CLOSE. */
export interface HandleStats {
  openedAt: number;
  bytesRead: number;
  bytesWritten: number;
  /** READ requests served (a download of an empty file reads once, at EOF). */
  reads: number;
  /** A WRITE was refused for the quota: the upload's outcome is `quota-exceeded`. */
  quotaRefused: boolean;
}

interface Entry {
  target: HandleTarget;
  /** The last queued operation on this handle; the next one starts after it settles. */
  tail: Promise<unknown>;
}

/** Thrown for an unknown handle, or when the table is full. */
export class HandleError extends Error {
  constructor(
    readonly code: 'UNKNOWN_HANDLE' | 'TOO_MANY_HANDLES' | 'CLOSED',
    message: string,
  ) {
    super(message);
  }
}

const TOKEN_BYTES = 8;

/** Random bytes drawn once per 512 tokens: one randomBytes call per handle cost a getrandom each. */
let randomPool = Buffer.alloc(0);
let randomPos = 0;

/** A fresh 8-byte token (its own copy: the pool is refilled, never rewritten in place). */
function randomToken(): Buffer {
  if (randomPos + TOKEN_BYTES > randomPool.length) {
    randomPool = randomBytes(TOKEN_BYTES * 512);
    randomPos = 0;
  }
  const token = Buffer.from(randomPool.subarray(randomPos, randomPos + TOKEN_BYTES));
  randomPos += TOKEN_BYTES;
  return token;
}

/** Map key of a token; the codec hands handles over as Buffer views, so no copy per request. */
const tokenKey = (token: Uint8Array): string =>
  (Buffer.isBuffer(token) ? token : Buffer.from(token.buffer, token.byteOffset, token.length)).toString('latin1');

export class HandleTable {
  private readonly entries = new Map<string, Entry>();
  /** Set by drain(): the session is over, so an OPEN finishing now must close what it opened. */
  private closed = false;

  constructor(readonly limit: number) {}

  get size(): number {
    return this.entries.size;
  }

  /** Throws TOO_MANY_HANDLES if no more handles may be opened (check before opening). */
  ensureRoom(): void {
    if (this.closed) throw new HandleError('CLOSED', 'The session is closing');
    if (this.entries.size >= this.limit) throw new HandleError('TOO_MANY_HANDLES', `Too many open handles (at most ${this.limit})`);
  }

  /** Registers an open file or folder and returns its new handle token. */
  add(target: HandleTarget): Buffer {
    this.ensureRoom();
    let token: Buffer;
    do token = randomToken();
    while (this.entries.has(token.toString('latin1')));
    this.entries.set(token.toString('latin1'), { target, tail: Promise.resolve() });
    return token;
  }

  /** The target of a handle, or UNKNOWN_HANDLE. */
  get(token: Uint8Array): HandleTarget {
    return this.entry(token).target;
  }

  /**
   * Runs `op` on a handle after every operation queued on it before has settled, and returns its
   * result. An unknown handle rejects at once.
   */
  run<T>(token: Uint8Array, op: (target: HandleTarget) => Promise<T>): Promise<T> {
    const entry = this.entry(token);
    const result = entry.tail.then(() => op(entry.target));
    entry.tail = result.catch(() => undefined);
    return result;
  }

  /** Removes a handle once its queued operations are done; returns its target for closing. */
  async remove(token: Uint8Array): Promise<HandleTarget> {
    const key = tokenKey(token);
    const entry = this.entry(token);
    this.entries.delete(key);
    await entry.tail;
    return entry.target;
  }

  /** Removes and returns every handle (the channel ended), after their queued operations. */
  async drain(): Promise<HandleTarget[]> {
    this.closed = true;
    const all = [...this.entries.values()];
    this.entries.clear();
    await Promise.all(all.map((e) => e.tail));
    return all.map((e) => e.target);
  }

  private entry(token: Uint8Array): Entry {
    const entry = token.length === TOKEN_BYTES ? this.entries.get(tokenKey(token)) : undefined;
    if (!entry) throw new HandleError('UNKNOWN_HANDLE', 'Invalid handle');
    return entry;
  }
}
