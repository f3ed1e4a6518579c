import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { foldPath, isUsablePath, MAX_PATH_BYTES, normalizePath, resolveWithin, splitPath } from '../../src/vfs/virtual-path.js';
import { VfsError } from '../../src/vfs/vfs-error.js';

const isNotFound = (err: unknown): boolean => err instanceof VfsError && err.code === 'NOT_FOUND' && err.message === 'No such file';

describe('normalizePath: chroot semantics, ".." stops at "/"', () => {
  const table: Array<[string, string]> = [
    ['', '/'],
    ['/', '/'],
    ['.', '/'],
    ['..', '/'],
    ['/..', '/'],
    ['/../..', '/'],
    ['../../..', '/'],
    ['/a/b/../../..', '/'],
    ['//..//x', '/x'],
    ['//x//y/', '/x/y'],
    ['a/./b/../c', '/a/c'],
    ['../../etc/passwd', '/etc/passwd'],
    ['../../../../../../../../etc/passwd', '/etc/passwd'],
    ['/tmp/../../home/alice2/secret', '/home/alice2/secret'],
    ['a//../b', '/b'],
    ['x/', '/x'],
    ['x/.', '/x'],
    ['./x/./', '/x'],
    // Names that only look like dots stay names.
    ['/a/.../b', '/a/.../b'],
    ['/a/..b/c', '/a/..b/c'],
    ['/a/b..', '/a/b..'],
    ['/ ../x', '/ ../x'],
    // A backslash is an ordinary character on Linux (security catalog 1.3).
    ['..\\..\\etc\\passwd', '/..\\..\\etc\\passwd'],
    ['dir\\..\\..\\x', '/dir\\..\\..\\x'],
    ['/a\\../b', '/a\\../b'],
    // Names are opaque: no Unicode normalisation (catalog 1.5).
    ['\uff0e\uff0e\uff0fetc', '/\uff0e\uff0e\uff0fetc'],
    ['/e\u0301', '/e\u0301'],
    ['/\u00e9', '/\u00e9'],
  ];
  for (const [input, want] of table) {
    test(`${JSON.stringify(input)} -> ${JSON.stringify(want)}`, () => {
      assert.equal(normalizePath(input), want);
    });
  }

  test('canonical input comes back as it is, and every input as the general algorithm gives it (property)', () => {
    // normalizePath returns an already canonical path unchanged without folding it (foldPath): the
    // answer must be the folded one all the same, for any mix of names and dots.
    fc.assert(
      fc.property(fc.array(fc.constantFrom('a', 'b', '.', '..', '...', '.a', 'a.', ''), { maxLength: 8 }), fc.boolean(), fc.boolean(), (names, lead, trailing) => {
        const p = (lead ? '/' : '') + names.join('/') + (trailing ? '/' : '');
        assert.equal(normalizePath(p), foldPath(p), JSON.stringify(p));
      }),
      { numRuns: 5000 },
    );
    for (const p of ['/a/b', '/.hidden', '/...', '/a..', '/a/.b/c']) assert.equal(normalizePath(p), p);
  });

  test('the result is idempotent', () => {
    for (const [input] of table) assert.equal(normalizePath(normalizePath(input)), normalizePath(input));
  });
});

describe('normalizePath: unusable names answer NOT_FOUND', () => {
  const bad: Array<[string, string]> = [
    ['NUL', 'ok\u0000../../x'],
    ['NUL at the end', '/file\u0000'],
    ['\\x01', '/a\u0001b'],
    ['newline', '/a\nb'],
    ['carriage return', '/a\rb'],
    ['tab', '/a\tb'],
    ['escape', '/\u001b[31m'],
    ['DEL', '/a\u007fb'],
    ['U+FFFD (invalid UTF-8 as ssh2 decodes it)', '/\ufffd\ufffd/x'],
    ['4097 bytes', '/' + 'a'.repeat(4096)],
    ['300 KB path', '/a'.repeat(150_000)],
    ['300 KB of ..', '../'.repeat(100_000)],
  ];
  for (const [label, input] of bad) {
    test(label, () => {
      assert.throws(() => normalizePath(input), isNotFound);
      assert.equal(isUsablePath(input), false);
    });
  }

  test('MAX_PATH_BYTES is PATH_MAX (4096)', () => {
    assert.equal(MAX_PATH_BYTES, 4096);
  });

  test('exactly 4096 bytes is accepted, 4097 is not', () => {
    const ok = '/' + 'a'.repeat(4095);
    assert.equal(normalizePath(ok), ok);
    assert.throws(() => normalizePath(ok + 'a'), isNotFound);
  });

  test('the limit counts UTF-8 bytes, not characters', () => {
    const ok = '\u00e9'.repeat(2048); // 4096 bytes, 2048 characters
    assert.equal(normalizePath(ok), '/' + ok);
    assert.throws(() => normalizePath(ok + 'a'), isNotFound);
    assert.throws(() => normalizePath('\u{1f600}'.repeat(1025)), isNotFound); // 4100 bytes
  });

  test('printable ASCII, spaces, backslashes and non-ASCII are usable', () => {
    for (const p of ['/a b', '/a\\b', '/\u00e9t\u00e9', '/\u{1f600}', '/~!@#$%^&*()_+{}|:"<>?', '/\u0080\u009f']) {
      assert.equal(isUsablePath(p), true, p);
    }
  });
});

describe('resolveWithin: a symlink target against its folder, null above "/"', () => {
  const table: Array<[string, string, string | null]> = [
    ['/a/b', 'c', '/a/b/c'],
    ['/a/b', './c', '/a/b/c'],
    ['/a/b', '../c', '/a/c'],
    ['/a/b', '../..', '/'],
    ['/a/b', '../../x/y', '/x/y'],
    ['/a/b', '../../..', null],
    ['/a/b', '../../../etc/passwd', null],
    ['/', '..', null],
    ['/', '../../..', null],
    ['/', 'x/../../y', null], // climbs above "/" midway, even if it would come back
    ['/', 'x/../y', '/y'],
    ['/a', '/', '/'],
    ['/a', '/etc/passwd', '/etc/passwd'], // absolute means virtual-absolute
    ['/a/b', '/x/../y', '/y'],
    ['/a/b', '/..', null],
    ['/a/b', '/../etc', null],
    ['/a', '.', '/a'],
    ['/a', '', '/a'],
    ['/a', 'b//c/', '/a/b/c'],
    ['/a', '..\\..\\x', '/a/..\\..\\x'],
  ];
  for (const [dir, target, want] of table) {
    test(`${dir} + ${JSON.stringify(target)} -> ${JSON.stringify(want)}`, () => {
      assert.equal(resolveWithin(dir, target), want);
    });
  }
});

describe('splitPath', () => {
  const table: Array<[string, string, string]> = [
    ['/', '/', ''],
    ['/a', '/', 'a'],
    ['/a/b', '/a', 'b'],
    ['/a/b/c.txt', '/a/b', 'c.txt'],
    ['/..\\x', '/', '..\\x'],
  ];
  for (const [path, parent, name] of table) {
    test(`${path} -> ${parent} + ${JSON.stringify(name)}`, () => {
      assert.deepEqual(splitPath(path), { parent, name });
    });
  }
});
