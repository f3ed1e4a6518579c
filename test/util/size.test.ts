import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { formatSize, parseSize, SizeError } from '../../src/util/size.js';

const K = 1024;
const M = K * K;
const G = K * M;
const T = K * G;
const P = K * T;

describe('parseSize accepts', () => {
  const cases: Array<[string, number | null]> = [
    ['0', 0],
    ['512', 512],
    ['10K', 10 * K],
    ['10k', 10 * K],
    ['10M', 10 * M],
    ['1.5G', 1.5 * G],
    ['2T', 2 * T],
    ['3P', 3 * P],
    ['2TiB', 2 * T],
    ['10KB', 10 * K],
    ['10kib', 10 * K],
    ['10KiB', 10 * K],
    ['7mb', 7 * M],
    ['512B', 512],
    ['512b', 512],
    ['10 M', 10 * M],
    ['  10M  ', 10 * M],
    ['\t1G\n', G],
    ['unlimited', null],
    ['UNLIMITED', null],
    ['Unlimited', null],
    ['  unlimited  ', null],
  ];
  for (const [text, expected] of cases) {
    test(JSON.stringify(text), () => {
      assert.equal(parseSize(text), expected);
    });
  }

  test('a long run of leading zeros up to the 40-character cap', () => {
    const forty = '0'.repeat(37) + '10M';
    assert.equal(forty.length, 40);
    assert.equal(parseSize(forty), 10 * M);
  });

  test('the largest safe byte count is accepted', () => {
    assert.equal(parseSize(String(Number.MAX_SAFE_INTEGER)), Number.MAX_SAFE_INTEGER);
    assert.equal(parseSize('7P'), 7 * P);
  });
});

describe('parseSize rounds fractions of a byte down', () => {
  const cases: Array<[string, number]> = [
    ['1.5', 1],
    ['0.9', 0],
    ['0.1K', 102], // 102.4
    ['1.0001K', 1024], // 1024.1024
    ['0.5K', 512],
    ['1.9999B', 1],
    ['2.5M', 2.5 * M],
  ];
  for (const [text, expected] of cases) {
    test(`${text} -> ${expected}`, () => {
      const got = parseSize(text);
      assert.equal(got, expected);
      assert.ok(Number.isInteger(got));
    });
  }
});

describe('parseSize refuses', () => {
  const bad = [
    '-1',
    '-10M',
    '',
    '   ',
    '10X',
    '1.2.3',
    'abc',
    'M',
    '.5G',
    '5.G',
    '10 M B',
    '10MiBs',
    '10Ki',
    '1e3',
    '0x10',
    '10M10',
    'unlimitedd',
    'un limited',
    '∞',
    '１０M', // full-width digits
    '10\u00a0M\u00a0extra',
  ];
  for (const text of bad) {
    test(JSON.stringify(text), () => {
      assert.throws(() => parseSize(text), (err: unknown) => {
        assert.ok(err instanceof SizeError);
        assert.equal(err.code, 'COFFER_BAD_SIZE');
        assert.ok(err.message.includes(`'${text}'`), err.message);
        return true;
      });
    });
  }

  test('values beyond Number.MAX_SAFE_INTEGER bytes', () => {
    for (const text of [String(Number.MAX_SAFE_INTEGER + 1), '9007199254740993', '8P', '9999999T', '99999999999999999999']) {
      assert.throws(() => parseSize(text), (err: unknown) => err instanceof SizeError && /too large/.test(err.message), text);
    }
  });

  test('very long strings, without spending time on them', () => {
    const started = process.hrtime.bigint();
    for (const text of ['0'.repeat(41), '0'.repeat(100) + '1', '1'.repeat(100_000), '1.' + '5'.repeat(100_000) + 'G', ' '.repeat(10) + '9'.repeat(50_000) + 'Q']) {
      assert.throws(() => parseSize(text), SizeError);
    }
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    assert.ok(ms < 1000, `took ${ms} ms`);
  });

  test('the message says what is accepted', () => {
    assert.throws(() => parseSize('10X'), /10M.*unlimited|unlimited.*10M/);
  });
});

describe('formatSize', () => {
  const cases: Array<[number | null, string]> = [
    [0, '0 B'],
    [1, '1 B'],
    [512, '512 B'],
    [1023, '1023 B'],
    [1024, '1.0 KiB'],
    [1536, '1.5 KiB'],
    [10 * M, '10.0 MiB'],
    [1.5 * G, '1.5 GiB'],
    [G, '1.0 GiB'],
    [2 * T, '2.0 TiB'],
    [3 * P, '3.0 PiB'],
    [2048 * P, '2048.0 PiB'],
    [null, 'unlimited'],
  ];
  for (const [bytes, expected] of cases) {
    test(`${bytes} -> ${expected}`, () => {
      assert.equal(formatSize(bytes), expected);
    });
  }

  test('formats parsed sizes', () => {
    assert.equal(formatSize(parseSize('10M')), '10.0 MiB');
    assert.equal(formatSize(parseSize('unlimited')), 'unlimited');
  });
});

describe('round trips', () => {
  test('parseSize(formatSize(x)) === x for sizes with one decimal in their unit', () => {
    const sizes = [0, 1, 512, 1023, K, 1.5 * K, 10 * M, 1.5 * G, 2 * T, 0.5 * T, 3 * P, null];
    for (const x of sizes) assert.equal(parseSize(formatSize(x)), x, String(x));
  });

  test('formatSize(parseSize(text)) gives back the canonical spelling', () => {
    const pairs: Array<[string, string]> = [
      ['10m', '10.0 MiB'],
      ['1.5gib', '1.5 GiB'],
      ['2TB', '2.0 TiB'],
      ['512b', '512 B'],
      ['UNLIMITED', 'unlimited'],
    ];
    for (const [text, canonical] of pairs) {
      assert.equal(formatSize(parseSize(text)), canonical);
      assert.equal(parseSize(canonical), parseSize(text));
    }
  });
});
