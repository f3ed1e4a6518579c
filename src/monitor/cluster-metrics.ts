/**
 * Metrics with workers (SPEC §7, §8): each worker keeps its own registry and answers the
 * supervisor's requests for it (prom-client's cluster messages); the supervisor serves
 * metricsListen with the sum over workers (AggregatorRegistry.clusterMetrics).
 */
import { AggregatorRegistry, type Registry } from 'prom-client';
import type { ListenAddress } from '../util/listen-address.js';
import { startMetricsServer, type MetricsServer } from './metrics-server.js';

/**
 * In a worker: answer the supervisor's requests with `registry`. prom-client installs its
 * message listener when the first AggregatorRegistry is made (in a worker: the answering side).
 */
export function shareWithSupervisor(registry: Registry): void {
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries([registry]);
}

/** Extra health condition of the supervisor (e.g. shutting down): null = fine, else a reason. */
export type SupervisorHealth = () => string | null;

/**
 * In the supervisor: serves GET /metrics (every worker's registry, summed; coffer_store_up the
 * minimum) and GET /healthz on `at`. /healthz is 503 when `health` gives a reason, when a worker
 * does not answer (prom-client waits up to 5 s), or when a worker's store does not answer
 * (coffer_store_up 0).
 */
export function startClusterMetrics(at: ListenAddress, health: SupervisorHealth = () => null): Promise<MetricsServer> {
  const aggregator = new AggregatorRegistry();
  return startMetricsServer(at, {
    contentType: aggregator.contentType,
    metrics: () => aggregator.clusterMetrics(),
    async health() {
      const own = health();
      if (own !== null) return own;
      let text: string;
      try {
        text = await aggregator.clusterMetrics();
      } catch {
        return 'a worker does not answer';
      }
      const up = /^coffer_store_up (\S+)$/m.exec(text);
      if (up === null) return 'no worker is serving';
      return Number(up[1]) >= 1 ? null : 'store unavailable';
    },
  });
}
