/**
 * get and put of one file, every time through NAME.coffer-part beside the target (local for
 * get, remote for put): resume or restart per resume.ts, pipelined data (transfer.ts) hashed
 * while it streams, the server's sha256 compared with the local one, and only then a rename into
 * place (posix-rename on the server). Nothing partial ever carries the final name.
 * Downloads ask the server for the whole file's sha256 when they start (it hashes while it
 * sends); uploads have the server hash 32 MiB segments as they complete (segments.ts), or the
 * whole part with exec sha256sum when check-file is missing.
 */
import type { Stats } from 'node:fs';
import { lstat, open, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Connection } from './connection.js';
import { ClientError, VerifyMismatchError } from './errors.js';
import { settlePart, stoppedError, type PartFile } from './leftover-part.js';
import type { Progress, ProgressHandle } from './progress.js';
import { OpenFlags, StatusCode } from '../sftp/constants.js';
import { remoteError, sftpCode } from './remote-ops.js';
import { partName, planMessage, planResume, type ResumePlan } from './resume.js';
import { SegmentVerifier } from './segments.js';
import { Download, TransferStopped, Upload, type RangeJob } from './transfer.js';
import { hashFilePrefix, streamHash, type StreamHash } from './hash-thread.js';

/** What a transfer needs of Progress: a handle per file. */
export type ProgressStarter = Pick<Progress, 'start'>;

/** What every transfer needs besides the connection. */
export interface TransferOptions {
  verify: boolean;
  progress: ProgressStarter;
  /** Prints an informational line (Resuming..., starting over). */
  say(line: string): void;
  signal?: AbortSignal | undefined;
}

/** The result of one file. */
export interface FileResult {
  bytes: number;
  resumedAt: number;
}

/** Remote files get the local mode without group/other write: 0644 for a 0666 or 0644 file, never 0666. */
export const REMOTE_MODE_MASK = 0o755;

/** Downloads `remote` to the local path `local` (the final name). */
export async function getFile(conn: Connection, remote: string, local: string, opts: TransferOptions): Promise<FileResult> {
  const name = basename(local);
  const attrs = await conn.ops.stat(remote).catch((err) => {
    throw remoteError(remote, err);
  });
  if (attrs.isDirectory()) throw new ClientError('COFFER_IS_DIR', `${remote}: is a directory (use get -r)`);
  const size = attrs.size;
  const part = partName(local);
  const partSize = await lstat(part).then((s) => (s.isFile() ? s.size : null), () => null);
  const plan = await planResume({
    partSize,
    sourceSize: size,
    verify: opts.verify,
    localPrefix: (n) => hashFilePrefix(part, 'sha256', n),
    remotePrefix: (n) => conn.hasher.hash(remote, 'sha256', n, size),
  });
  announce(name, plan, opts);
  const offset = plan.kind === 'resume' ? plan.offset : 0;
  const hash = startHash(plan, opts.verify, size);
  const mode = (attrs.mode & 0o777) | 0o600;
  // The remote file first: a file that cannot be read leaves no empty part behind.
  const handle = await conn.ops.open(remote, OpenFlags.READ).catch((err) => {
    throw remoteError(remote, err);
  });
  const fh = await open(part, offset > 0 ? 'r+' : 'w', mode).catch(async (err: NodeJS.ErrnoException) => {
    await conn.ops.close(handle).catch(() => undefined);
    throw new ClientError('COFFER_LOCAL', `${part}: ${localReason(err)}`);
  });
  const bar = opts.progress.start(name, size, offset);
  // The server hashes the file while it sends it: the check-file answer is usually there when the
  // last byte arrives, instead of costing a second pass afterwards.
  const remoteDigest = hash ? settle(conn.hasher.hash(remote, 'sha256', null, size)) : null;
  try {
    if (offset > 0) await fh.truncate(offset);
    await new Download(job(conn, handle, fh, offset, size, hash, bar, opts)).run();
  } catch (err) {
    bar.fail();
    // Keep what is on disk: contiguous data only (Download writes in file order).
    await fh.datasync().catch(() => undefined);
    throw stoppedError(name, err, await settlePart(localPart(part), heldBy(err, offset), offset === 0));
  } finally {
    await fh.close().catch(() => undefined);
    await conn.ops.close(handle).catch(() => undefined);
  }
  // The line ends with its verdict only once the file is in place.
  let verdict: string;
  try {
    verdict = await finish(bar, hash, name, part, () => remoteDigest!.then((r) => r()));
    await rename(part, local);
  } catch (err) {
    bar.fail();
    throw lostInstead(conn, err, name, part);
  }
  bar.finish(verdict);
  return { bytes: size, resumedAt: offset };
}

