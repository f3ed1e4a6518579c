/**
 * The server's periodic duties: notice coffer-users changes (the store's change version: SQLite's
 * data_version moves when another connection commits; PostgreSQL's coffer_changes row), end the sessions of users disabled or removed and re-read quotas and
 * rescans into the quota ledger; adopt bans decided by other processes on the store; close idle
 * sessions;
 * forget stale ban entries. One timer for the whole server.
 */
import { setStoreUp } from './login.js';
import type { ServerState } from './server-state.js';

/** How often the watchdog runs (ms): live changes apply within about this long. */
export const WATCH_INTERVAL_MS = 500;

/** Starts the watchdog; returns its stop function. */
export function startWatchdog(state: ServerState): () => void {
  let version: string | null = null;
  let checking = false;
  let ticks = 0;
  // Live changes: the store's change version moved (coffer-users, another server). One check at a
  // time; a store that does not answer is asked again at the next tick.
  const check = async () => {
    // Also how the server knows the store is lost and back (coffer_store_up, /healthz).
    const now = await state.store.changeVersion().catch(() => null);
    setStoreUp(state, now !== null);
    if (now === null || now === version) return;
    version = now;
    await endRevokedUsers(state);
    await refreshQuotas(state);
  };
  const timer = setInterval(() => {
    if (!checking) {
      checking = true;
      // Every other tick (1 s): bans decided by other processes on the store are adopted here.
      const bans = ticks % 2 === 0 ? adoptBans(state) : Promise.resolve();
      void Promise.all([check(), bans]).finally(() => (checking = false));
    }
    endIdleSessions(state);
    if (++ticks % 120 === 0) state.bans.prune();
  }, WATCH_INTERVAL_MS);
  timer.unref();
  return () => clearInterval(timer);
}

/** Ends every session of a user who is now disabled or gone. */
export async function endRevokedUsers(state: ServerState): Promise<void> {
  for (const name of state.table.users()) {
    let user;
    try {
      user = await state.store.find(name);
    } catch (err) {
      state.log.warn({ event: 'db.error', err: (err as Error).message }, 'cannot re-read a user');
      continue;
    }
    if (user && !user.disabled) continue;
    const reason = user ? 'user disabled' : 'user removed';
    for (const rec of state.table.connectionsOf(name)) {
      rec.log.info({ event: 'session.revoked', reason }, `${reason}: ending the session`);
      state.endConnection(rec, reason);
    }
  }
}

/** Takes over the bans in the store (decided by any process on it), and ends their logins in progress. */
async function adoptBans(state: ServerState): Promise<void> {
  let bans;
  try {
    bans = await state.store.activeBans(Date.now());
  } catch {
    return; // the store does not answer: asked again in a second
  }
  for (const { key, untilMs } of bans) {
    if (state.bans.isBanned(key)) continue;
    state.bans.adopt(key, untilMs);
    state.log.info({ event: 'ban.adopted', key, until: new Date(untilMs).toISOString() }, `address ${key} banned by another process`);
    for (const rec of state.table.all()) if (rec.key === key && !rec.user) state.endConnection(rec, 'address banned');
  }
}

/** Applies new quotas and rescans to the users with sessions. */
async function refreshQuotas(state: ServerState): Promise<void> {
  try {
    await state.ledger.refresh();
  } catch (err) {
    state.log.warn({ event: 'db.error', err: (err as Error).message }, 'cannot re-read quotas');
  }
}

function endIdleSessions(state: ServerState): void {
  const limitMs = state.config.idleTimeoutSeconds * 1000;
  if (limitMs <= 0) return;
  const now = Date.now();
  for (const rec of state.table.all()) {
    const busy = [...rec.sessions].some((s) => s.isBusy?.() === true);
    if (rec.user && !rec.ending && !busy && now - rec.lastActivity >= limitMs) {
      rec.log.info({ event: 'session.idle', seconds: state.config.idleTimeoutSeconds }, 'idle timeout: ending the session');
      state.endConnection(rec, 'idle timeout');
    }
  }
}
