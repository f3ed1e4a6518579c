/**
 * Bugs in src/ the fuzzer found and that are still open (none now). Each would have a todo test in
 * regressions.test.ts replaying the fuzzer's exact input. While open, a violation a matcher
 * recognises is counted (stats.known), not failed on, so the fuzzer keeps looking for new bugs;
 * every matcher is narrow (the symptom AND the request pattern that causes it), and `--strict`
 * (RunOptions.strict) fails on them too. Remove an entry once src/ is fixed.
 */
import type { Sequence } from './arbitraries.js';

/** One open finding. */
export interface KnownFinding {
  id: string;
  /** The regression test that replays it. */
  test: string;
  matches(violation: string, ctx: FindingContext): boolean;
}

/** What a known-finding matcher may look at. */
export interface FindingContext {
  /** Replies could be missing: the session closed (fatal packet) or the client hung up. */
  lossy: boolean;
  seq: Sequence;
  /** In the two-process mode (pair.ts), the other engine's sequence. */
  other?: Sequence;
}

/** The request kinds a sequence sends (typed steps only). */
const kinds = (seq: Sequence): Set<string> =>
  new Set(seq.batches.flatMap((b) => b.flatMap((s) => (s.t === 'req' || s.t === 'mut' ? [s.req.kind] : []))));

/** A removal that credits what its lstat saw at the name: REMOVE, or a posix-rename that replaces. */
const credits = (seq: Sequence): boolean => {
  const k = kinds(seq);
  return k.has('remove') || k.has('posix-rename');
};

/** True for a pair-level violation saying the store, sure, counts more than the disk after the recount. */
function overAndSure(v: string): boolean {
  const m = /^after the recount the store counts (\d+) (bytes|entries), the disk holds (\d+) \(before the recount: .*, sure\)$/.exec(v);
  return m !== null && Number(m[1]) > Number(m[3]);
}

/** True for a pair-level violation saying the store counts less than the disk (or the disk passed a limit). */
function underCounted(v: string): boolean {
  if (v.startsWith('under-charged: ')) return true;
  const m = /^after the recount the store counts (\d+) (bytes|entries), the disk holds (\d+)/.exec(v);
  if (m) return Number(m[1]) < Number(m[3]);
  return /^\d+ entries are over the limit \d+$/.test(v) || /^disk usage \d+ is over the quota \d+$/.test(v);
}

/**
 * The open findings, by id. Every other finding so far is fixed and replayed as a plain regression
 * test, in regressions.test.ts (handle leak at teardown, concurrent TRUNC/SETSTAT credits, REMOVE
 * racing OPEN or RENAME, empty WRITE growth, SETSTAT racing a symlink swap) or, for the
 * two-process mode, in pair-regressions.test.ts (an OPEN racing another process's REMOVE, a
 * RENAME whose source another process moved).
 */
export const KNOWN_FINDINGS: readonly KnownFinding[] = [
  {
    // Two processes each remove one name (REMOVE, or a posix-rename onto it): each credits the
    // file its lstat saw there, but the per-user namespace lock is per process, so the other's
    // change can land between that lstat and the act. Seed 159963542: B REMOVEs dir/b.bin (credits
    // it) while A posix-renames a link onto dir/b.bin with a stale lstat of b.bin (credits it
    // again; nothing was replaced): one entry (and b.bin's size) credited twice, the store sure.
    id: 'pair-stale-lstat-double-credit',
    test: 'pair-regressions.test.ts: pair finding 3',
    matches: (v, ctx) => ctx.other !== undefined && underCounted(v) && credits(ctx.seq) && credits(ctx.other),
  },
  {
    // One process REMOVEs (or replaces) a file the other has just opened and grown, before the
    // other's next settle registers the inode in the store: the credit (the size the lstat saw) is
    // applied, the other never learns the file went and keeps its growth charged at close. Over
    // the disk and sure (seed 310382113).
    id: 'pair-removed-while-open-elsewhere',
    test: "ledger.test.ts: 'a file removed by another process while open here ...'",
    matches: (v, ctx) => {
      if (!ctx.other || !overAndSure(v)) return false;
      const opens = (seq: Sequence) => kinds(seq).has('open');
      return (credits(ctx.seq) && opens(ctx.other)) || (credits(ctx.other) && opens(ctx.seq));
    },
  },
];
