/**
 * The supervisor of `workers` > 1 (SPEC §7 Workers): the first process of coffer-server forks that
 * many workers with node:cluster and serves no SSH itself; the workers share the listening port
 * (cluster's round-robin: the supervisor accepts and hands each socket to a worker, so the
 * socket's peer address, the PROXY protocol and bans work as in one process).
 *
 * Contract:
 * - Before forking, the supervisor does what must happen once: it checks the configuration (a bad
 *   one is one line and exit 1, never a restart loop), creates missing host keys (workers would
 *   race to create them) and opens the store once (migrations; PostgreSQL reachable), then closes
 *   it. Each worker then opens its own store (SQLite: the same db/coffer.db, WAL).
 * - A worker that dies after it started (logged `worker.exit` with its code or signal) is
 *   restarted, at most one restart a second in all: never a hot loop.
 * - A worker that exits before it has started (its start failed: a port in use, a store gone)
 *   fails the whole server: the others are stopped and the supervisor exits 1.
 * - SIGTERM or SIGINT: every worker is told to stop (an IPC message, not a signal: a worker may
 *   also get the terminal's SIGINT itself, and a second signal would force it out) and drains as
 *   one process does (§5); the supervisor exits 0 once all have exited with 0, else 1. A second
 *   signal kills the workers (SIGKILL) and exits 1 at once.
 * - Log lines carry `worker`: 0 for the supervisor (and for the one process when workers = 1),
 *   the cluster worker id (1, 2, ...; a restarted worker gets a new id) for a worker.
 */
import { startClusterMetrics } from '../../monitor/cluster-metrics.js';
import { parseListenAddress } from '../../util/listen-address.js';
import cluster, { type Worker } from 'node:cluster';
import type { Config } from '../../config/load.js';
import { loadHostKeys, type HostKey } from '../../server/host-keys.js';
import { openStore } from '../../store/open-store.js';
import type { Logger } from '../../util/logger.js';
import { StartUp } from '../../util/start-up.js';
import { EXIT } from '../common/run.js';
import type { StopSignalName, StopSignals } from '../common/stop-signals.js';
import { READY_MESSAGE, STOP_MESSAGE, type ClusterMessage } from './cluster-messages.js';

/** The least time between two restarts of dead workers (ms): at most one restart a second. */
export const RESTART_INTERVAL_MS = 1000;

/** What the supervisor's services (started beside the workers) see of it. */
export interface SupervisorContext {
  config: Config;
  log: Logger;
  /** The workers alive now. */
  workers(): Worker[];
  /** True once SIGTERM or SIGINT told the workers to stop. */
  stopping(): boolean;
}

/** A service the supervisor runs for the whole cluster (e.g. a metrics listener): stopped last. */
export interface SupervisorService {
  stop(): Promise<void>;
}

/**
 * Services of the supervisor itself, started once the workers are forked and stopped after every
 * worker has exited, newest first: with metricsListen, the cluster's /metrics (every worker's
 * registry summed, monitor/cluster-metrics.ts) and /healthz (503 while stopping, when no worker
 * runs, or when a worker's store does not answer).
 */
export async function startSupervisorServices(ctx: SupervisorContext): Promise<SupervisorService[]> {
  if (ctx.config.metricsListen === '') return [];
  const at = parseListenAddress(ctx.config.metricsListen);
  if ('problem' in at) throw new Error(`metricsListen ${at.problem}`);
  const server = await startClusterMetrics(at, () => (ctx.stopping() ? 'shutting down' : ctx.workers().length === 0 ? 'no worker is running' : null));
  ctx.log.info({ event: 'metrics.listen', address: `${server.address.host}:${server.address.port}` }, `metrics and health on ${ctx.config.metricsListen} (port ${server.address.port})`);
  return [{ stop: () => server.close() }];
}

/** One forked worker as the supervisor tracks it. */
interface Tracked {
  worker: Worker;
  ready: boolean;
}

/** Runs the supervisor until every worker has exited; resolves with the exit status. */
export async function runSupervisor(config: Config, log: Logger, stop: StopSignals): Promise<number> {
  const startUp = new StartUp(stop.signal);
  let hostKeys: HostKey[];
  try {
    hostKeys = await startUp.step('host keys', () => loadHostKeys(config.paths.keysDir, startUp.signal));
    // Opened once and closed: migrations run here, not raced by the workers, and an unreachable
    // PostgreSQL is one line and exit 1 before anything is forked.
    const store = await startUp.step('database', () => openStore(config));
    await store.close();
  } catch (err) {
    if (startUp.isStop(err)) {
      log.info({ event: 'shutdown.done' }, 'stopped while starting');
      return EXIT.ok;
    }
    throw err;
  }
  const fingerprints = hostKeys.map((k) => ({ type: k.type, fingerprint: k.fingerprint, created: k.created }));
  return new Cluster(config, log, stop).run(fingerprints);
}

