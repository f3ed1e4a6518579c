/**
 * Hooks under pressure, against a real server: a run hook that hangs (20 uploads while it hangs
 * all succeed promptly; every run is killed, with what it started, after hookTimeoutSeconds), and
 * a burst of 2,000 uploads through pipelined SFTP requests while the post hook's receiver holds
 * every request: 8 deliveries run (once the burst is quiet or 2 s old), at most 1,000 wait, the
 * rest are dropped, logged `hook.dropped` and counted in /metrics; once the receiver answers, the
 * queue drains.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { startReceiver, writeHanger } from '../support/hook-programs.js';
import { addQuotaUser, FXF, RawSession, startQuotaServer } from '../support/quota-helpers.js';
import { waitFor } from '../support/wait.js';

/**
 * Live (not zombie) processes of process group `pgid`, from /proc: a killed grandchild may stay a
 * zombie until init, which may not reap in a container, gets round to it.
 */
async function liveInGroup(pgid: number): Promise<number[]> {
  const out: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    // pid (comm) state ppid pgrp ...: comm may hold spaces, so split after its last ')'.
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(pgrp) === pgid && state !== 'Z') out.push(Number(name));
  }
  return out;
}

async function metric(port: number, series: string): Promise<number | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('hooks under pressure', () => {
  const cleanup: (() => Promise<void>)[] = [];
  after(async () => {
    for (const fn of cleanup.reverse()) await fn();
  });

  it('a hanging hook: 20 uploads succeed while it hangs, each run is killed after the timeout', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'coffer-hang-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    const hanger = await writeHanger(dir);
    const TIMEOUT = 3;
    const ts = await startQuotaServer({ hooks: JSON.stringify([{ on: ['upload'], run: [hanger, dir] }]), hookTimeoutSeconds: TIMEOUT });
    cleanup.push(() => ts.close());
    await addQuotaUser(ts, 'alice', null);
    const s = await RawSession.open(ts, 'alice');
    const durations: number[] = [];
    for (let i = 0; i < 20; i++) {
      const start = performance.now();
      await s.putFile(`/f${i}.bin`, Buffer.alloc(4096, i));
      durations.push(performance.now() - start);
    }
    // The uploads were done while hooks hung: some hook program is still running now.
    await waitFor(async () => (await readdir(dir)).some((n) => n.startsWith('hung-')), 10_000, 'a hook started');
    const pids = async () => Promise.all((await readdir(dir)).filter((n) => n.startsWith('hung-')).map(async (n) => Number(await readFile(join(dir, n), 'utf8'))));
    const hanging = await Promise.all((await pids()).map(liveInGroup));
    assert.ok(hanging.some((live) => live.length > 0), 'a hook still hangs after the 20 uploads');
    assert.ok(Math.max(...durations) < TIMEOUT * 1000, `no upload waited for a hook (slowest ${Math.max(...durations).toFixed(0)} ms)`);
    await s.end();
    // 20 runs, 8 at a time, each killed after TIMEOUT s.
    await waitFor(() => ts.logs.events('hook.failed').length === 20, 60_000, '20 hook.failed lines');
    for (const line of ts.logs.events('hook.failed')) assert.equal(line.reason, `killed after ${TIMEOUT} s (hookTimeoutSeconds)`);
    const all = await pids();
    assert.equal(all.length, 20);
    // The program and the sleep it started (its process group) are gone.
    for (const pid of all) assert.deepEqual(await liveInGroup(pid), [], `hook ${pid} and its group are gone`);
    assert.deepEqual(ts.logs.events('hook.dropped'), []);
  });

  it('a burst of 2,000 uploads: 8 run, at most 1,000 wait, the rest are dropped, logged and counted', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const receiver = await startReceiver('s3cret', () => held.then(() => 200));
    cleanup.push(() => receiver.close());
    const ts = await startQuotaServer({ hooks: JSON.stringify([{ on: ['upload'], post: receiver.url, secret: 's3cret' }]), hookTimeoutSeconds: 120, metricsListen: '127.0.0.1:0' });
    cleanup.push(async () => {
      release();
      await ts.close();
    });
    await addQuotaUser(ts, 'alice', null);
    const port = ts.server.metricsAddress!.port;
    const TOTAL = 2000;
    const sessions = await Promise.all([RawSession.open(ts, 'alice'), RawSession.open(ts, 'alice')]);
    // Pipelined: 32 open-write-close chains in flight per session.
    let next = 0;
    const worker = async (s: RawSession) => {
      while (next < TOTAL) {
        const i = next++;
        const h = await s.openFile(`/b${i}`, FXF.WRITE | FXF.CREAT | FXF.TRUNC);
        await s.write(h, Buffer.from('x'), 0);
        await s.closeFile(h);
      }
    };
    await Promise.all(sessions.flatMap((s) => Array.from({ length: 32 }, () => worker(s))));
    await Promise.all(sessions.map((s) => s.end()));
    // Deliveries start after a quiet moment or 2 s (hook-queue.ts): once 8 run (held by the
    // receiver), at most 1,000 wait, and at least 992 (the 8 may have left the full queue after the
    // burst, or during it, the queue then filling again).
    await waitFor(() => receiver.requests.length === 8, 20_000, 'eight deliveries running');
    const waiting = (await metric(port, 'coffer_hook_queue'))!;
    assert.ok(waiting <= 1000 && waiting >= 992, `${waiting} waiting`);
    const dropped = TOTAL - 8 - waiting;
    await waitFor(() => ts.logs.events('hook.dropped').length === dropped, 20_000, `${dropped} hook.dropped lines`);
    assert.equal(receiver.requests.length, 8, 'eight deliveries run at once');
    assert.equal(await metric(port, 'coffer_hooks_dropped_total'), dropped);
    assert.equal(await metric(port, 'coffer_transfers_total{direction="upload",outcome="ok"}'), TOTAL);
    release();
    await waitFor(() => receiver.requests.length === 8 + waiting, 60_000, 'the waiting deliveries run');
    await waitFor(async () => (await metric(port, 'coffer_hook_queue')) === 0, 10_000, 'queue empty');
    await waitFor(async () => (await metric(port, 'coffer_hooks_delivered_total{kind="post"}')) === 8 + waiting, 10_000, 'deliveries counted');
    assert.equal(ts.logs.events('hook.dropped').length, dropped);
    assert.deepEqual(ts.logs.events('hook.failed'), []);
  });
});
