/**
 * startServer: the SSH server of SPEC §3 and §5 on ssh2. Sockets are accepted by our own net
 * server (bans and caps apply before any crypto), then handed to ssh2 with injectSocket.
 */
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import ssh2 from 'ssh2';
import type { Config } from '../config/load.js';
import { CURRENT_PARAMS, type ScryptParams } from '../users/password.js';
import { homeDir } from '../config/paths.js';
import { UserLocks } from '../vfs/user-locks.js';
import { QuotaLedger, type QuotaLedgerOptions } from '../quota/quota-ledger.js';
import { openStore } from '../store/open-store.js';
import type { Store } from '../store/store.js';
import { NO_OBSERVER } from '../events/events.js';
import { countUsage } from '../vfs/usage-scan.js';
import { CidrList } from '../util/cidr.js';
import { createLogger, type Logger } from '../util/logger.js';
import { StartUp } from '../util/start-up.js';
import { serverAlgorithms } from './algorithms.js';
import { BanList } from './bans.js';
import { admitSocket, onClient } from './connection.js';
import { loadHostKeys, type HostKey } from './host-keys.js';
import { ConnectionTable } from './limits.js';
import { PASSWORD_QUEUE_LIMITS, PasswordQueue } from './password-queue.js';
import { SessionRouter } from './session-router.js';
import { endConnection, type ServerState } from './server-state.js';
import { shutdown } from './shutdown.js';
import { startWatchdog } from './watchdog.js';
import { ProxyGate } from './proxy/gate.js';
import { startOperations, type MetricsMode } from './operations.js';

/** Options that are not user-facing settings. */
export interface ServerOptions {
  /** Subsystems and exec commands served (default: none, so sftp and every exec are refused). */
  router?: SessionRouter;
  /** Logger (default: from config.logLevel / config.logFormat, on stdout). */
  logger?: Logger;
  /** scrypt parameters for re-hashing and for the unknown user's stand-in hash (default CURRENT_PARAMS); tests use cheap ones. */
  scrypt?: ScryptParams;
  /** An open store to use instead of the one `database` names (it is then not closed by close()). */
  store?: Store;
  /** Stops the start part-way when aborted (coffer-server passes its SIGINT/SIGTERM signal). */
  signal?: AbortSignal;
  /** ssh2 keepalive: interval (ms) and unanswered pings before the connection is dropped. */
  keepaliveIntervalMs?: number;
  keepaliveCountMax?: number;
  /**
   * What becomes of the metrics when metricsListen is set: `serve` them there (one process), or
   * `share` them with a node:cluster supervisor, which serves the sum (startClusterMetrics).
   * Default: `share` in a cluster worker, `serve` otherwise.
   */
  metrics?: MetricsMode;
  /** First retry delay of post hooks (default 1000 ms; tests shorten it). */
  hookRetryBaseMs?: number;
}

/** A running server. */
export interface RunningServer {
  address: { host: string; port: number };
  hostKeys: HostKey[];
  /** Number of users in the database at start (0: the start log says how to add one). */
  userCount: number;
  state: ServerState;
  /** Where GET /metrics and /healthz are served (metricsListen, served by this process). */
  metricsAddress?: { host: string; port: number };
  /**
   * Stops accepting, lets busy sessions finish for shutdownGraceSeconds, ends the rest, closes the
   * database; logs `shutdown` first and `shutdown.done` once everything is closed.
   */
  close(): Promise<void>;
}

/**
 * The server's busy timeout (ms). Its database writes (login times, usage) are synchronous: with
 * coffer-users or a backup holding the lock, a long wait would stall every session. They fail fast
 * instead and are retried (usage at the next flush; a login time is simply not recorded).
 */
export const SERVER_BUSY_TIMEOUT_MS = 10;

/**
 * Starts listening on config.host:config.port; resolves once listening. When `options.signal`
 * aborts first, the start goes no further, closes what it opened (newest first), logs `shutdown`
 * (with the step it stopped at) and `shutdown.done`, and rejects with the signal's reason. A
 * start that fails closes what it opened too.
 */
export async function startServer(config: Config, options: ServerOptions = {}): Promise<RunningServer> {
  const log = options.logger ?? createLogger({ level: config.logLevel, format: config.logFormat });
  const startUp = new StartUp(options.signal);
  try {
    return await openServer(startUp, config, options, log);
  } catch (err) {
    const stopped = startUp.isStop(err);
    const graceSeconds = config.shutdownGraceSeconds;
    if (stopped) log.info({ event: 'shutdown', step: startUp.current, open: startUp.open, graceSeconds }, `stopped while starting (${startUp.current})`);
    await startUp.closeAll(); // a failure here replaces the stop: exit status 1 with its message
    if (stopped) log.info({ event: 'shutdown.done' }, 'stopped');
    throw err;
  }
}

