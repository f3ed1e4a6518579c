/**
 * The hook machinery without a server: the queue's bounds (8 running, 1000 waiting, the rest
 * refused), failures reported with their reason (exit status, a program that cannot start, HTTP
 * 500 after 3 retries with growing delays, a closed port), and the event JSON of each event.
 */
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ServerEvent } from '../../src/events/events.js';
import { HookQueue } from '../../src/hooks/hook-queue.js';
import { Hooks, toHookEvent } from '../../src/hooks/hooks.js';
import { createLogger } from '../../src/util/logger.js';
import { LogCapture } from '../support/log-capture.js';
import { freePort } from '../support/ports.js';
import { startReceiver } from '../support/hook-programs.js';

const session = { user: 'ann', address: '10.0.0.9', protocol: 'sftp' as const, home: '/srv/homes/ann' };

function hooksWith(specs: ConstructorParameters<typeof Hooks>[0], extra: Partial<ConstructorParameters<typeof Hooks>[1]> = {}) {
  const logs = new LogCapture();
  const failed: string[] = [];
  const hooks = new Hooks(specs, { log: createLogger({ level: 'info', format: 'json', destination: logs }), timeoutSeconds: 5, retryBaseMs: 40, onFailed: (k) => failed.push(k), ...extra });
  return { hooks, logs, failed };
}

describe('hook queue', () => {
  it('runs 8 at once, keeps 1000 waiting, refuses the rest, then drains', async () => {
    const q = new HookQueue(8, 1000);
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
