/**
 * What the parts of the server share: settings, stores, the connection table, the ban list, the
 * password check queue and the session routing table. One per running server.
 */
import type { Config } from '../config/load.js';
import type { Observer } from '../events/events.js';
import type { QuotaLedger } from '../quota/quota-ledger.js';
import type { UserLocks } from '../vfs/user-locks.js';
import type { ScryptParams } from '../users/password.js';
import type { Store } from '../store/store.js';
import type { Logger } from '../util/logger.js';
import type { BanList } from './bans.js';
import type { ConnectionRecord, ConnectionTable } from './limits.js';
import type { PasswordQueue } from './password-queue.js';
import type { SessionRouter } from './session-router.js';

/** The running server's shared state. */
export interface ServerState {
  config: Config;
  store: Store;
  /** Usage and quotas of the users with sessions. */
  ledger: QuotaLedger;
  /** The users' namespace locks (vfs/user-locks.ts), shared by each user's sessions here. */
  locks: UserLocks;
  log: Logger;
  router: SessionRouter;
  bans: BanList;
  table: ConnectionTable;
  /** The bounded queue every password check waits in. */
  passwords: PasswordQueue;
  scrypt: ScryptParams;
  /** True once shutdown began: no new connections, logins or sessions. */
  closing: boolean;
  /** Where events go (metrics, hooks): observer.ts's fan-out. */
  observer: Observer;
  /** False while the store does not answer (the watchdog's last check, or a login's refusal). */
  storeUp: boolean;
  /** Ends a connection (disconnect, then destroy if the peer lingers). */
  endConnection(rec: ConnectionRecord, reason: string): void;
}

/** How long a connection we ended may take to close before its socket is destroyed (ms). */
export const END_LINGER_MS = 2000;

/** Ends `rec`: aborts its sessions, sends DISCONNECT, destroys the socket if it does not close. */
export function endConnection(rec: ConnectionRecord, reason: string): void {
  if (rec.ending) return;
  rec.ending = true;
  rec.log.debug({ event: 'connection.ending', reason }, 'ending connection');
  rec.abort.abort(reason);
  try {
    if (rec.client) rec.client.end();
    else rec.socket.end();
  } catch {
    rec.socket.destroy();
  }
  const timer = setTimeout(() => rec.socket.destroy(), END_LINGER_MS);
  rec.socket.once('close', () => clearTimeout(timer));
}
