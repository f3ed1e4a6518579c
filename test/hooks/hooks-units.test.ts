/**
 * The hook machinery without a server: the queue's bounds (8 running, 1000 waiting, the rest
 * refused), failures reported with their reason (exit status, a program that cannot start, HTTP
 * 500 after 3 retries with growing delays, a closed port), and the event JSON of each event.
 */
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, mock } from 'node:test';
import type { ServerEvent } from '../../src/events/events.js';
import { HookQueue } from '../../src/hooks/hook-queue.js';
import { Hooks, toHookEvent } from '../../src/hooks/hooks.js';
import { createLogger } from '../../src/util/logger.js';
import { LogCapture } from '../support/log-capture.js';
import { freePort } from '../support/ports.js';
import { startReceiver } from '../support/hook-programs.js';
import { waitFor } from '../support/wait.js';

const session = { user: 'ann', address: '10.0.0.9', protocol: 'sftp' as const, home: '/srv/homes/ann' };

function hooksWith(specs: ConstructorParameters<typeof Hooks>[0], extra: Partial<ConstructorParameters<typeof Hooks>[1]> = {}) {
  const logs = new LogCapture();
  const failed: string[] = [];
  const hooks = new Hooks(specs, { log: createLogger({ level: 'info', format: 'json', destination: logs }), timeoutSeconds: 5, retryBaseMs: 40, onFailed: (k) => failed.push(k), ...extra });
  return { hooks, logs, failed };
}

describe('hook queue', () => {
  it('runs 8 at once, keeps 1000 waiting, refuses the rest, then drains', async () => {
    const q = new HookQueue(8, 1000, { quietMs: 0, maxDelayMs: 0 });
    const releases: (() => void)[] = [];
    let started = 0;
    const job = () => {
      started += 1;
      return new Promise<void>((resolve) => releases.push(resolve));
    };
    const accepted = Array.from({ length: 1100 }, () => q.push(job)).filter(Boolean).length;
    assert.equal(accepted, 1008);
    assert.equal(started, 8);
    assert.equal(q.depth, 1000);
    while (releases.length > 0) {
      releases.shift()!();
      await new Promise((r) => setImmediate(r));
    }
    assert.equal(started, 1008);
    assert.equal(q.depth, 0);
    assert.equal(q.running, 0);
  });

  it('waits for a quiet moment: starts once no activity came for quietMs, or when the oldest waited maxDelayMs', async () => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 });
    try {
      const q = new HookQueue(2, 10, { quietMs: 200, maxDelayMs: 2000 });
      const started: number[] = [];
      const job = async () => void started.push(Date.now());
      assert.equal(q.push(job), true);
      // Activity every 100 ms: nothing starts while it goes on, until the first waited 2 s.
      for (let t = 100; t < 2000; t += 100) {
        mock.timers.tick(100);
        q.touch();
        if (t === 500) q.push(job);
      }
      assert.deepEqual(started, []);
      assert.equal(q.depth, 2);
      mock.timers.tick(100);
      assert.deepEqual(started, [2000], 'the first waited 2 s: it runs');
      mock.timers.tick(100);
      assert.deepEqual(started, [2000, 2100], 'the second, 200 ms after the last activity');
      await new Promise((r) => setImmediate(r)); // the two jobs' ends are settled
      assert.equal(q.running, 0);
      // A quiet moment: a new one starts 200 ms after the last activity.
      q.push(job);
      mock.timers.tick(150);
      q.touch();
      mock.timers.tick(199);
      assert.equal(started.length, 2);
      mock.timers.tick(1);
      assert.deepEqual(started, [2000, 2100, 2450]);
    } finally {
      mock.timers.reset();
    }
  });

  it('close() lets running jobs finish, drops what waits and refuses new ones', async () => {
    const q = new HookQueue(1, 10);
    let release!: () => void;
    q.push(() => new Promise<void>((r) => (release = r)));
    q.push(async () => {});
    const closing = q.close(10_000);
    assert.equal(q.push(async () => {}), false);
    release();
    assert.equal(await closing, 0, 'the waiting job ran before close resolved');
  });
});