/** The steps of the start, each one's opened thing registered with how to close it. */
async function openServer(startUp: StartUp, config: Config, options: ServerOptions, log: Logger): Promise<RunningServer> {
  const hostKeys = await startUp.step('host keys', () => loadHostKeys(config.paths.keysDir, startUp.signal));
  const store =
    options.store ??
    (await startUp.step('database', () => openStore(config, { sqlite: { busyTimeoutMs: SERVER_BUSY_TIMEOUT_MS } }), (s) => s.close()));
  const recount: QuotaLedgerOptions['recount'] = async (user, skip) => countUsage(homeDir(config.paths, user), skip);
  const ledger = await startUp.step('quota ledger', () => QuotaLedger.start({ store, log, recount }), (l) => l.close());
  const state: ServerState = {
    config,
    store,
    ledger,
    locks: new UserLocks(),
    log,
    scrypt: options.scrypt ?? CURRENT_PARAMS,
    router: options.router ?? new SessionRouter(),
    bans: new BanList({ threshold: config.banThreshold, windowMs: config.banWindowSeconds * 1000, banMs: config.banSeconds * 1000 }),
    table: new ConnectionTable(config),
    passwords: new PasswordQueue({ ...PASSWORD_QUEUE_LIMITS, perKey: config.passwordQueuePerIp, total: config.passwordQueue }),
    closing: false,
    endConnection,
    observer: NO_OBSERVER,
    storeUp: true,
  };
  const ops = await startOperations(startUp, state, { mode: options.metrics, hookRetryBaseMs: options.hookRetryBaseMs });
  const ssh = new ssh2.Server({
    hostKeys: hostKeys.map((k) => k.privateKey),
    algorithms: serverAlgorithms(),
    ident: 'Coffer',
    keepaliveInterval: options.keepaliveIntervalMs ?? 15_000,
    keepaliveCountMax: options.keepaliveCountMax ?? 3,
  });
  ssh.on('error', (err: Error) => log.error({ event: 'server.error', err: err.message }, 'ssh server error'));
  ssh.on('connection', (client, info) => onClient(state, client, info));
  // Every socket passes the PROXY protocol rules (proxy/gate.ts) before admission and ssh2.
  const gate = new ProxyGate(state, CidrList.parse(config.proxyProtocol), (socket: Socket) => {
    const rec = admitSocket(state, socket);
    if (rec) ssh.injectSocket(socket);
    return rec;
  });
  const net = createServer({ pauseOnConnect: false }, (socket) => gate.accept(socket));
  // Before listening, so that it is stopped after the sessions' grace time (it ends revoked users' sessions).
  await startUp.step('watchdog', () => startWatchdog(state), (stop) => stop());
  // The kernel accepts connections from here on: a stop drains them as it drains sessions (and
  // closes the sockets still waiting for a PROXY header, which are not in the table it drains).
  const stopListening = () => {
    gate.close();
    return shutdown(state, net);
  };
  const address = await startUp.step('listen', () => listen(net, config.host, config.port), stopListening);
  const userCount = await store.countUsers();
  let closing: Promise<void> | undefined;
  const close = () => (closing ??= stopServer(startUp, state));
  return { address, hostKeys, userCount, state, close, ...(ops.metricsAddress ? { metricsAddress: ops.metricsAddress } : {}) };
}

/** Stops a started server: every step's closer, newest first (sessions, watchdog, ledger, database). */
async function stopServer(startUp: StartUp, state: ServerState): Promise<void> {
  state.log.info({ event: 'shutdown', connections: state.table.size, graceSeconds: state.config.shutdownGraceSeconds }, 'shutting down');
  await startUp.closeAll();
  state.log.info({ event: 'shutdown.done' }, 'stopped');
}

function listen(net: NetServer, host: string, port: number): Promise<{ host: string; port: number }> {
  return new Promise((resolve, reject) => {
    net.once('error', reject);
    net.listen(port, host, () => {
      net.off('error', reject);
      net.on('error', () => {}); // after listening, errors concern single sockets
      const a = net.address();
      resolve(typeof a === 'object' && a ? { host: a.address, port: a.port } : { host, port });
    });
  });
}

