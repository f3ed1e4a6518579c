/**
 * `scp -f PATH...`: the server sends files (a download), after OpenSSH scp.c source() and
 * rsource(). Each path is a file (T with -p, then C, the data and \0), a folder with -r (T, D,
 * its entries, E), or an error line `\x01scp: PATH: reason` the client prints before going on.
 * Data is read in blocks and written only when the channel has room. Modes are sent masked to
 * 0777. A pattern in the last component (`*.txt`) is expanded as the remote shell would
 * (glob-expand.ts), within bounds.
 */
import type { Stats } from 'node:fs';
import type { OpenFlags, VfsFile } from '../vfs/vfs.js';
import { normalizePath, splitPath } from '../vfs/virtual-path.js';
import { wordPath, type ShellWord } from './command.js';
import { errorText, joinPath, fileClosed, ScpClientFatal, type ScpContext, type TransferOutcome } from './context.js';
import { expandPattern } from './glob-expand.js';
import { dirRecord, END_RECORD, errorRecord, fileRecord, OK, timesRecord, visible } from './records.js';

/** Largest block read from disk and sent at once. */
const READ_BLOCK = 64 * 1024;
/** Deepest folder nesting sent. */
const MAX_DEPTH = 128;
/** Entries listed per batch. */
const LIST_BATCH = 128;

const READ_FLAGS: OpenFlags = { read: true, write: false, append: false, creat: false, trunc: false, excl: false };

/** Sends every path of `words`. Errors end up in ctx.errors or throw. */
export async function runSource(ctx: ScpContext, words: ShellWord[]): Promise<void> {
  // The client starts with one status byte (OpenSSH's scp -f reads it and ignores its value).
  const start = await ctx.reader.readResponse();
  if (!start.ok && start.fatal) throw new ScpClientFatal();
  for (const word of words) {
    if (!(word.pattern !== null && (await sendMatches(ctx, word)))) await sendPath(ctx, wordPath(word), word.text, 0, new Set());
  }
}

/**
 * Sends the entries matching a pattern word; false when it stands for a name (nothing matched).
 * The whole expansion comes first, so a pattern over a limit sends nothing but its error line.
 */
async function sendMatches(ctx: ScpContext, word: ShellWord): Promise<boolean> {
  const found = await expandPattern(ctx.vfs, word);
  if (found.kind === 'name') return false;
  if (found.kind === 'refused') {
    ctx.log.info({ event: 'scp.glob_refused', reason: found.reason }, 'scp pattern refused');
    await warn(ctx, word.text, found.reason);
    return true;
  }
  for (const name of found.names) {
    const shown = found.shownDir === '' ? name : joinPath(found.shownDir, name);
    await sendPath(ctx, joinPath(found.dir, name), shown, 0, new Set());
  }
  return true;
}

/** Sends `\x01scp: shown: reason`; the transfer goes on. */
async function warn(ctx: ScpContext, shown: string, reason: string): Promise<void> {
  ctx.errors += 1;
  await ctx.writer.write(errorRecord(`${visible(shown)}: ${reason}`));
}

/** Reads the client's answer to a record: true when ok. A fatal answer ends the session. */
async function accepted(ctx: ScpContext): Promise<boolean> {
  const response = await ctx.reader.readResponse();
  if (response.ok) return true;
  ctx.errors += 1;
  ctx.log.info({ event: 'scp.client_error', message: visible(response.message) }, 'scp client reported an error');
  if (response.fatal) throw new ScpClientFatal();
  return false;
}

/** The last component of a virtual path; the home itself goes by `rootName`. */
function nameOf(ctx: ScpContext, vpath: string): string {
  const name = splitPath(normalizePath(vpath)).name;
  return name === '' ? ctx.rootName : name;
}

/** One path: a file, a folder (with -r), or an error line. `ancestors` holds the folders above. */
async function sendPath(ctx: ScpContext, vpath: string, shown: string, depth: number, ancestors: Set<string>): Promise<void> {
  let st: Stats;
  try {
    st = await ctx.vfs.stat(vpath);
  } catch (err) {
    return warn(ctx, shown, errorText(err));
  }
  if (st.isDirectory() && ctx.recursive) return sendDir(ctx, vpath, shown, st, depth, ancestors);
  if (!st.isFile()) return warn(ctx, shown, 'not a regular file');
  return sendFile(ctx, vpath, shown);
}

