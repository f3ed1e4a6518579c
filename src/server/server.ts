/**
 * startServer: the SSH server of SPEC §3 and §5 on ssh2. Sockets are accepted by our own net
 * server (bans and caps apply before any crypto), then handed to ssh2 with injectSocket.
 */
import { createServer, type Server as NetServer } from 'node:net';
import ssh2 from 'ssh2';
import type { Config } from '../config/load.js';
import { CURRENT_PARAMS, type ScryptParams } from '../users/password.js';
import { homeDir } from '../config/paths.js';
import { QuotaLedger } from '../quota/quota-ledger.js';
import { UserStore } from '../users/user-store.js';
import { countUsage } from '../vfs/usage-scan.js';
import { createLogger, type Logger } from '../util/logger.js';
import { serverAlgorithms } from './algorithms.js';
import { BanList } from './bans.js';
import { admitSocket, onClient } from './connection.js';
import { loadHostKeys, type HostKey } from './host-keys.js';
import { ConnectionTable } from './limits.js';
import { SessionRouter } from './session-router.js';
import { endConnection, type ServerState } from './server-state.js';
import { shutdown } from './shutdown.js';
import { startWatchdog } from './watchdog.js';

/** Options that are not user-facing settings. */
export interface ServerOptions {
  /** Subsystems and exec commands served (default: none, so sftp and every exec are refused). */
  router?: SessionRouter;
  /** Logger (default: from config.logLevel / config.logFormat, on stdout). */
  logger?: Logger;
  /** scrypt parameters for re-hashing and for the dummy hash (default CURRENT_PARAMS); tests use cheap ones. */
  scrypt?: ScryptParams;
  /** An open UserStore to use instead of opening config.paths.dbFile (it is then not closed by close()). */
  store?: UserStore;
  /** ssh2 keepalive: interval (ms) and unanswered pings before the connection is dropped. */
  keepaliveIntervalMs?: number;
  keepaliveCountMax?: number;
}

/** A running server. */
export interface RunningServer {
  address: { host: string; port: number };
  hostKeys: HostKey[];
  /** Number of users in the database at start (0: the start log says how to add one). */
  userCount: number;
  state: ServerState;
  /** Stops accepting, lets busy sessions finish for shutdownGraceSeconds, ends the rest, closes the database. */
  close(): Promise<void>;
}

/**
 * The server's busy timeout (ms). Its database writes (login times, usage) are synchronous: with
 * coffer-users or a backup holding the lock, a long wait would stall every session. They fail fast
 * instead and are retried (usage at the next flush; a login time is simply not recorded).
 */
export const SERVER_BUSY_TIMEOUT_MS = 10;

/** Starts listening on config.host:config.port; resolves once listening. */
export async function startServer(config: Config, options: ServerOptions = {}): Promise<RunningServer> {
  const log = options.logger ?? createLogger({ level: config.logLevel, format: config.logFormat });
  const hostKeys = await loadHostKeys(config.paths.keysDir);
  const ownStore = !options.store;
  const store = options.store ?? UserStore.open(config.paths.dbFile, { busyTimeoutMs: SERVER_BUSY_TIMEOUT_MS });
  const scrypt = options.scrypt ?? CURRENT_PARAMS;
  const ledger = new QuotaLedger({ store, log, recount: async (user, skip) => (await countUsage(homeDir(config.paths, user), skip)).bytes });
  const state: ServerState = {
    config,
    store,
    ledger,
    log,
    scrypt,
    router: options.router ?? new SessionRouter(),
    bans: new BanList({ threshold: config.banThreshold, windowMs: config.banWindowSeconds * 1000, banMs: config.banSeconds * 1000 }),
    table: new ConnectionTable(config),
    closing: false,
    endConnection,
  };
  const ssh = new ssh2.Server({
    hostKeys: hostKeys.map((k) => k.privateKey),
    algorithms: serverAlgorithms(),
    ident: 'Coffer',
    keepaliveInterval: options.keepaliveIntervalMs ?? 15_000,
    keepaliveCountMax: options.keepaliveCountMax ?? 3,
  });
  ssh.on('error', (err: Error) => log.error({ event: 'server.error', err: err.message }, 'ssh server error'));
  ssh.on('connection', (client, info) => onClient(state, client, info));
  const net = createServer({ pauseOnConnect: false }, (socket) => {
    if (admitSocket(state, socket)) ssh.injectSocket(socket);
  });
  const address = await listen(net, config.host, config.port);
  const stopWatchdog = startWatchdog(state);
  const userCount = countUsers(store);
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= shutdown(state, net).finally(() => {
      stopWatchdog();
      ledger.close();
      if (ownStore) store.close();
    }));
  return { address, hostKeys, userCount, state, close };
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

function countUsers(store: UserStore): number {
  return (store.db.prepare('SELECT count(*) AS n FROM users').get() as { n: number }).n;
}
