/**
 * Unit tests of what guards the server before login: clip() on client-supplied text.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clip } from '../../src/util/logger.js';

describe('clip', () => {
  it('escapes control, line-separator and bidi characters and backslashes', () => {
    assert.equal(clip('a\nb\r\tc\u001b[0m\u007f\u0085'), 'a\\nb\\r\\tc\\x1b[0m\\x7f\\x85');
    assert.equal(clip('x\u2028y\u202ez\u2066\u200f'), 'x\\u2028y\\u202ez\\u2066\\u200f');
    assert.equal(clip('back\\slash'), 'back\\\\slash');
    assert.equal(clip('lone \ud800 surrogate'), 'lone \\ud800 surrogate');
    assert.equal(clip('héllo wörld 日本 😀'), 'héllo wörld 日本 😀', 'printable text is kept');
  });

  it('keeps at most `max` characters, never cutting a pair or an escape', () => {
    assert.equal(clip('u'.repeat(30_000)), `${'u'.repeat(64)}...`);
    assert.equal(clip('abc', 3), 'abc');
    assert.equal(clip('ab😀', 3), 'ab...');
    assert.equal(clip('ab\n', 3), 'ab...');
    assert.equal(clip('\n'.repeat(100)).length, 64 + 3);
  });
});