/** A folder: T (with -p), D, each entry, E. Loops through symlinks are skipped. */
async function sendDir(ctx: ScpContext, vpath: string, shown: string, st: Stats, depth: number, ancestors: Set<string>): Promise<void> {
  const key = `${st.dev}:${st.ino}`;
  if (ancestors.has(key)) return warn(ctx, shown, 'skipping, folder loop');
  if (depth >= MAX_DEPTH) return warn(ctx, shown, 'skipping, folders nested too deep');
  const name = nameOf(ctx, vpath);
  if (name.includes('\n')) return warn(ctx, shown, 'skipping, filename contains a newline');
  let dir;
  try {
    dir = await ctx.vfs.openDir(vpath);
  } catch (err) {
    return warn(ctx, shown, errorText(err));
  }
  try {
    if (ctx.preserve) {
      await ctx.writer.write(timesRecord(st.mtimeMs / 1000, st.atimeMs / 1000));
      if (!(await accepted(ctx))) return;
    }
    await ctx.writer.write(dirRecord(st.mode, name));
    if (!(await accepted(ctx))) return;
    ancestors.add(key);
    for (let batch = await dir.next(LIST_BATCH); batch; batch = await dir.next(LIST_BATCH)) {
      for (const entry of batch) await sendPath(ctx, joinPath(vpath, entry.name), joinPath(shown, entry.name), depth + 1, ancestors);
    }
    ancestors.delete(key);
  } finally {
    await dir.close();
  }
  await ctx.writer.write(END_RECORD);
  await accepted(ctx);
}

/** A regular file: T (with -p), C, the data, then \0 (or an error line if reading failed). */
async function sendFile(ctx: ScpContext, vpath: string, shown: string): Promise<void> {
  const name = nameOf(ctx, vpath);
  if (name.includes('\n')) return warn(ctx, shown, 'skipping, filename contains a newline');
  let file: VfsFile;
  try {
    file = await ctx.vfs.open(vpath, READ_FLAGS);
  } catch (err) {
    return warn(ctx, shown, errorText(err));
  }
  ctx.events({ event: 'file-open' });
  const startedAt = Date.now();
  let sent = 0;
  let outcome: TransferOutcome = 'interrupted';
  try {
    const st = await file.stat();
    if (ctx.preserve) {
      await ctx.writer.write(timesRecord(st.mtimeMs / 1000, st.atimeMs / 1000));
      if (!(await accepted(ctx))) return;
    }
    await ctx.writer.write(fileRecord(st.mode, st.size, name));
    if (!(await accepted(ctx))) return;
    ctx.setBusy(true);
    const readFailed = await sendData(ctx, file, st.size, (n) => (sent += n));
    if (readFailed) await warn(ctx, shown, 'Input/output error');
    else await ctx.writer.write(OK);
    outcome = readFailed ? 'error' : 'ok';
    await accepted(ctx);
  } finally {
    ctx.setBusy(false);
    await file.close().catch(() => undefined);
    fileClosed(ctx, vpath, 'download', sent, startedAt, outcome, sent > 0 || outcome !== 'interrupted');
  }
}

/**
 * Sends exactly `size` bytes of `file`. If the file shrank or a read failed, zeros fill the rest
 * (the client expects `size` bytes) and true is returned, as OpenSSH's source does.
 */
async function sendData(ctx: ScpContext, file: VfsFile, size: number, progress: (n: number) => void): Promise<boolean> {
  let failed = false;
  for (let offset = 0; offset < size; ) {
    const length = Math.min(READ_BLOCK, size - offset);
    const block = Buffer.allocUnsafe(length);
    let filled = 0;
    while (!failed && filled < length) {
      const n = await file.readInto(block, filled, length - filled, offset + filled).catch(() => 0);
      if (n === 0) failed = true;
      filled += n;
    }
    if (filled < length) block.fill(0, filled);
    await ctx.writer.write(block);
    ctx.touch();
    offset += length;
    progress(length);
  }
  return failed;
}