/** What a caller may already know about an upload (tree.ts). */
export interface PutHints {
  /** The local file's stat, just taken. */
  stats?: Stats;
  /** The remote folder was created by this command: no part file can be waiting there. */
  freshFolder?: boolean;
}

/** Uploads the local file `local` to the remote path `remote` (the final name). */
export async function putFile(conn: Connection, local: string, remote: string, opts: TransferOptions, hints: PutHints = {}): Promise<FileResult> {
  const name = basename(remote);
  const st =
    hints.stats ??
    (await stat(local).catch((err: NodeJS.ErrnoException) => {
      throw new ClientError('COFFER_LOCAL', `${local}: ${localReason(err)}`);
    }));
  if (st.isDirectory()) throw new ClientError('COFFER_IS_DIR', `${local}: is a directory (use put -r)`);
  if (!st.isFile()) throw new ClientError('COFFER_LOCAL', `${local}: not a regular file`);
  const size = st.size;
  const part = partName(remote);
  const partAttrs = hints.freshFolder ? null : await conn.ops.statOrNull(part).catch(() => null);
  const plan = await planResume({
    partSize: partAttrs?.isFile() ? partAttrs.size : null,
    sourceSize: size,
    verify: opts.verify,
    localPrefix: (n) => hashFilePrefix(local, 'sha256', n),
    remotePrefix: (n) => conn.hasher.hash(part, 'sha256', n, n),
  });
  announce(name, plan, opts);
  const offset = plan.kind === 'resume' ? plan.offset : 0;
  // With check-file the server verifies segments while the upload runs (segments.ts); with exec
  // sha256sum, the whole part after it.
  const segments = opts.verify && conn.hasher.method === 'check-file' ? new SegmentVerifier((s, n) => conn.hasher.range(part, 'sha256', s, n), offset, size) : null;
  const hash = segments ? null : startHash(plan, opts.verify, size);
  const fh = await open(local, 'r').catch((err: NodeJS.ErrnoException) => {
    throw new ClientError('COFFER_LOCAL', `${local}: ${localReason(err)}`);
  });
  // A resume writes into the part whose prefix was just checked: never a new one (without CREAT,
  // a part that vanished meanwhile fails to open), and one at least `offset` long. Otherwise a
  // second upload of the same file that renamed the part away left a sparse file that passed.
  const flags = OpenFlags.WRITE | (offset > 0 ? 0 : OpenFlags.CREAT | OpenFlags.TRUNC);
  let handle: Buffer | null = null;
  const bar = opts.progress.start(name, size, offset);
  const progress = { update: (n: number) => (bar.update(n), segments?.reached(n)) };
  try {
    handle = await conn.ops.open(part, flags, { mode: st.mode & REMOTE_MODE_MASK }).catch((err) => {
      if (offset > 0 && sftpCode(err) === StatusCode.NO_SUCH_FILE) throw partChanged(name, part);
      throw remoteError(part, err);
    });
    if (offset > 0 && (await conn.ops.fstat(handle)).size < offset) throw partChanged(name, part);
    await new Upload(job(conn, handle, fh, offset, size, segments ?? hash, progress, opts)).run();
  } catch (err) {
    bar.fail();
    // Cut anything past the contiguous data that reached the server (OpenSSH's do_upload does too).
    if (handle && err instanceof TransferStopped) await withTimeout(conn.ops.fsetstat(handle, { size: err.highwater }), 3000).catch(() => undefined);
    if (err instanceof ClientError && err.code === 'COFFER_CHANGED') throw err;
    // Closed before the part is settled: a part that holds nothing is removed.
    const made = handle !== null && offset === 0;
    if (handle) await withTimeout(conn.ops.close(handle), 3000).catch(() => undefined);
    handle = null;
    throw stoppedError(name, err, await settlePart(remotePart(conn, part), heldBy(err, offset), made));
  } finally {
    await fh.close().catch(() => undefined);
    if (handle) await withTimeout(conn.ops.close(handle), 3000).catch(() => undefined);
  }
  // The line ends with its verdict only once the file is in place.
  let verdict: string;
  try {
    verdict = segments ? await finishSegments(bar, segments, name, part) : await finish(bar, hash, name, part, () => conn.hasher.hash(part, 'sha256', null, size));
    await conn.ops.replace(part, remote, 'posix-rename@openssh.com' in conn.extensions).catch((err) => {
      throw remoteError(`rename ${part} to ${remote}`, err);
    });
  } catch (err) {
    bar.fail();
    throw lostInstead(conn, err, name, part);
  }
  bar.finish(verdict);
  return { bytes: size, resumedAt: offset };
}

