import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { etaText, formatBytes, formatDuration, formatRate, Progress, renderBar, summaryLine } from '../../src/client/progress.js';

describe('progress formatting (OpenSSH progressmeter style)', () => {
  test('sizes scale by 1024 while 100000 or more', () => {
    assert.equal(formatBytes(0), '0B');
    assert.equal(formatBytes(99_999), '99999B');
    assert.equal(formatBytes(100_000), '98KB');
    assert.equal(formatBytes(512 * 1024 * 1024), '512MB');
    assert.equal(formatBytes(3 * 1024 ** 4), '3072GB');
  });
  test('rates with one decimal, durations as MM:SS or HH:MM:SS', () => {
    assert.equal(formatRate(0), '0.0B/s');
    assert.equal(formatRate(120.3 * 1024 * 1024), '120.3MB/s');
    assert.equal(formatDuration(0), '00:00');
    assert.equal(formatDuration(125), '02:05');
    assert.equal(formatDuration(3600 + 61), '01:01:01');
  });
  test('ETA, unknown rate and stalled', () => {
    assert.equal(etaText(100, 10, 0), '00:10 ETA');
    assert.equal(etaText(100, 0, 0), '--:-- ETA');
    assert.equal(etaText(100, 10, 5000), '- stalled -');
  });
  test('the bar keeps its figures and cuts a long name from the start', () => {
    const s = { name: 'file.bin', done: 50, total: 200, rate: 2048, tail: '00:01 ETA' };
    const bar = renderBar(s, 60);
    assert.equal(bar.length, 59);
    assert.match(bar, /^file\.bin +25% +50B +2\.0KB\/s +00:01 ETA$/);
    const long = renderBar({ ...s, name: 'a/very/long/path/to/some/deeply/nested/file-with-a-long-name.bin' }, 60);
    assert.equal(long.length, 59);
    assert.match(long, /^….*name\.bin +25% /);
    assert.match(renderBar({ ...s, total: 0, done: 0 }, 80), / 100% /);
  });
  test('the summary line: name, size, seconds, rate of the bytes moved, note', () => {
    assert.equal(summaryLine('f', 10 * 1024 * 1024, 2, 10 * 1024 * 1024, 'sha256 OK'), 'f 10240KB 2.0s 5.0MB/s sha256 OK');
  });
});

describe('Progress renderers', () => {
  function fakeStream(columns = 70) {
    const writes: string[] = [];
    return { writes, stream: { columns, isTTY: true, write: (t: string) => writes.push(t) } };
  }

  test('without a terminal: nothing while running, one line at the end (rate of the resumed part only)', () => {
    const { writes, stream } = fakeStream();
    let now = 0;
    const p = new Progress(stream, false, () => now).start('big.iso', 4096, 1024);
    p.update(2048);
    p.dataDone();
    now = 1000;
    p.finish('sha256 OK');
    assert.deepEqual(writes, ['big.iso 4096B 1.0s 3.0KB/s sha256 OK\n']);
  });

  test('on a terminal: \\r redraws cut to the width, a note while verifying, the elapsed time at the end', () => {
    const { writes, stream } = fakeStream(50);
    let now = 0;
    const p = new Progress(stream, true, () => now).start('x.bin', 1000, 0);
    now = 500;
    p.update(500);
    p.dataDone('verifying');
    now = 2000;
    p.update(1000);
    p.finish('sha256 OK');
    assert.ok(writes.every((w) => w === '\n' || (w.startsWith('\r') && w.length <= 50)));
    assert.match(writes[0]!, /^\rx\.bin +0% +0B +0\.0B\/s +--:-- ETA$/);
    assert.match(writes[1]!, / 50% .* verifying$/);
    assert.match(writes[2]!, /^\rx\.bin +100% +1000B +500\.0B\/s 00:02 sha256 OK$/);
    assert.equal(writes[3], '\n');
  });

  test('a terminal that reports 0 columns (an unsized pty) gets 80, as with OpenSSH', () => {
    const { writes, stream } = fakeStream(0);
    const p = new Progress(stream, true, () => 0).start('tiny.txt', 3, 0);
    p.update(3);
    p.finish('sha256 OK');
    assert.match(writes.at(-2)!, /^\rtiny\.txt +100% +3B .* sha256 OK$/);
    assert.equal(writes.at(-2)!.length, 1 + 79, 'the bar fills 80 columns but the last');
  });

  test('a failed transfer ends the bar line as it stands', () => {
    const { writes, stream } = fakeStream();
    const p = new Progress(stream, true, () => 0).start('y', 10, 0);
    p.update(3);
    p.fail();
    assert.match(writes.at(-2)!, / 30% /);
    assert.equal(writes.at(-1), '\n');
  });
});
