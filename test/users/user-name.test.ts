import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { InputError } from '../../src/util/errors.js';
import { isValidUserName, USER_NAME_RE, validateUserName } from '../../src/users/user-name.js';

/** The InputError validateUserName throws for `name`. */
function refusal(name: string): InputError {
  try {
    validateUserName(name);
  } catch (err) {
    assert.ok(err instanceof InputError, `expected InputError, got ${String(err)}`);
    return err;
  }
  assert.fail(`${JSON.stringify(name)} was accepted`);
}

describe('valid user names (SPEC §4: ^[a-z_][a-z0-9._-]{0,31}$)', () => {
  const valid = ['alice', 'a', '_', '_svc', 'bob.smith', 'x-1_2', 'a9', 'a..b', 'backup.', 'z'.repeat(32), '_' + '9'.repeat(31), 'web-01'];
  for (const name of valid) {
    test(JSON.stringify(name), () => {
      assert.equal(isValidUserName(name), true);
      assert.doesNotThrow(() => validateUserName(name));
    });
  }

  test('the exported pattern is the one in SPEC §4', () => {
    assert.equal(USER_NAME_RE.source, '^[a-z_][a-z0-9._-]{0,31}$');
    assert.equal(USER_NAME_RE.flags, '');
  });
});

describe('invalid user names', () => {
  const invalid = [
    '../bob',
    '..',
    '.',
    './bob',
    '.hidden',
    'bob/..',
    'a/b',
    'a\\b',
    'Bob',
    'ALICE',
    'a'.repeat(33),
    'a'.repeat(40),
    '',
    '-x',
    '9x',
    '0',
    'a b',
    ' alice',
    'alice ',
    'alice\n',
    '\nalice',
    'al\0ice',
    'al\tice',
    'bob@host',
    'bob:1',
    'bob*',
    'zoë',
    'ａlice', // full-width a
    'аlice', // Cyrillic а
    'ß',
    '日本',
    '😀',
  ];
  for (const name of invalid) {
    test(JSON.stringify(name), () => {
      assert.equal(isValidUserName(name), false);
      const err = refusal(name);
      assert.equal(err.code, 'COFFER_BAD_INPUT');
      assert.match(err.message, /^invalid user name /);
      assert.ok(err.message.includes(JSON.stringify(name)), `${err.message} shows the name`);
      assert.ok(!/[\n\r\0]/.test(err.message), 'one line, control characters escaped');
    });
  }
});

describe('error messages help', () => {
  test('a 40-character name: the message gives the length and the limit', () => {
    const err = refusal('a'.repeat(40));
    assert.match(err.message, /40 characters/);
    assert.match(err.message, /at most 32/);
  });

  test('33 characters is just over the limit', () => {
    assert.match(refusal('b'.repeat(33)).message, /33 characters; at most 32/);
  });

  test('uppercase: the message asks for lowercase', () => {
    assert.match(refusal('Bob').message, /lowercase/);
    assert.match(refusal('alicE').message, /lowercase letters only/);
  });

  test('other mistakes: the message lists what is allowed', () => {
    for (const name of ['9x', '-x', 'a b', '../bob', '.', '']) {
      assert.match(refusal(name).message, /lowercase letters, digits, \., _ and -, starting with a letter or _/, name);
    }
  });

  test('a very long name is cut short in the message', () => {
    const name = 'x'.repeat(5000);
    const err = refusal(name);
    assert.match(err.message, /5000 characters/);
    assert.ok(err.message.length < 200, `message of ${err.message.length} characters`);
    assert.ok(err.message.includes('x'.repeat(60) + '...'));
  });
});