/** The forked workers and the rules above. */
class Cluster {
  private readonly tracked = new Map<number, Tracked>();
  private stopping: StopSignalName | undefined;
  private failed = false;
  private pendingRestarts = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private lastRestartAt = -Infinity;
  private services: SupervisorService[] = [];
  private done!: (status: number) => void;

  constructor(
    private readonly config: Config,
    private readonly log: Logger,
    private readonly stop: StopSignals,
  ) {}

  async run(fingerprints: unknown[]): Promise<number> {
    const finished = new Promise<number>((resolve) => (this.done = resolve));
    const count = this.config.workers;
    this.log.info({ event: 'supervisor.start', workers: count, pid: process.pid, root: this.config.paths.root, fingerprints }, `starting ${count} workers`);
    for (let i = 0; i < count; i++) this.fork();
    this.stop.onStop((signal) => this.stopAll(signal));
    this.stop.onForced(() => {
      this.log.warn({ event: 'shutdown.forced' }, 'second signal: killing the workers and exiting now');
      for (const { worker } of this.tracked.values()) worker.process.kill('SIGKILL');
    });
    this.services = await startSupervisorServices({ config: this.config, log: this.log, workers: () => [...this.tracked.values()].map((t) => t.worker), stopping: () => this.stopping !== undefined });
    const status = await finished;
    for (const service of this.services.reverse()) {
      await service.stop().catch((err: Error) => this.log.warn({ event: 'supervisor.error', err: err.message }, 'a supervisor service failed to stop'));
    }
    this.log.info({ event: 'shutdown.done', status }, 'all workers stopped');
    return status;
  }

  private fork(): void {
    const worker = cluster.fork();
    const entry: Tracked = { worker, ready: false };
    this.tracked.set(worker.id, entry);
    const pid = worker.process.pid;
    worker.on('error', (err: Error) => this.log.debug({ event: 'worker.error', id: worker.id, err: err.message }, 'worker channel error'));
    worker.on('message', (message: ClusterMessage) => {
      if (message?.type !== READY_MESSAGE || entry.ready) return;
      entry.ready = true;
      this.log.info({ event: 'worker.ready', id: worker.id, pid }, `worker ${worker.id} serving (pid ${pid})`);
      if (this.stopping) this.tell(worker, this.stopping); // it may have missed the first message
    });
    // 'exit' comes once the process has ended, whether or not its IPC channel closed first.
    worker.on('exit', (code: number | null, signal: NodeJS.Signals | null) => this.onExit(entry, pid, code, signal));
  }

  private onExit(entry: Tracked, pid: number | undefined, code: number | null, signal: NodeJS.Signals | null): void {
    const { worker } = entry;
    this.tracked.delete(worker.id);
    const expected = this.stopping !== undefined && code === 0;
    const fields = { event: 'worker.exit', id: worker.id, pid, code, signal };
    if (expected) this.log.info(fields, `worker ${worker.id} stopped`);
    else this.log.warn(fields, `worker ${worker.id} exited (${signal ?? `code ${code}`})`);
    if (this.stopping) {
      if (code !== 0) this.failed = true;
    } else if (!entry.ready) {
      // Its start failed: restarting would fail the same way (config, port, store), so the server fails.
      this.failed = true;
      this.log.error({ event: 'supervisor.failed', id: worker.id, code, signal }, `worker ${worker.id} failed to start: stopping the server`);
      this.stopAll('SIGTERM');
    } else {
      this.pendingRestarts++;
      this.scheduleRestart();
    }
    if (this.tracked.size === 0 && this.stopping) {
      this.done(this.failed ? EXIT.failure : EXIT.ok);
    }
  }

  /** Forks one replacement now, or when a second has passed since the last one. */
  private scheduleRestart(): void {
    if (this.restartTimer || this.pendingRestarts === 0 || this.stopping) return;
    const wait = Math.max(0, this.lastRestartAt + RESTART_INTERVAL_MS - Date.now());
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.stopping) return;
      this.pendingRestarts--;
      this.lastRestartAt = Date.now();
      this.fork();
      this.log.info({ event: 'worker.restart', pending: this.pendingRestarts }, 'restarted a worker');
      this.scheduleRestart();
    }, wait);
  }

  private stopAll(signal: StopSignalName): void {
    if (this.stopping) return;
    this.stopping = signal;
    clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    this.pendingRestarts = 0;
    this.log.info({ event: 'shutdown', workers: this.tracked.size, graceSeconds: this.config.shutdownGraceSeconds }, 'stopping the workers');
    for (const { worker } of this.tracked.values()) this.tell(worker, signal);
    if (this.tracked.size === 0) this.done(this.failed ? EXIT.failure : EXIT.ok);
  }

  private tell(worker: Worker, signal: StopSignalName): void {
    if (!worker.isConnected()) return;
    try {
      worker.send({ type: STOP_MESSAGE, signal } satisfies ClusterMessage);
    } catch {
      // its channel closed: it is exiting anyway
    }
  }
}
