/**
 * What operators see and plug in (SPEC §8), started as steps of the server's start: the metrics
 * (and the metricsListen listener, or sharing them with a cluster supervisor) and the event hooks,
 * both observing the server's events through state.observer.
 */
import cluster from 'node:cluster';
import type { Observer } from '../events/events.js';
import { Hooks } from '../hooks/hooks.js';
import { shareWithSupervisor } from '../monitor/cluster-metrics.js';
import { CofferMetrics } from '../monitor/metrics.js';
import { startMetricsServer } from '../monitor/metrics-server.js';
import { parseListenAddress } from '../util/listen-address.js';
import type { StartUp } from '../util/start-up.js';
import { fanOut } from './observer.js';
import type { ServerState } from './server-state.js';

/** `serve` on metricsListen, or `share` with the cluster supervisor. */
export type MetricsMode = 'serve' | 'share';

/** How operations start. */
export interface OperationsOptions {
  mode?: MetricsMode | undefined;
  hookRetryBaseMs?: number | undefined;
}

/** How long running hooks may finish at shutdown before they are killed (ms). */
const HOOK_GRACE_MS = 5000;

/**
 * Builds the metrics and hooks the settings ask for and installs their observer in `state`.
 * Nothing is built when metricsListen and hooks are empty: the observer stays a no-op.
 */
export async function startOperations(startUp: StartUp, state: ServerState, opts: OperationsOptions): Promise<{ metricsAddress?: { host: string; port: number } }> {
  const { config, log } = state;
  const observers: Observer[] = [];
  let hooks: Hooks | undefined;
  const metrics = config.metricsListen === '' ? undefined : new CofferMetrics({ connections: () => state.table.size, hookQueue: () => hooks?.depth ?? 0 });
  if (metrics) observers.push(metrics);
  if (config.hooks.length > 0) {
    const made = new Hooks(config.hooks, {
      log,
      timeoutSeconds: config.hookTimeoutSeconds,
      ...(opts.hookRetryBaseMs !== undefined ? { retryBaseMs: opts.hookRetryBaseMs } : {}),
      onDropped: () => metrics?.hookDropped(),
      onFailed: (kind) => metrics?.hookFailed(kind),
      onDelivered: (kind) => metrics?.hookDelivered(kind),
    });
    hooks = await startUp.step('hooks', () => made, (h) => h.close(HOOK_GRACE_MS));
    observers.push(hooks);
  }
  state.observer = fanOut(observers, log);
  if (!metrics) return {};
  const mode = opts.mode ?? (cluster.isWorker ? 'share' : 'serve');
  if (mode === 'share') {
    shareWithSupervisor(metrics.registry);
    return {};
  }
  const at = parseListenAddress(config.metricsListen);
  if ('problem' in at) throw new Error(`metricsListen ${at.problem}`);
  const server = await startUp.step(
    'metrics',
    () =>
      startMetricsServer(at, {
        contentType: metrics.registry.contentType,
        metrics: () => metrics.text(),
        health: () => (state.closing ? 'shutting down' : state.storeUp ? null : 'store unavailable'),
      }),
    (s) => s.close(),
  );
  log.info({ event: 'metrics.listen', address: `${server.address.host}:${server.address.port}` }, `metrics and health on ${config.metricsListen} (port ${server.address.port})`);
  return { metricsAddress: server.address };
}
