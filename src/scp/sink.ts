/**
 * `scp -t TARGET`: the server receives files (an upload), after OpenSSH scp.c sink(). Records are
 * answered one by one; a C record's data is streamed to the Vfs in blocks (each write reserves its
 * growth in the quota), with the channel paused while the disk is busy. A file that cannot be
 * opened gets `\x01scp: PATH: reason` and the client skips it. A write that fails drains the rest
 * of that file's data (so the client reads the answer), then: an exceeded quota ends the session
 * with `\x02scp: PATH: Quota exceeded` (nothing more is stored), another error is reported with
 * \x01 and the transfer goes on, as OpenSSH does. Bad records and names end it with \x02, and so
 * does input that ends inside a file's data (`PATH: input ended after N of M bytes`, or the quota's
 * refusal if it came first); a status byte other than 0, 1 or 2 is a protocol error (channel-io.ts).
 */
import type { Stats } from 'node:fs';
import type { OpenFlags, VfsFile } from '../vfs/vfs.js';
import { toVfsError, VfsError } from '../vfs/vfs-error.js';
import { ScpConnectionLost } from './channel-io.js';
import { errorText, joinPath, fileClosed, ScpClientFatal, ScpFatalError, type ScpContext, type TransferOutcome } from './context.js';
import { errorRecord, MAX_RECORD_LENGTH, OK, parseRecord, ScpNameError, ScpProtocolError, visible, type ScpRecord } from './records.js';

/** Largest block written to disk at once. */
const WRITE_BLOCK = 256 * 1024;
/** Deepest folder nesting accepted from a client. */
const MAX_DEPTH = 128;
/** What is masked from a mode without -p (OpenSSH applies the umask, usually 022). */
const UMASK = 0o022;

const WRITE_FLAGS: OpenFlags = { read: false, write: true, append: false, creat: true, trunc: true, excl: false };

type Times = { mtime: number; atime: number };
type FileRecord = Extract<ScpRecord, { kind: 'file' }>;
type DirRecord = Extract<ScpRecord, { kind: 'dir' }>;

/** Receives into `target` (a virtual path); `mustBeDir` is -d. Errors end up in ctx.errors or throw. */
export async function runSink(ctx: ScpContext, target: string, mustBeDir: boolean): Promise<void> {
  const st = await ctx.vfs.stat(target).catch(() => null);
  if (mustBeDir && !st?.isDirectory()) throw new ScpFatalError(`${visible(target)}: Not a directory`);
  await ctx.writer.write(OK);
  await receive(ctx, target, st?.isDirectory() ?? false, 0);
}

/** Reads records into `dest` (a folder when `isDir`, else the file to write) until E or the end. */
async function receive(ctx: ScpContext, dest: string, isDir: boolean, depth: number): Promise<void> {
  let times: Times | null = null;
  for (;;) {
    const rec = await nextRecord(ctx, depth);
    if (rec === null) return;
    switch (rec.kind) {
      case 'error':
        ctx.errors += 1;
        ctx.log.info({ event: 'scp.client_error', message: visible(rec.message) }, 'scp client reported an error');
        if (rec.fatal) throw new ScpClientFatal();
        continue;
      case 'end':
        await ctx.writer.write(OK);
        return;
      case 'times':
        times = rec;
        await ctx.writer.write(OK);
        continue;
      case 'dir':
        if (!ctx.recursive) throw new ScpFatalError('protocol error: received directory without -r');
        if (depth >= MAX_DEPTH) throw new ScpFatalError('protocol error: folders nested too deep');
        await receiveDir(ctx, rec, isDir ? joinPath(dest, rec.name) : dest, times, depth);
        break;
      case 'file':
        await receiveFile(ctx, rec, isDir ? joinPath(dest, rec.name) : dest, times);
        break;
    }
    times = null;
  }
}

/** The next record, or null at the end of input (only where a sender may stop: the top level). */
async function nextRecord(ctx: ScpContext, depth: number): Promise<ScpRecord | null> {
  let line: Buffer | null;
  try {
    line = await ctx.reader.readLine(MAX_RECORD_LENGTH);
  } catch (err) {
    if (err instanceof ScpProtocolError) throw new ScpFatalError(`protocol error: ${err.message}`);
    throw err;
  }
  if (line === null) {
    if (depth > 0) throw new ScpConnectionLost();
    return null;
  }
  try {
    return parseRecord(line.toString('utf8'));
  } catch (err) {
    if (err instanceof ScpProtocolError) throw new ScpFatalError(`protocol error: ${err.message}`);
    if (err instanceof ScpNameError) {
      ctx.log.warn({ event: 'scp.refused', reason: 'name', name: visible(err.refused) }, 'scp name refused');
      throw new ScpFatalError(err.message);
    }
    throw err;
  }
}

/** Sends `\x01scp: path: reason` for a refused record; the transfer goes on. */
async function refuse(ctx: ScpContext, path: string, err: unknown): Promise<void> {
  ctx.errors += 1;
  await ctx.writer.write(errorRecord(`${visible(path)}: ${errorText(err)}`));
}

