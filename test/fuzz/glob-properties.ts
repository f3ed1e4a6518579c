/**
 * fast-check properties of the scp download pattern matcher (src/scp/glob.ts), shared by the short
 * run of `npm test` (glob-property.test.ts) and the long one (`npm run fuzz`, scripts/fuzz.mjs):
 * - agreement: on short random patterns and names (glob characters, dots, dashes, escapes, non-ASCII
 *   and astral characters, random code points) the automaton answers as the RegExp translation it
 *   replaced (glob-reference.ts), malformed patterns included;
 * - cost: a 255-byte name against a pattern of ~1000 bytes built from the shapes that made the
 *   RegExp backtrack (or any random string) is answered in a few milliseconds, and never throws.
 * Values are plain strings, so fc.stringify prints a replayable counterexample.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compileGlob, MAX_PATTERN_BYTES } from '../../src/scp/glob.js';
import { referenceMatch, referenceRegExp } from './glob-reference.js';

/** Characters of random patterns: every glob character, escapes, dots, non-ASCII and astral ones. */
const PATTERN_CHARS = ['a', 'b', '.', '-', '*', '?', '[', ']', '!', '^', '\\', 'é', '😀', '/', ' '];
/** Pieces of structured patterns: classes of every shape, escapes, the malformed ones. */
const PIECES = [
  '*', '?', 'a', 'b', '.', '-', '\\*', '\\\\', '\\[', '[ab]', '[!a]', '[^b]', '[a-c]', '[]a]', '[!]a]', '[-a]', '[a-]', '[a-b-c]',
  '[z-a]', '[é-😀]', '[\\]]', '[a\\-c]', '[', ']', '\\', '!', '^', '😀',
];
/** Characters of random names (never a `/`: a directory entry cannot hold one). */
const NAME_CHARS = ['a', 'b', 'c', '.', '-', '[', ']', '!', '^', '\\', '*', '?', 'é', '😀', 'λ', ' '];

const shortPattern: fc.Arbitrary<string> = fc.oneof(
  fc.array(fc.constantFrom(...PATTERN_CHARS), { maxLength: 12 }).map((cs) => cs.join('')),
  fc.array(fc.constantFrom(...PIECES), { maxLength: 6 }).map((ps) => ps.join('')),
  fc.string({ unit: 'binary', maxLength: 8 }),
);
const randomName: fc.Arbitrary<string> = fc.oneof(
  fc.array(fc.constantFrom(...NAME_CHARS), { maxLength: 12 }).map((cs) => cs.join('')),
  fc.string({ unit: 'binary', maxLength: 8 }).map((s) => s.replaceAll('/', '')),
);

/**
 * A name made to (nearly) match `pattern`: each `*` becomes a filler string, `?` and a class one
 * filler character, `\x` x, anything else itself. Classes are only guessed at, so some miss.
 */
function instantiate(pattern: string, filler: readonly string[]): string {
  const cps = Array.from(pattern);
  let out = '';
  let f = 0;
  const fill = () => (filler.length === 0 ? '' : filler[f++ % filler.length]!);
  for (let i = 0; i < cps.length; i += 1) {
    const c = cps[i]!;
    if (c === '*') out += fill();
    else if (c === '?') out += Array.from(fill())[0] ?? 'a';
    else if (c === '\\' && i + 1 < cps.length) out += cps[++i];
    else if (c === '[') {
      const close = cps.indexOf(']', i + 2);
      if (close < 0) out += c;
      else {
        const body = cps.slice(i + 1, close).filter((x) => x !== '!' && x !== '^' && x !== '-' && x !== '\\');
        out += body[f++ % Math.max(body.length, 1)] ?? 'a';
        i = close;
      }
    } else out += c;
  }
  return out.replaceAll('/', '');
}

/** A short pattern and a name: random, or made from the pattern so that matches are common. */
export const patternAndName: fc.Arbitrary<[string, string]> = shortPattern.chain((pattern) =>
  fc.tuple(
    fc.constant(pattern),
    fc.oneof(
      randomName,
      fc.array(fc.array(fc.constantFrom(...NAME_CHARS), { maxLength: 3 }).map((cs) => cs.join('')), { maxLength: 4 }).map((filler) => instantiate(pattern, filler)),
    ),
  ),
);

/** The automaton answers as the RegExp translation (null = malformed pattern, a name then). */
export function globAgreementProperty(): fc.IPropertyWithHooks<[[string, string]]> {
  return fc.property(patternAndName, ([pattern, name]) => {
    const glob = compileGlob(pattern);
    assert.equal(glob === null ? null : glob.matches(name), referenceMatch(pattern, name));
  });
}

/** Pieces of hostile patterns: stars between one-character tokens, long classes, escapes. */
const HOSTILE = ['*', '*', 'a', '?', '*a', '*?', '[a-z]', '[!b]', '[abcdefghijklmnopqrstuvwxyz]', '[!bcdefghijklmnopqrstuvwxyz]', '\\a', '[]a-]', '[é-😀a]'];

/** A pattern of about 1000 bytes: hostile pieces repeated to length, ending in `b`; or any string. */
export const hostilePattern: fc.Arbitrary<string> = fc.oneof(
  fc.array(fc.constantFrom(...HOSTILE), { minLength: 1, maxLength: 60 }).map((ps) => {
    let s = ps.join('');
    while (Buffer.byteLength(s) < 1000) s += s;
    while (Buffer.byteLength(s) > 999) s = s.slice(0, -1);
    return s + 'b';
  }),
  fc.string({ unit: 'binary', minLength: 200, maxLength: 300 }),
);

/** A name of 255 bytes: mostly a's, a few other characters where they hurt. */
export const hostileName: fc.Arbitrary<string> = fc
  .array(fc.constantFrom('a', 'a', 'a', 'a', 'b', '.', 'z'), { minLength: 255, maxLength: 255 })
  .map((cs) => cs.join(''));

/** Matching `name` against `pattern` (the fastest of 3 runs, against preemption) takes under `maxMs`. */
export function globCostProperty(maxMs = 5): fc.IPropertyWithHooks<[string, string]> {
  return fc.property(hostilePattern, hostileName, (pattern, name) => {
    const glob = compileGlob(pattern);
    if (glob === null) {
      // Malformed (the word is then a name) or over the limit, which expansion refuses first.
      assert.ok(Buffer.byteLength(pattern) > MAX_PATTERN_BYTES || referenceRegExp(pattern) === null, 'only malformed patterns fail to compile');
      return;
    }
    let fastest = Infinity;
    for (let i = 0; i < 3; i += 1) {
      const started = performance.now();
      glob.matches(name);
      fastest = Math.min(fastest, performance.now() - started);
    }
    assert.ok(fastest < maxMs, `${fastest.toFixed(2)} ms for one name`);
  });
}
