/**
 * A download pattern (`scp -f 'docs/*.txt'`) expanded against its folder before anything is sent,
 * as the remote shell (or OpenSSH's own glob in sftp mode) would, with what one request can cost
 * bounded (SPEC §5): the pattern at most MAX_PATTERN_BYTES, at most MAX_GLOB_ENTRIES entries read
 * (OpenSSH's glob: GLOB_LIMIT_READDIR 16384), at most MAX_GLOB_NAME_BYTES of matching names held
 * (its GLOB_LIMIT_MALLOC is 64 KiB), and the event loop given back whenever matching has held it for
 * TURN_BUDGET_MS, so a large folder is matched over many short turns instead of one long one.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Vfs } from '../vfs/vfs.js';
import { wordPath, type ShellWord } from './command.js';
import { compileGlob, MAX_PATTERN_BYTES, splitPattern } from './glob.js';

/** Most entries of a folder one pattern reads. */
export const MAX_GLOB_ENTRIES = 16384;
/** Most bytes of matching names one pattern holds before sending them. */
export const MAX_GLOB_NAME_BYTES = 256 * 1024;
/** Names asked of the listing at once. */
const LIST_BATCH = 128;
/**
 * Longest stretch of matching in one turn of the event loop. A count of entries per turn would not
 * do: before V8 optimises the matcher, 128 names of 255 bytes took 10-40 ms here (~0.3 ms after).
 */
const TURN_BUDGET_MS = 2;

/** What a pattern word stands for. */
export type Expansion =
  /** Not a pattern after all (malformed, no such folder, nothing matched): the word is a name, as in sh. */
  | { kind: 'name' }
  /** The names in `dir` (a virtual path) that match, in listing order; `shownDir` is the folder as typed. */
  | { kind: 'matches'; dir: string; shownDir: string; names: string[] }
  /** Over a limit: `reason` goes to the client after the word, and nothing of it is sent. */
  | { kind: 'refused'; reason: string };

const NAME: Expansion = { kind: 'name' };
const refused = (reason: string): Expansion => ({ kind: 'refused', reason });

/** Expands `word` (its `pattern` set) against its folder in `vfs`. Never throws for a missing folder. */
export async function expandPattern(vfs: Vfs, word: ShellWord): Promise<Expansion> {
  const split = splitPattern(word.pattern!);
  if (!split) return NAME;
  if (Buffer.byteLength(split.last) > MAX_PATTERN_BYTES) return refused(`pattern too long (more than ${MAX_PATTERN_BYTES} bytes)`);
  const glob = compileGlob(split.last);
  if (!glob) return NAME;
  const shownDir = split.dir === '' && word.pattern!.startsWith('/') ? '/' : split.dir;
  const dir = wordPath({ ...word, text: shownDir }) || '/';
  const listing = await vfs.openDir(dir).catch(() => null);
  if (!listing) return NAME;
  try {
    const names: string[] = [];
    let read = 0;
    let held = 0;
    let turnStarted = performance.now();
    // Names only: an lstat per entry kept the thread pool full, and other users' requests waited.
    for (let batch = await listing.names(LIST_BATCH); batch; batch = await listing.names(LIST_BATCH)) {
      read += batch.length;
      if (read > MAX_GLOB_ENTRIES) return refused(`too many entries to match (more than ${MAX_GLOB_ENTRIES} in the folder)`);
      for (const name of batch) {
        // Most batches come from the listing's buffer: awaiting them need not leave this turn.
        if (performance.now() - turnStarted > TURN_BUDGET_MS) {
          await nextTurn();
          turnStarted = performance.now();
        }
        if (!glob.matches(name)) continue;
        held += Buffer.byteLength(name);
        // OpenSSH's scp says the same when its glob stops at a limit.
        if (held > MAX_GLOB_NAME_BYTES) return refused('too many glob matches');
        names.push(name);
      }
    }
    return names.length === 0 ? NAME : { kind: 'matches', dir, shownDir, names };
  } finally {
    await listing.close();
  }
}
