/**
 * A component pattern run as a bit-parallel automaton (shift-and, Baeza-Yates and Gonnet, with
 * self-loops for `*`): state j means "the first j one-character tokens have matched", one bit
 * each. For every character c of a name, D = ((D << 1) & takes[c]) | (D & loops), where takes[c]
 * holds the tokens that accept c and loops the states a `*` follows. So a name costs one table
 * lookup and ceil((q + 1) / 32) word operations per character, whatever the pattern: there is no
 * backtracking, which made V8's RegExp take seconds (`*a*a*a*a*a*a*a*a*b` against 44 a's) to
 * hours (200 a's) for one directory entry.
 */

/** One character out of a set of code point ranges ([lo, hi, lo, hi, ...], inclusive), or its complement. */
export interface CharSet {
  ranges: readonly number[];
  negate: boolean;
}

/** One position of a pattern: `*` (any run of characters but `/`), or one character of a set. */
export type GlobToken = { star: true } | ({ star: false } & CharSet);

const SLASH = 0x2f;

/** A compiled pattern; matches() is safe to call on hostile names of any length. */
export class GlobAutomaton {
  /** One-character tokens (the accepting state is bit q). */
  private readonly q: number;
  /** 32-bit words per state vector. */
  private readonly words: number;
  /** States followed by a `*`. */
  private readonly loops: Uint32Array;
  /** Ascending first code points of intervals whose characters take the same tokens; starts[0] = 0. */
  private readonly starts: number[];
  /** `words` words per interval: the tokens its characters take (bit j + 1 for token j). */
  private readonly takes: Uint32Array;
  /** The interval of each ASCII code point, so ASCII names skip the binary search. */
  private readonly ascii = new Int32Array(128);
  /** Scratch state vector (matches() is synchronous, so one per automaton is enough). */
  private readonly state: Uint32Array;

  constructor(tokens: readonly GlobToken[]) {
    const sets: CharSet[] = [];
    const loopStates: number[] = [];
    for (const t of tokens) {
      if (t.star) loopStates.push(sets.length);
      else sets.push(t);
    }
    this.q = sets.length;
    this.words = (this.q >>> 5) + 1;
    this.loops = new Uint32Array(this.words);
    for (const s of loopStates) setBit(this.loops, s);
    this.state = new Uint32Array(this.words);
    const table = buildTable(sets, this.words);
    this.starts = table.starts;
    this.takes = table.takes;
    for (let c = 0, k = 0; c < 128; c += 1) {
      while (k + 1 < this.starts.length && this.starts[k + 1]! <= c) k += 1;
      this.ascii[c] = k;
    }
  }

  /** True when the whole of `name` matches the tokens (no dot rule here: see glob.ts). */
  matches(name: string): boolean {
    const { q, words, loops, takes, state: d } = this;
    // Each token takes one code point, and a code point is one or two UTF-16 units.
    if (name.length < q) return false;
    d.fill(0);
    d[0] = 1;
    for (let i = 0; i < name.length; ) {
      const cp = name.codePointAt(i)!;
      i += cp > 0xffff ? 2 : 1;
      const base = this.interval(cp) * words;
      // `*` never takes a `/` (the RegExp this replaced read it as [^/]*).
      const loopOn = cp !== SLASH;
      let carry = 0;
      let any = 0;
      for (let w = 0; w < words; w += 1) {
        const cur = d[w]!;
        const next = (((cur << 1) | carry) & takes[base + w]!) | (loopOn ? cur & loops[w]! : 0);
        carry = cur >>> 31;
        d[w] = next;
        any |= next;
      }
      if (any === 0) return false;
    }
    return ((d[q >>> 5]! >>> (q & 31)) & 1) === 1;
  }

  /** The interval holding `cp`: the last start at or below it. */
  private interval(cp: number): number {
    if (cp < 128) return this.ascii[cp]!;
    const starts = this.starts;
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (starts[mid]! <= cp) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}

function setBit(v: Uint32Array, bit: number): void {
  v[bit >>> 5] = v[bit >>> 5]! | (1 << (bit & 31));
}

function toggleBit(v: Uint32Array, bit: number): void {
  v[bit >>> 5] = v[bit >>> 5]! ^ (1 << (bit & 31));
}

/** An event's position in the sort key: above the token (21 bits) and the direction (1 bit). */
const AT = 2 ** 22;

/**
 * The code points cut into intervals at every range boundary, with the tokens each interval's
 * characters take: one sweep over the sorted boundaries (a token's bit flips when its count of
 * covering ranges leaves or reaches 0). Intervals: at most two per range, plus one. Events are
 * numbers in a Float64Array sorted natively: tuples and a comparator took ~3 ms for 1000 tokens.
 * Tokens must number below 2^21 (glob.ts compiles at most 1024 bytes).
 */
function buildTable(sets: readonly CharSet[], words: number): { starts: number[]; takes: Uint32Array } {
  let count = 0;
  for (const set of sets) count += set.ranges.length;
  const events = new Float64Array(count);
  let n = 0;
  sets.forEach((set, j) => {
    for (let k = 0; k + 1 < set.ranges.length; k += 2) {
      events[n++] = set.ranges[k]! * AT + j * 2 + 1;
      events[n++] = (set.ranges[k + 1]! + 1) * AT + j * 2;
    }
  });
  events.sort();
  const covered = new Int32Array(sets.length);
  const current = new Uint32Array(words);
  sets.forEach((set, j) => set.negate && setBit(current, j + 1));
  const starts: number[] = [0];
  const rows: Uint32Array[] = [current.slice()];
  for (let e = 0; e < events.length; ) {
    const at = Math.floor(events[e]! / AT);
    for (; e < events.length && Math.floor(events[e]! / AT) === at; e += 1) {
      const rest = events[e]! - at * AT;
      const j = rest >>> 1;
      const before = covered[j]!;
      covered[j] = before + (rest & 1 ? 1 : -1);
      if ((before === 0) !== (covered[j] === 0)) toggleBit(current, j + 1);
    }
    if (at === 0) rows[0] = current.slice();
    else {
      starts.push(at);
      rows.push(current.slice());
    }
  }
  const takes = new Uint32Array(rows.length * words);
  rows.forEach((row, k) => takes.set(row, k * words));
  return { starts, takes };
}