/** A D record: make (or reuse) the folder, receive into it, then set its times and mode. */
async function receiveDir(ctx: ScpContext, rec: DirRecord, path: string, times: Times | null, depth: number): Promise<void> {
  const mode = rec.mode & 0o777;
  const existing: Stats | null = await ctx.vfs.stat(path).catch(() => null);
  if (existing && !existing.isDirectory()) return refuse(ctx, path, new VfsError('NOT_A_DIR', 'Not a directory'));
  if (!existing) {
    // Owner rwx while filling it, as OpenSSH does for read-only folders; the mode is set after.
    const made = await ctx.vfs.mkdir(path, { permissions: mode | 0o700 }).then(
      () => null,
      (err: unknown) => err,
    );
    if (made !== null) return refuse(ctx, path, made);
    ctx.events({ event: 'mkdir', path });
  }
  await ctx.writer.write(OK);
  await receive(ctx, path, true, depth + 1);
  if (times) await ctx.vfs.setStat(path, times).catch((err: unknown) => ctx.log.debug({ event: 'scp.set_times_failed', path, err: errorText(err) }, 'set times'));
  if (ctx.preserve || !existing) await ctx.vfs.setStat(path, { permissions: ctx.preserve ? mode : mode & ~UMASK }).catch(() => undefined);
}

/** A C record: open (truncating), stream the data in, answer with the outcome. */
async function receiveFile(ctx: ScpContext, rec: FileRecord, path: string, times: Times | null): Promise<void> {
  const mode = rec.mode & 0o777;
  let file: VfsFile;
  try {
    file = await ctx.vfs.open(path, WRITE_FLAGS, { permissions: ctx.preserve ? mode : mode & ~UMASK });
  } catch (err) {
    return refuse(ctx, path, err);
  }
  await ctx.writer.write(OK);
  ctx.events({ event: 'file-open' });
  const startedAt = Date.now();
  let outcome: TransferOutcome = 'interrupted';
  const progress = { stored: 0, received: 0 };
  let failure: unknown = null;
  let ended = false;
  ctx.setBusy(true);
  try {
    ({ failure, ended } = await receiveData(ctx, file, rec.size, progress));
    if (!ended) {
      if (failure === null && ctx.preserve) failure = await file.setStat({ permissions: mode }).then(() => null, (err: unknown) => err);
      if (failure === null && times) failure = await file.setStat(times).then(() => null, (err: unknown) => err);
      outcome = failure === null ? 'ok' : isQuotaRefusal(failure) ? 'quota-exceeded' : 'error';
    }
  } finally {
    await file.close().catch((err: unknown) => ctx.log.warn({ event: 'scp.close_failed', path, err: errorText(err) }, 'close failed'));
    ctx.setBusy(false);
    fileClosed(ctx, path, 'upload', progress.stored, startedAt, outcome);
  }
  if (ended) inputEnded(ctx, path, failure, `input ended after ${progress.received} of ${rec.size} bytes`);
  await finishFile(ctx, path, failure);
}

/**
 * The input ended inside a file's data (a C record that promised more than came, then EOF): the
 * bytes stored stay, charged. The session ends with a line naming the file, the quota's refusal if
 * that came first (it would be lost otherwise: the client never reads a status it did not wait for).
 */
function inputEnded(ctx: ScpContext, path: string, failure: unknown, why: string): never {
  if (isQuotaRefusal(failure)) {
    ctx.log.info({ event: 'quota.refused', op: 'scp', path }, 'quota exceeded');
    ctx.events({ event: 'quota-refused', path });
    throw new ScpFatalError(`${visible(path)}: ${toVfsError(failure).message}`);
  }
  throw new ScpFatalError(`${visible(path)}: ${why}`);
}

/** A refusal by the quota (the scp session ends on it, as OpenSSH's does on EDQUOT). */
const isQuotaRefusal = (failure: unknown): boolean => failure !== null && toVfsError(failure).code === 'QUOTA_EXCEEDED';

/** After the data: read the client's status, then answer ok, \x01 (error) or \x02 (quota). */
async function finishFile(ctx: ScpContext, path: string, failure: unknown): Promise<void> {
  const response = await ctx.reader.readResponse();
  if (!response.ok) {
    ctx.errors += 1;
    if (response.fatal) throw new ScpClientFatal();
  }
  if (isQuotaRefusal(failure)) {
    ctx.log.info({ event: 'quota.refused', op: 'scp', path }, 'quota exceeded');
    ctx.events({ event: 'quota-refused', path });
    throw new ScpFatalError(`${visible(path)}: ${toVfsError(failure).message}`);
  }
  if (failure !== null) return refuse(ctx, path, failure);
  // OpenSSH's sink answers \0 even after the client reported an error for this file.
  await ctx.writer.write(OK);
}

/**
 * Reads `size` bytes and writes them at increasing offsets, counting what is received and stored
 * in `progress`; resolves with the first write error (or null), and `ended` when the input ended
 * first. After a failed write the rest is read and dropped, so the client stays in step and reads
 * the answer (as OpenSSH's sink does; the reader holds at most its high-water mark meanwhile).
 */
async function receiveData(ctx: ScpContext, file: VfsFile, size: number, progress: { stored: number; received: number }): Promise<{ failure: unknown; ended: boolean }> {
  let failure: unknown = null;
  while (progress.received < size) {
    const block = await ctx.reader.read(Math.min(WRITE_BLOCK, size - progress.received));
    if (block === null) return { failure, ended: true };
    if (failure === null) {
      try {
        await file.write(progress.received, block);
        progress.stored += block.length;
      } catch (err) {
        failure = err;
      }
    }
    progress.received += block.length;
  }
  return { failure, ended: false };
}
