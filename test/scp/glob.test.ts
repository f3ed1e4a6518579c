/**
 * The download pattern matcher, case by case: every row is the answer the RegExp translation gave
 * (checked against it here, test/fuzz/glob-reference.ts) and the automaton must give; then what a
 * hostile pattern costs (the issue 23 attack and the worst shapes for the automaton) and the limit.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileGlob, MAX_PATTERN_BYTES, parseGlob } from '../../src/scp/glob.js';
import { referenceMatch } from '../fuzz/glob-reference.js';

/** [pattern, name, matches] rows; null = the pattern is malformed (the word is then a name). */
const ROWS: Array<[string, string, boolean | null]> = [
  // literals and the empty pattern
  ['abc', 'abc', true],
  ['abc', 'abcd', false],
  ['abc', 'ab', false],
  ['', '', true],
  ['', 'a', false],
  ['ABC', 'abc', false],
  // *: any run, the empty one too; runs of stars are one star
  ['*', 'anything at all', true],
  ['*', '', true],
  ['a*', 'a', true],
  ['*c', 'abc', true],
  ['*c', 'abcd', false],
  ['a*c*e', 'abcde', true],
  ['a*c*e', 'abcdef', false],
  ['a**b', 'ab', true],
  ['*.txt', 'a.txt', true],
  ['*.txt', 'a.txt.gz', false],
  ['*a*a*a*a*a*a*a*a*b', 'a'.repeat(20), false],
  ['*a*a*a*a*a*a*a*a*b', 'a'.repeat(20) + 'b', true],
  // ?: exactly one character (a code point, not a UTF-16 unit)
  ['?.bin', 'x.bin', true],
  ['?.bin', 'xy.bin', false],
  ['?.bin', '.bin', false],
  ['?', '😀', true],
  ['??', '😀', false],
  ['?', 'é', true],
  // [...] classes, ! and ^ negate, ] first is literal, ranges by code point
  ['[ab]*', 'beta', true],
  ['[!ab]*', 'beta', false],
  ['[^ab]*', 'gamma', true],
  ['[a-c]x', 'bx', true],
  ['[a-c]x', 'dx', false],
  ['[]]', ']', true],
  ['[]a]', 'a', true],
  ['[!]]', 'a', true],
  ['[!]]', ']', false],
  ['[a-]', '-', true],
  ['[-a]', '-', true],
  ['[a-b-c]', '-', true],
  ['[a-b-c]', 'c', true],
  ['[--0]', '/', true],
  ['[α-ω]', 'λ', true],
  ['[α-ω]', 'a', false],
  ['[😀-😂]', '😁', true],
  ['[!😀]', '😀', false],
  ['[\\]]', ']', true],
  ['[a\\-z]', 'm', true], // an escaped dash still makes a range (the RegExp read it so)
  ['[*?]', '*', true],
  ['[*?]', 'a', false],
  ['[.]x', 'qx', false],
  // unclosed and malformed brackets
  ['[', '[', true],
  ['[ab', '[ab', true],
  ['[]', '[]', true],
  ['[!]', '[!]', true],
  ['[z-a]', 'z', null],
  ['[a--]', 'a', null],
  // \x is a literal x; a trailing \ is malformed
  ['a\\*', 'a*', true],
  ['a\\*', 'ab', false],
  ['\\[a]', '[a]', true],
  ['\\?', 'x', false],
  ['a\\', 'a', null],
  // RegExp syntax means nothing
  ['(x)+', '(x)+', true],
  ['a.c', 'abc', false],
  ['$^{1}|', '$^{1}|', true],
  // a leading dot only explicitly
  ['*', '.hidden', false],
  ['?hidden', '.hidden', false],
  ['[.]hidden', '.hidden', false],
  ['.*', '.hidden', true],
  ['\\.*', '.hidden', true],
  ['*', 'not.hidden', true],
  // names are components: * and ? never take a /
  ['*', 'a/b', false],
  ['a?b', 'a/b', false],
  ['a\\/b', 'a/b', true],
];

