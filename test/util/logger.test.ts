/**
 * logger.ts: secrets never reach a line (the second fence: a logged object's top level and one
 * level down, child loggers' bindings, the base), the caller's objects are left as they were, and
 * the timestamp is the ISO 8601 text pino's isoTime wrote, to the millisecond.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createLogger, isoTimestamp } from '../../src/util/logger.js';
import { REDACTED, redactSecretKeys } from '../../src/util/redact.js';

/** A JSON logger whose lines are collected, parsed. */
function collecting(base?: Record<string, unknown>) {
  const lines: Array<Record<string, unknown>> = [];
  const log = createLogger({ level: 'info', format: 'json', base, destination: { write: (s: string) => void lines.push(JSON.parse(s)) } });
  return { log, lines };
}

describe('redactSecretKeys', () => {
  test('an object without secrets is returned as it is, not copied', () => {
    const o = { event: 'transfer', path: '/a', bytes: 4096, nested: { size: 1 }, list: [1, 2] };
    assert.equal(redactSecretKeys(o), o);
  });

  test('secrets at the top level and one level down are replaced in a copy', () => {
    const o = { user: 'al', password: 'pw', newPassword: 'n', oldPassword: 'o', privateKey: 'k', req: { password: 'x', keep: 1 }, deep: { a: { password: 'y' } } };
    const before = structuredClone(o);
    const r = redactSecretKeys(o);
    assert.deepEqual(r, {
      user: 'al', password: REDACTED, newPassword: REDACTED, oldPassword: REDACTED, privateKey: REDACTED,
      req: { password: REDACTED, keep: 1 },
      deep: { a: { password: 'y' } }, // two levels down: not a path the fence covers (as pino's '*.password')
    });
    assert.deepEqual(o, before, "the caller's object and the objects in it are unchanged");
  });

  test('binary data (a Buffer, any typed array) is not walked: a megabyte would be a million keys', () => {
    const data = Object.assign(Buffer.alloc(1 << 20), { password: 'not looked for in binary data' });
    const o = { data };
    assert.equal(redactSecretKeys(o), o);
  });
});

describe('createLogger', () => {
  test('no line carries a secret: the object logged, a child logger, the base', () => {
    const { log, lines } = collecting({ program: 'test', password: 'base-secret' });
    const child = log.child({ conn: 'c1', privateKey: 'child-secret' }).child({ user: 'al', req: { password: 'nested-secret' } });
    child.info({ event: 'login', password: 'p', creds: { oldPassword: 'o' } }, 'hello');
    assert.equal(lines.length, 1);
    const text = JSON.stringify(lines[0]);
    for (const secret of ['base-secret', 'child-secret', 'nested-secret', '"p"', '"o"']) assert.ok(!text.includes(secret), `${secret} in ${text}`);
    assert.equal(lines[0]!.event, 'login');
    assert.equal(lines[0]!.conn, 'c1');
    assert.equal(lines[0]!.user, 'al');
    assert.equal(lines[0]!.msg, 'hello');
  });

  test('the time is ISO 8601 UTC to the millisecond, the moment the line was made', () => {
    const { log, lines } = collecting();
    const before = Date.now();
    log.info({ event: 'x' }, 'x');
    const after = Date.now();
    const time = lines[0]!.time as string;
    assert.match(time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const t = Date.parse(time);
    assert.ok(t >= before && t <= after, `${time} between ${before} and ${after}`);
  });

  test("isoTimestamp writes what pino's isoTime writes, across seconds", () => {
    for (const now of [0, 7, 42, 999, 1000, 1_700_000_000_001, 1_700_000_000_010, 1_700_000_000_100, 1_700_000_000_999, 1_700_000_001_000]) {
      const real = Date.now;
      Date.now = () => now;
      try {
        assert.equal(isoTimestamp(), `,"time":"${new Date(now).toISOString()}"`);
      } finally {
        Date.now = real;
      }
    }
  });
});
