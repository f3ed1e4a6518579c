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

/**
 * The open findings, by id. Every single-session finding so far is fixed and replayed as a plain
 * regression test in regressions.test.ts (handle leak at teardown, concurrent TRUNC/SETSTAT
 * credits, REMOVE racing OPEN or RENAME, empty WRITE growth, SETSTAT racing a symlink swap).
 */
export const KNOWN_FINDINGS: readonly KnownFinding[] = [
  {
    // Two processes: one OPENs a file whose removal by the other lands between its open(2) and its
    // fstat; it sees nlink 0, takes the file for deleted outside Coffer (never credited) and credits
    // its entry and size at its last close, while the other's REMOVE credited them too.
    id: 'pair-unlinked-open-double-credit',
    test: 'pair-regressions.test.ts: pair finding 1',
    matches: (v, ctx) => {
      if (!ctx.other || !(v.startsWith('under-charged: ') || v.startsWith('after the recount the store counts '))) return false;
      const [a, b] = [kinds(ctx.seq), kinds(ctx.other)];
      const removes = (k: Set<string>) => k.has('remove') || k.has('rename') || k.has('posix-rename');
      return (a.has('open') && removes(b)) || (b.has('open') && removes(a));
    },
  },
];