describe('glob matcher', () => {
  it('answers every row as the RegExp translation did', () => {
    for (const [pattern, name, expected] of ROWS) {
      const what = `${JSON.stringify(pattern)} ~ ${JSON.stringify(name)}`;
      assert.equal(referenceMatch(pattern, name), expected, `${what}: the row is the reference's answer`);
      const glob = compileGlob(pattern);
      assert.equal(glob === null ? null : glob.matches(name), expected, what);
    }
  });

  it('merges runs of stars and reads a class as one token', () => {
    assert.deepEqual(parseGlob('a**[!x-z]'), [
      { star: false, ranges: [0x61, 0x61], negate: false },
      { star: true },
      { star: false, ranges: [0x78, 0x7a], negate: true },
    ]);
  });

  it('matches the issue 23 attack in well under a millisecond per name', () => {
    const glob = compileGlob('*a*a*a*a*a*a*a*a*b')!;
    for (const n of [44, 60, 200, 255]) {
      const started = performance.now();
      assert.equal(glob.matches('a'.repeat(n)), false);
      assert.equal(glob.matches('a'.repeat(n - 1) + 'b'), true);
      const ms = performance.now() - started;
      assert.ok(ms < 20, `${n} a's: ${ms.toFixed(2)} ms (the RegExp took seconds at 44)`);
    }
  });

  it('bounds the worst shapes: a 255-byte name against patterns of up to 1024 bytes', () => {
    const name = 'a'.repeat(255);
    const patterns = [
      '*' + 'a'.repeat(254) + 'b',
      '*a'.repeat(127) + '*b',
      '*?'.repeat(254) + 'b',
      '[a-z]'.repeat(204),
      '*' + '[!b]'.repeat(254),
      '*' + '[a-a]'.repeat(200) + '*b',
      '*a'.repeat(512),
    ];
    for (const pattern of patterns) {
      assert.ok(Buffer.byteLength(pattern) <= MAX_PATTERN_BYTES, `${pattern.slice(0, 12)}... fits the limit`);
      const glob = compileGlob(pattern)!;
      const started = performance.now();
      for (let i = 0; i < 10; i += 1) glob.matches(name);
      const ms = (performance.now() - started) / 10;
      assert.ok(ms < 5, `${pattern.slice(0, 12)}... (${pattern.length} chars): ${ms.toFixed(3)} ms per name`);
    }
  });

  it('compiles the largest patterns in a few ms (once per request)', () => {
    const shapes = [
      'abcdefghijklmnopqrstuvwxyz0123456789'.repeat(29).slice(0, MAX_PATTERN_BYTES),
      '*?'.repeat(MAX_PATTERN_BYTES / 2),
      Array.from({ length: 341 }, (_, i) => String.fromCodePoint(0x4e00 + i)).join(''),
      ('[' + Array.from({ length: 60 }, (_, i) => `${String.fromCodePoint(0x100 + 2 * i)}-${String.fromCodePoint(0x101 + 2 * i)}`).join('') + ']').repeat(3),
    ];
    for (const pattern of shapes) {
      assert.ok(Buffer.byteLength(pattern) <= MAX_PATTERN_BYTES);
      compileGlob(pattern);
      const started = performance.now();
      for (let i = 0; i < 5; i += 1) assert.ok(compileGlob(pattern));
      const ms = (performance.now() - started) / 5;
      // ~1 ms here; sorting the range boundaries as tuples with a comparator took 3-5 ms.
      assert.ok(ms < 20, `${pattern.slice(0, 12)}...: ${ms.toFixed(2)} ms per compile`);
    }
  });

  it('refuses to compile a pattern over MAX_PATTERN_BYTES', () => {
    assert.ok(compileGlob('*'.repeat(MAX_PATTERN_BYTES)));
    assert.equal(compileGlob('*'.repeat(MAX_PATTERN_BYTES + 1)), null);
    assert.equal(compileGlob('é'.repeat(MAX_PATTERN_BYTES / 2 + 1)), null, 'counted in UTF-8 bytes');
  });
});