/** Compares every segment's digests; resolves with the verdict for the file's line. */
async function finishSegments(bar: ProgressHandle, segments: SegmentVerifier, name: string, part: string): Promise<string> {
  bar.dataDone('verifying');
  await segments.verify(name, part);
  return 'sha256 OK';
}

function announce(name: string, plan: ResumePlan, opts: TransferOptions): void {
  const line = planMessage(name, plan);
  if (line) opts.say(line);
}

/** The local hash of a whole transfer of `size` bytes (a resume's goes on from its prefix). */
function startHash(plan: ResumePlan, verify: boolean, size: number): StreamHash | null {
  if (!verify) return null;
  return plan.kind === 'resume' && plan.hash ? plan.hash : streamHash('sha256', size);
}

function job(conn: Connection, handle: Buffer, local: FileHandle, start: number, end: number, hash: RangeJob['hash'], bar: { update(n: number): void }, opts: TransferOptions): RangeJob {
  return { sftp: conn.sftp, handle, local, start, end, chunk: conn.chunk, inflight: conn.inflight, hash, onProgress: (n: number) => bar.update(n), signal: opts.signal, lost: conn.lost };
}

/**
 * Verification: the server's digest of the finished part against the one computed while
 * streaming. Resolves with the verdict for the file's line; the caller ends the line (finish
 * once the file is in place, fail on any error).
 */
async function finish(
  bar: ProgressHandle,
  hash: StreamHash | null,
  name: string,
  part: string,
  remoteDigest: () => Promise<Buffer>,
): Promise<string> {
  if (!hash) return '(not verified)';
  bar.dataDone('verifying');
  const remote = await remoteDigest();
  const local = await hash.digest();
  if (!local.equals(remote)) throw new VerifyMismatchError(name, local.toString('hex'), remote.toString('hex'), part);
  return 'sha256 OK';
}

/** Bytes of the part known good after `err`: what arrived in order, or the resume offset. */
function heldBy(err: unknown, offset: number): number {
  return err instanceof TransferStopped ? err.highwater : offset;
}

/** The remote part of a put, for settlePart (requests bounded, as the close's). */
function remotePart(conn: Connection, path: string): PartFile {
  return {
    path,
    size: async () => (await withTimeout(conn.ops.statOrNull(path), 3000))?.size ?? null,
    remove: () => withTimeout(conn.ops.unlink(path), 3000),
  };
}

/** The local part of a get, for settlePart. */
function localPart(path: string): PartFile {
  return {
    path,
    size: () => lstat(path).then((s) => s.size, (err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? null : Promise.reject(err))),
    remove: () => unlink(path),
  };
}

/** The remote part changed between the resume check and its opening. */
function partChanged(name: string, part: string): ClientError {
  return new ClientError('COFFER_CHANGED', `${part} changed while the upload started (is another upload of ${name} running?); run the command again`);
}

/**
 * Once the connection has dropped, the loss is the error to report (and the part file is what a
 * rerun resumes from), not whichever request ssh2 failed as it closed.
 */
function lostInstead(conn: Connection, err: unknown, name: string, part: string): unknown {
  if (!conn.lost.aborted || err instanceof VerifyMismatchError) return err;
  return new ClientError('COFFER_CONNECTION', `${name}: ${(conn.lost.reason as Error).message}; ${part} is kept, run the same command again to resume`);
}

function localReason(err: NodeJS.ErrnoException): string {
  if (err.code === 'ENOENT') return 'No such file or directory';
  if (err.code === 'EACCES') return 'Permission denied';
  return err.code ?? err.message;
}

// A promise that never rejects unhandled: resolves with a function giving the value or throwing.
function settle<T>(p: Promise<T>): Promise<() => T> {
  return p.then(
    (v) => () => v,
    (err: unknown) => () => {
      throw err;
    },
  );
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('timed out')), ms);
    p.then(
      (v) => (clearTimeout(t), resolve(v)),
      (e) => (clearTimeout(t), reject(e)),
    );
  });
}
