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

/**
 * The open findings, by id. Every other finding so far is fixed and replayed as a plain regression
 * test, in regressions.test.ts (handle leak at teardown, concurrent TRUNC/SETSTAT credits, REMOVE
 * racing OPEN or RENAME, empty WRITE growth, SETSTAT racing a symlink swap) or, for the
 * two-process mode, in pair-regressions.test.ts and ledger.test.ts (an OPEN racing another
 * process's REMOVE, a RENAME whose source another process moved, a REMOVE and a replacing rename
 * in two processes crediting one file twice, a removal in one process of a file the other had
 * just opened).
 */
export const KNOWN_FINDINGS: readonly KnownFinding[] = [];
