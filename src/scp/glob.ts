/**
 * Shell patterns in the last component of a download path (`scp -O 'host:*.txt' .`): what a remote
 * shell would expand before running scp. Only `*`, `?` and `[...]` (with `!` or `^` to negate, a
 * `]` first taken literally, `a-z` ranges by code point); `\x` is a literal x. A leading dot must be
 * matched explicitly, as in sh. A trailing `\` or a reversed range (`[z-a]`) makes the word a
 * plain name. Matching runs a bit-parallel automaton (glob-automaton.ts) in time linear in the name,
 * never a RegExp: V8's backtracking let one name freeze the server (issue 23).
 */
import { GlobAutomaton, type GlobToken } from './glob-automaton.js';

/** Longest pattern (the last component) compiled, in UTF-8 bytes; a name is at most 255. */
export const MAX_PATTERN_BYTES = 1024;

/** A compiled component pattern. */
export interface Glob {
  /** True when `name` (one directory entry) matches: linear in the name's length. */
  matches(name: string): boolean;
}

const BACKSLASH = 0x5c;
const STAR = 0x2a;
const QUESTION = 0x3f;
const OPEN = 0x5b;
const CLOSE = 0x5d;
const BANG = 0x21;
const CARET = 0x5e;
const DASH = 0x2d;
const SLASH = 0x2f;
/** A `-` inside brackets, escaped or not: both act as the range dash (as they did in the RegExp). */
const RANGE_DASH = -1;

const STAR_TOKEN: GlobToken = { star: true };
const literal = (cp: number): GlobToken => ({ star: false, ranges: [cp, cp], negate: false });
/** `?`: any one character but `/` (names hold none; kept exact for the reference tests). */
const ANY: GlobToken = { star: false, ranges: [SLASH, SLASH], negate: true };

/** The compiled pattern, or null when it is malformed or over MAX_PATTERN_BYTES (callers report that first). */
export function compileGlob(pattern: string): Glob | null {
  if (Buffer.byteLength(pattern) > MAX_PATTERN_BYTES) return null;
  const tokens = parseGlob(pattern);
  if (!tokens) return null;
  const automaton = new GlobAutomaton(tokens);
  const dotsToo = pattern.startsWith('.') || pattern.startsWith('\\.');
  return { matches: (name) => (dotsToo || !name.startsWith('.')) && automaton.matches(name) };
}

/** The tokens of a component pattern (runs of `*` merged), or null when it is malformed. */
export function parseGlob(pattern: string): GlobToken[] | null {
  const cps = Array.from(pattern, (c) => c.codePointAt(0)!);
  const tokens: GlobToken[] = [];
  for (let i = 0; i < cps.length; i += 1) {
    const c = cps[i]!;
    if (c === BACKSLASH) {
      i += 1;
      if (i >= cps.length) return null;
      tokens.push(literal(cps[i]!));
    } else if (c === STAR) {
      if (!tokens.at(-1)?.star) tokens.push(STAR_TOKEN);
    } else if (c === QUESTION) tokens.push(ANY);
    else if (c === OPEN) {
      const cls = bracket(cps, i);
      if (cls === 'reversed') return null;
      if (cls === null) tokens.push(literal(OPEN));
      else {
        tokens.push(cls.token);
        i = cls.end;
      }
    } else tokens.push(literal(c));
  }
  return tokens;
}

/**
 * A `[...]` class starting at `start`: its token and the index of its `]`; null when unclosed (the
 * `[` is then literal); 'reversed' for a range such as `z-a`.
 */
function bracket(cps: readonly number[], start: number): { token: GlobToken; end: number } | 'reversed' | null {
  let i = start + 1;
  let negate = false;
  if (cps[i] === BANG || cps[i] === CARET) {
    negate = true;
    i += 1;
  }
  const items: number[] = [];
  for (let first = true; i < cps.length; i += 1, first = false) {
    let c = cps[i]!;
    if (c === CLOSE && !first) {
      const ranges = classRanges(items);
      return ranges === 'reversed' ? ranges : { token: { star: false, ranges, negate }, end: i };
    }
    if (c === BACKSLASH && i + 1 < cps.length) c = cps[++i]!;
    items.push(c === DASH ? RANGE_DASH : c);
  }
  return null;
}

/**
 * The ranges of a class body, read left to right as ECMAScript reads a character class: `x-y` is
 * a range when an item follows the dash, any other `-` is itself.
 */
function classRanges(items: readonly number[]): number[] | 'reversed' {
  const cp = (item: number) => (item === RANGE_DASH ? DASH : item);
  const ranges: number[] = [];
  for (let k = 0; k < items.length; ) {
    const lo = cp(items[k]!);
    if (k + 2 < items.length && items[k + 1] === RANGE_DASH) {
      const hi = cp(items[k + 2]!);
      if (lo > hi) return 'reversed';
      ranges.push(lo, hi);
      k += 3;
    } else {
      ranges.push(lo, lo);
      k += 1;
    }
  }
  return ranges;
}

/** Splits a pattern at its last unescaped `/`: the folder part must hold no glob characters. */
export function splitPattern(pattern: string): { dir: string; last: string } | null {
  let cut = -1;
  let firstGlob = -1;
  for (let i = 0; i < pattern.length; i += 1) {
    const c = pattern[i]!;
    if (c === '\\') i += 1;
    else if (c === '/') cut = i;
    else if (firstGlob < 0 && (c === '*' || c === '?' || c === '[')) firstGlob = i;
  }
  if (firstGlob >= 0 && firstGlob < cut) return null;
  const dir = cut < 0 ? '' : pattern.slice(0, cut);
  return { dir: dir.replace(/\\(.)/g, '$1'), last: pattern.slice(cut + 1) };
}
