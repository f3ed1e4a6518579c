/**
 * Metrics with workers: a node:cluster supervisor (this test process) forks 2 workers that each
 * keep their own registry; startClusterMetrics serves the sum (promtool accepts it), and /healthz
 * turns 503 when one worker's store is lost (coffer_store_up aggregates by minimum) or when the
 * supervisor itself reports a reason.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import cluster, { type Worker } from 'node:cluster';
import { after, before, describe, it } from 'node:test';
import { startClusterMetrics } from '../../src/monitor/cluster-metrics.js';
import type { MetricsServer } from '../../src/monitor/metrics-server.js';
import { once, waitFor } from '../support/wait.js';

const sample = (text: string, series: string): number | undefined => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

describe('cluster metrics (AggregatorRegistry)', () => {
  const workers: Worker[] = [];
  let server: MetricsServer;
  let reason: string | null = null;
  let base: string;

  before(async () => {
    cluster.setupPrimary({ exec: new URL('./fixtures/cluster-worker.js', import.meta.url).pathname, execArgv: [], silent: false });
    for (const increments of ['3', '4']) {
      const w = cluster.fork({ INCREMENTS: increments });
      workers.push(w);
      await once(w, 'message', 20_000);
    }
    server = await startClusterMetrics({ host: '127.0.0.1', port: 0 }, () => reason);
    base = `http://127.0.0.1:${server.address.port}`;
  });
  after(async () => {
    await server?.close();
    for (const w of workers) {
      const exited = once(w, 'exit', 10_000);
      w.process.kill('SIGTERM');
      await exited;
    }
  });

  it('serves the sum over workers, which promtool accepts', async () => {
    const text = await (await fetch(`${base}/metrics`)).text();
    assert.equal(sample(text, 'coffer_bans_total'), 7);
    assert.equal(sample(text, 'coffer_connections'), 4);
    assert.equal(sample(text, 'coffer_sessions{kind="sftp"}'), 2);
    assert.equal(sample(text, 'coffer_store_up'), 1, 'the minimum, not the sum');
    const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    if (r.error) throw new Error(`promtool is required (apt-get install prometheus): ${r.error.message}`);
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  });

  it('/healthz: ok, then 503 when a worker loses its store or the supervisor says why', async () => {
    let res = await fetch(`${base}/healthz`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'ok\n');
    reason = 'shutting down';
    res = await fetch(`${base}/healthz`);
    assert.equal(res.status, 503);
    assert.equal(await res.text(), 'shutting down\n');
    reason = null;
    workers[1]!.send('store-down');
    await waitFor(async () => (res = await fetch(`${base}/healthz`)).status === 503, 10_000, 'healthz 503');
    assert.equal(await res.text(), 'store unavailable\n');
    assert.equal(sample(await (await fetch(`${base}/metrics`)).text(), 'coffer_store_up'), 0);
  });
});
