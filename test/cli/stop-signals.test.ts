/**
 * catchStopSignals (src/cli/common/stop-signals.ts) in a real process: the first stop signal
 * aborts, a second real one exits at once, and a stop asked by request() (a worker told by its
 * supervisor) is not a signal, whether the terminal's own SIGINT reaches the worker before or
 * after it (the workers test once failed under load: the supervisor's message came first, and the
 * worker's own SIGINT then forced it out mid-upload).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { describe, it } from 'node:test';

const MODULE = new URL('../../src/cli/common/stop-signals.js', import.meta.url).href;

/**
 * A child that installs the handlers and then follows orders on stdin, one per line: `request`
 * calls request('SIGINT'), `kill` sends itself SIGINT, `exit` ends it with 0. Prints `aborted`
 * when its signal aborts and `ack N` after the Nth order.
 */
function child() {
  const code = `
    import { catchStopSignals } from ${JSON.stringify(MODULE)};
    import { createInterface } from 'node:readline';
    const stop = catchStopSignals('probe', { forcedExitStatus: 'signal' });
    stop.onStop(() => process.stdout.write('aborted\\n'));
    let n = 0;
    createInterface({ input: process.stdin }).on('line', (order) => {
      n += 1;
      if (order === 'request') stop.request('SIGINT');
      if (order === 'exit') process.exit(0);
      if (order === 'kill') process.kill(process.pid, 'SIGINT');
      // The signal's handler runs on a later turn of the loop: acknowledge after it.
      setTimeout(() => process.stdout.write('ack ' + n + '\\n'), 50);
    });
    process.stdout.write('ready\\n');
  `;
  const p = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const waiters: Array<() => void> = [];
  createInterface({ input: p.stdout! }).on('line', (l) => {
    lines.push(l);
    for (const w of waiters.splice(0)) w();
  });
  let stderr = '';
  p.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => p.on('exit', (code) => resolve(code)));
  const line = (want: string) =>
    new Promise<void>((resolve, reject) => {
      const check = () => (lines.includes(want) ? resolve() : waiters.push(check));
      void exited.then(() => (lines.includes(want) ? resolve() : reject(new Error(`exited before '${want}': ${stderr}`))));
      check();
    });
  let orders = 0;
  const order = async (o: string) => {
    p.stdin!.write(o + '\n');
    await line(`ack ${++orders}`);
  };
  return { p, lines, line, order, exited, stderr: () => stderr };
}

describe('stop signals', () => {
  it('request() first, then the real SIGINT: still the first signal, no forced exit; a second real SIGINT forces 130', async () => {
    const c = child();
    await c.line('ready');
    await c.order('request');
    assert.deepEqual(c.lines.filter((l) => l === 'aborted'), ['aborted']);
    await c.order('kill');
    assert.equal(c.p.exitCode, null, 'the first real signal after request() does not force the exit');
    c.p.stdin!.write('kill\n');
    assert.equal(await c.exited, 130);
    assert.match(c.stderr(), /second SIGINT: exiting at once/);
  });

  it('the real SIGINT first, then request(): one abort, and the process goes on until told', async () => {
    const c = child();
    await c.line('ready');
    await c.order('kill');
    await c.order('request');
    assert.deepEqual(c.lines.filter((l) => l === 'aborted'), ['aborted']);
    c.p.stdin!.write('exit\n');
    assert.equal(await c.exited, 0);
  });

  it('two real signals: the second exits at once with 128 + its number', async () => {
    const c = child();
    await c.line('ready');
    await c.order('kill');
    c.p.stdin!.write('kill\n');
    assert.equal(await c.exited, 130);
  });
});
