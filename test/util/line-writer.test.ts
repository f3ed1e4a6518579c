/**
 * line-writer.ts: the JSON log's lines leave after their event-loop turn (at its end once PIPE_BUF
 * characters are pending, else after the flush delay), in order, in writes of whole lines of at
 * most PIPE_BUF bytes (a longer line alone); short writes and a full non-blocking pipe lose
 * nothing; a broken descriptor drops lines without throwing; and a process that exits
 * (process.exit, the end of its event loop, an uncaught exception) right after logging still has
 * its lines out.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { FLUSH_DELAY_MS, LineWriter, PIPE_BUF } from '../../src/util/line-writer.js';

/** A fake write(2): records what each call wrote; `plan` may shorten or fail calls in turn. */
function recorder(plan: Array<number | string> = []) {
  const calls: string[] = [];
  const write = (_fd: number, data: Buffer, offset: number, length: number): number => {
    const step = plan.shift();
    if (typeof step === 'string') throw Object.assign(new Error(`${step}: fake`), { code: step });
    const n = step === undefined ? length : Math.min(step, length);
    calls.push(data.subarray(offset, offset + n).toString());
    return n;
  };
  return { calls, write };
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('LineWriter', () => {
  test("a turn's lines are written after it, in order, in one write", async () => {
    const r = recorder();
    const w = new LineWriter(9, r.write, 0);
    w.write('one\n');
    w.write('two\n');
    w.write('three\n');
    assert.deepEqual(r.calls, [], 'nothing is written inside the turn that logged');
    await turn();
    assert.deepEqual(r.calls, ['one\ntwo\nthree\n']);
    w.write('four\n');
    await turn();
    assert.deepEqual(r.calls, ['one\ntwo\nthree\n', 'four\n']);
  });

  test('fewer than PIPE_BUF characters wait FLUSH_DELAY_MS for more; a full write goes at the turn end', async () => {
    const r = recorder();
    const w = new LineWriter(9, r.write);
    const start = performance.now();
    w.write('one\n');
    await turn();
    w.write('two\n');
    await turn();
    assert.deepEqual(r.calls, [], 'a few short lines wait for more');
    await new Promise<void>((resolve) => {
      const poll = () => (r.calls.length > 0 ? resolve() : setTimeout(poll, 2));
      poll();
    });
    assert.deepEqual(r.calls, ['one\ntwo\n'], 'both lines in one write');
    assert.ok(performance.now() - start >= FLUSH_DELAY_MS - 2, 'not before the delay');
    // PIPE_BUF characters pending: written when the turn ends, not after the delay.
    const line = `${'z'.repeat(99)}\n`;
    const n = Math.floor(PIPE_BUF / line.length) + 1;
    for (let i = 0; i < n; i++) w.write(line);
    await turn();
    const calls: string[] = r.calls;
    assert.equal(calls.slice(1).join(''), line.repeat(n));
    // After flushSync, the waiting timer writes nothing again.
    w.write('three\n');
    w.flushSync();
    await new Promise((resolve) => setTimeout(resolve, FLUSH_DELAY_MS * 2));
    assert.equal(calls.filter((c) => c.includes('three')).length, 1);
  });

  test('writes hold whole lines of at most PIPE_BUF bytes; a longer line goes alone', async () => {
    const r = recorder();
    const w = new LineWriter(9, r.write, 0);
    const lines: string[] = [];
    for (let i = 0; i < 200; i++) lines.push(`${JSON.stringify({ i, path: `/é/${'x'.repeat(i % 97)}` })}\n`);
    const long = `${'L'.repeat(PIPE_BUF * 2)}\n`;
    lines.splice(100, 0, long);
    for (const l of lines) w.write(l);
    await turn();
    assert.equal(r.calls.join(''), lines.join(''), 'every byte, in order');
    assert.ok(r.calls.length > 2);
    for (const c of r.calls) {
      assert.ok(c.endsWith('\n'), 'a write ends at a line end');
      if (c !== long) assert.ok(Buffer.byteLength(c) <= PIPE_BUF, `a write of ${Buffer.byteLength(c)} bytes`);
    }
    assert.ok(r.calls.includes(long), 'the long line is written on its own');
  });

  test('short writes and EAGAIN (a full non-blocking pipe) lose and repeat nothing', async () => {
    const r = recorder([3, 'EAGAIN', 5, 'EAGAIN', 'EAGAIN']);
    const w = new LineWriter(9, r.write, 0);
    w.write('first line\n');
    w.write('second line\n');
    await turn();
    assert.equal(r.calls.join(''), 'first line\nsecond line\n');
  });

  test('a broken descriptor drops the lines, says so once on stderr, and never throws', async () => {
    const r = recorder(['EPIPE', 'EPIPE']);
    const w = new LineWriter(9, r.write, 0);
    const said: string[] = [];
    const stderrWrite = process.stderr.write;
    process.stderr.write = ((s: string) => (said.push(String(s)), true)) as typeof process.stderr.write;
    try {
      w.write('lost\n');
      await turn();
      w.write('lost too\n');
      await turn();
      w.write('kept\n');
      await turn();
    } finally {
      process.stderr.write = stderrWrite;
    }
    assert.deepEqual(r.calls, ['kept\n']);
    assert.equal(said.length, 1);
    assert.match(said[0]!, /log lines lost: cannot write to descriptor 9: EPIPE/);
  });

  test('flushSync and flush(cb) write what is pending at once', () => {
    const r = recorder();
    const w = new LineWriter(9, r.write, 0);
    w.write('a\n');
    w.flushSync();
    assert.deepEqual(r.calls, ['a\n']);
    w.write('b\n');
    let called = false;
    w.flush(() => (called = true));
    assert.deepEqual(r.calls, ['a\n', 'b\n']);
    assert.equal(called, true);
  });

  test('past 1 Mi characters pending, lines are written without waiting for the turn', () => {
    const r = recorder();
    const w = new LineWriter(9, r.write, 0);
    const line = `${'y'.repeat(1023)}\n`;
    for (let i = 0; i < 1024; i++) w.write(line);
    assert.equal(r.calls.join('').length, 1024 * 1024);
  });
});

describe("the logger's stdout", () => {
  // A child process logs through createLogger, then leaves in that same turn.
  const run = (ending: string) => {
    const code = [
      `import { createLogger } from ${JSON.stringify(new URL('../../src/util/logger.js', import.meta.url).href)};`,
      `const log = createLogger({ level: 'info', format: 'json' });`,
      `log.info({ event: 'first' }, 'one');`,
      `log.info({ event: 'last' }, 'two');`,
      ending,
    ].join('\n');
    return spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8' });
  };
  const events = (out: string) => out.trim().split('\n').map((l) => (JSON.parse(l) as { event: string }).event);

  test('lines logged just before process.exit are written', () => {
    const r = run('process.exit(3);');
    assert.equal(r.status, 3);
    assert.deepEqual(events(r.stdout), ['first', 'last']);
  });

  test('lines logged just before the event loop runs out are written', () => {
    const t0 = Date.now();
    const r = run('');
    assert.equal(r.status, 0);
    assert.deepEqual(events(r.stdout), ['first', 'last']);
    assert.ok(Date.now() - t0 < 10_000);
  });

  test('lines logged just before an uncaught exception are written', () => {
    const r = run("throw new Error('boom');");
    assert.equal(r.status, 1);
    assert.match(r.stderr, /boom/);
    assert.deepEqual(events(r.stdout), ['first', 'last']);
  });
});
