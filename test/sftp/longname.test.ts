import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { formatLongname, lsTime, modeString } from '../../src/sftp/longname.js';

const NOW = Date.UTC(2023, 10, 21, 12, 0, 0) / 1000; // 2023-11-21 12:00:00 UTC
const HALF_YEAR = 15768000;
const opts = { owner: 'alice', group: 'alice', now: NOW, timeZone: 'utc' as const };

describe('modeString (BSD strmode)', () => {
  const cases: Array<[number, string]> = [
    [0o100644, '-rw-r--r--'],
    [0o040755, 'drwxr-xr-x'],
    [0o120777, 'lrwxrwxrwx'],
    [0o020620, 'crw--w----'],
    [0o060660, 'brw-rw----'],
    [0o010600, 'prw-------'],
    [0o140755, 'srwxr-xr-x'],
    [0o104755, '-rwsr-xr-x'],
    [0o104644, '-rwSr--r--'],
    [0o102755, '-rwxr-sr-x'],
    [0o102745, '-rwxr-Sr-x'],
    [0o041777, 'drwxrwxrwt'],
    [0o041776, 'drwxrwxrwT'],
    [0o000644, '?rw-r--r--'],
    [0, '?---------'],
  ];
  for (const [mode, want] of cases) {
    test(`0${mode.toString(8)} -> ${want}`, () => assert.equal(modeString(mode), want));
  }
});

describe('lsTime', () => {
  test('recent: "%b %e %H:%M"', () => {
    assert.equal(lsTime(Date.UTC(2023, 10, 21, 11, 58) / 1000, NOW, 'utc'), 'Nov 21 11:58');
  });
  test('day of month is space-padded, hours zero-padded', () => {
    assert.equal(lsTime(Date.UTC(2023, 10, 5, 7, 4) / 1000, NOW, 'utc'), 'Nov  5 07:04');
  });
  test('half a year old or more: "%b %e  %Y"', () => {
    assert.equal(lsTime(NOW - HALF_YEAR, NOW, 'utc'), 'May 23  2023');
    assert.equal(lsTime(0, NOW, 'utc'), 'Jan  1  1970');
  });
  test('one second under half a year still shows the time', () => {
    assert.equal(lsTime(NOW - HALF_YEAR + 1, NOW, 'utc'), 'May 23 00:00');
  });
  test('future times show the time (OpenSSH only checks now - mtime < half a year)', () => {
    assert.equal(lsTime(Date.UTC(2030, 0, 2, 3, 4) / 1000, NOW, 'utc'), 'Jan  2 03:04');
  });
});

describe('formatLongname (OpenSSH ls_file)', () => {
  test('a regular file', () => {
    const attrs = { size: 1234, permissions: 0o100644, mtime: Date.UTC(2023, 10, 21, 11, 58) / 1000 };
    assert.equal(formatLongname('name', attrs, opts), '-rw-r--r--    1 alice    alice        1234 Nov 21 11:58 name');
  });
  test('an old directory with nlink 5', () => {
    const attrs = { size: 4096, permissions: 0o40755, mtime: Date.UTC(2019, 0, 13, 18, 39) / 1000 };
    assert.equal(
      formatLongname('.ssh', attrs, { ...opts, nlink: 5, owner: 'markus', group: 'markus' }),
      'drwxr-xr-x    5 markus   markus       4096 Jan 13  2019 .ssh',
    );
  });
  test('long owner names widen the column, big sizes widen theirs', () => {
    const attrs = { size: 12345678901, permissions: 0o100600, mtime: NOW };
    assert.equal(
      formatLongname('big', attrs, { ...opts, owner: 'a-long-user', group: 'g' }),
      '-rw-------    1 a-long-user g        12345678901 Nov 21 12:00 big',
    );
  });
  test('missing fields print as zeroes, like OpenSSH', () => {
    assert.equal(formatLongname('x', {}, opts), '?---------    1 alice    alice           0 Jan  1  1970 x');
  });
  test('names keep spaces and UTF-8 as they are', () => {
    const attrs = { size: 0, permissions: 0o100644, mtime: NOW };
    assert.equal(formatLongname('a b é', attrs, opts), '-rw-r--r--    1 alice    alice           0 Nov 21 12:00 a b é');
  });
});