describe('hook failures', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'coffer-hook-units-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));
  const upload: ServerEvent = { event: 'file', session, file: { event: 'file-close', path: '/a', transfer: 'upload', bytes: 1, outcome: 'ok' } };

  it('a program that exits 3 or cannot start is logged hook.failed with the reason', async () => {
    const prog = join(dir, 'fail.sh');
    await writeFile(prog, '#!/bin/sh\necho "scan: infected" >&2\nexit 3\n');
    await chmod(prog, 0o755);
    const { hooks, logs, failed } = hooksWith([{ on: ['upload'], run: [prog] }, { on: ['upload'], run: [join(dir, 'missing')] }]);
    hooks.observe(upload);
    await logs.waitFor('hook.failed', { hook: prog });
    await logs.waitFor('hook.failed', { hook: join(dir, 'missing') });
    assert.equal(logs.events('hook.failed', { hook: prog })[0]!.reason, 'exit status 3: scan: infected');
    assert.match(String(logs.events('hook.failed', { hook: join(dir, 'missing') })[0]!.reason), /cannot start: .*ENOENT/);
    assert.deepEqual(failed, ['run', 'run']);
  });

  it('a run hook runs at nice +10, below the sessions', async () => {
    const out = join(dir, 'stat.txt');
    const prog = join(dir, 'stat.sh');
    // exec: /proc/self is then cat, started by the hook program and so of its priority.
    await writeFile(prog, `#!/bin/sh\nexec cat /proc/self/stat > ${out}\n`);
    await chmod(prog, 0o755);
    const { hooks } = hooksWith([{ on: ['upload'], run: [prog] }]);
    hooks.observe(upload);
    let stat = '';
    await waitFor(async () => (stat = await readFile(out, 'utf8').catch(() => '')).length > 0, 10_000, 'the hook program\'s output');
    await hooks.close();
    // Fields after the command name: state is field 3, nice field 19, policy field 41 (proc(5)).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).trim().split(' ');
    const [nice, policy] = [Number(fields[19 - 3]), Number(fields[41 - 3])];
    assert.equal(nice, 10, stat);
    assert.equal(policy, 0, 'SCHED_OTHER');
  });

  it('a post answered 500 is tried 4 times, 40, 80 and 160 ms apart, then hook.failed (no secret logged)', async () => {
    const receiver = await startReceiver('k', () => 500);
    const times: number[] = [];
    const origPush = receiver.requests.push.bind(receiver.requests);
    receiver.requests.push = (...items) => (times.push(performance.now()), origPush(...items));
    const { hooks, logs, failed } = hooksWith([{ on: ['upload'], post: `${receiver.url}?token=abc`, secret: 'the-secret' }]);
    hooks.observe(upload);
    const line = await logs.waitFor('hook.failed', {}, 10_000);
    await receiver.close();
    assert.equal(receiver.requests.length, 4);
    assert.equal(line.reason, 'HTTP 500 after 3 retries');
    assert.equal(line.hook, receiver.url, 'the URL without its query');
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    gaps.forEach((gap, i) => assert.ok(gap >= 40 * 2 ** i - 5, `gap ${i} ${gap.toFixed(0)} ms`));
    assert.deepEqual(failed, ['post']);
    assert.ok(!logs.text().includes('the-secret') && !logs.text().includes('token=abc'));
  });

  it('a post to a closed port fails with the network error after the retries', async () => {
    const port = await freePort();
    const { hooks, logs } = hooksWith([{ on: ['upload'], post: `http://127.0.0.1:${port}/`, secret: 's' }], { retryBaseMs: 5 });
    hooks.observe(upload);
    const line = await logs.waitFor('hook.failed', {}, 10_000);
    assert.equal(line.reason, 'ECONNREFUSED after 3 retries');
  });
});

describe('hook event JSON', () => {
  it('has every key, null where it does not apply', () => {
    const e = toHookEvent({ event: 'login', user: 'ann', address: '10.0.0.9', seconds: 0.1 }, 'node1')!;
    assert.deepEqual({ ...e, time: 'T' }, { event: 'login', time: 'T', user: 'ann', path: null, target: null, localPath: null, localTarget: null, bytes: null, outcome: null, protocol: null, address: '10.0.0.9', node: 'node1' });
    const q = toHookEvent({ event: 'file', session, file: { event: 'quota-refused', path: '/x' } }, 'n')!;
    assert.deepEqual([q.event, q.path, q.localPath, q.outcome, q.protocol], ['quota-refused', '/x', '/srv/homes/ann/x', 'quota-exceeded', 'sftp']);
    assert.equal(toHookEvent({ event: 'file', session, file: { event: 'file-close', path: '/x', transfer: null, bytes: 0, outcome: 'ok' } }, 'n'), null);
    assert.equal(toHookEvent({ event: 'ban' }, 'n'), null);
  });
});
