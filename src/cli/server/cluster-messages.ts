/**
 * What a cluster worker and its supervisor (supervisor.ts) say to each other, and the worker's id.
 * Imports nothing but node:cluster: main.ts installs the stop listener before the server loads.
 */
import cluster from 'node:cluster';
import type { StopSignalName, StopSignals } from '../common/stop-signals.js';

/** A worker tells the supervisor it listens and serves (sent once, after its `start` line). */
export const READY_MESSAGE = 'coffer.ready';
/** The supervisor tells a worker to stop as if it had got `signal`. */
export const STOP_MESSAGE = 'coffer.stop';

/** Messages between the supervisor and its workers. */
export type ClusterMessage = { type: typeof READY_MESSAGE } | { type: typeof STOP_MESSAGE; signal: StopSignalName };

/** The `worker` field of the log lines of this process: 0 unless it is a cluster worker. */
export function workerId(): number {
  return cluster.isWorker ? cluster.worker!.id : 0;
}

/**
 * In a cluster worker: calls `stop.request` when the supervisor says stop. Installed as early as
 * possible (main.ts); a message that still came before is repeated when the worker is ready.
 */
export function listenForSupervisor(stop: Pick<StopSignals, 'request'>): void {
  if (!cluster.isWorker) return;
  process.on('message', (message: ClusterMessage) => {
    if (message?.type === STOP_MESSAGE) stop.request(message.signal);
  });
}

/** In a cluster worker: tells the supervisor that this worker has started. */
export function reportReady(): void {
  if (cluster.isWorker) process.send?.({ type: READY_MESSAGE } satisfies ClusterMessage);
}
