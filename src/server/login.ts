/**
 * Authentication requests from arrival to verdict: the per-connection request cap, the password
 * check in the bounded queue, then accept (with the per-user session cap), or reject and count the
 * failure toward maxAuthTries (per connection, as OpenSSH's MaxAuthTries) and toward a ban of the
 * address. A password attempt whose connection closes before its verdict was sent is a failure
 * too (SPEC §5). Every failure line carries the address, for fail2ban.
 */
import type { AuthContext } from 'ssh2';
import { hashPassword, needsRehash } from '../users/password.js';
import { fingerprintOf } from '../users/public-keys.js';
import { StoreUnavailableError, type User } from '../store/store.js';
import { clip } from '../util/logger.js';
import { AUTH_METHODS, checkCredentials, type CredentialDeps, type Verdict } from './auth.js';
import type { ConnectionRecord } from './limits.js';
import type { ServerState } from './server-state.js';

/**
 * Authentication requests of any method one connection may send. `none` and an abandoned
 * keyboard-interactive exchange are no failures, so maxAuthTries never ends a client that
 * repeats them: one connection answered 20,000 `none` requests in 3 s, and ssh2 keeps an entry
 * for every aborted keyboard-interactive request until the connection ends. Clients send a
 * handful (none, then a query and a signature per key, a few passwords); OpenSSH auth2.c stops
 * at 1024.
 */
export function authRequestCap(maxAuthTries: number): number {
  return Math.max(32, 4 * maxAuthTries);
}

/** Handles ssh2's 'authentication' event. */
export function onAuthentication(state: ServerState, rec: ConnectionRecord, ctx: AuthContext): void {
  if (state.closing || rec.ending) {
    answer(() => ctx.reject(AUTH_METHODS));
    return;
  }
  rec.authRequests += 1;
  if (rec.authRequests > authRequestCap(state.config.maxAuthTries)) {
    rec.log.info({ event: 'auth.too-many-requests', port: rec.port, requests: rec.authRequests - 1 }, 'too many authentication requests: disconnecting');
    state.endConnection(rec, 'too many authentication requests');
    return;
  }
  checkCredentials(ctx, credentialDeps(state, rec, ctx))
    .then((verdict) => decide(state, rec, ctx, verdict))
    .catch((err: unknown) => {
      // The store is gone (refused, not counted: the client did nothing wrong), or a bug: refuse
      // this request, never crash the process.
      rec.pendingCheck = undefined;
      const message = err instanceof Error ? err.message : String(err);
      if (err instanceof StoreUnavailableError) {
        rec.log.warn({ event: 'store.unavailable', err: message }, 'login refused: the store does not answer');
        setStoreUp(state, false);
      } else rec.log.error({ event: 'auth.error', err: message }, 'authentication failed with an error');
      state.observer.observe({ event: 'auth', method: ctx.method, result: 'error' });
      answer(() => ctx.reject(AUTH_METHODS));
    });
}

/** Password checks of this request wait in the server's bounded queue, under the connection's key and signal. */
function credentialDeps(state: ServerState, rec: ConnectionRecord, ctx: AuthContext): CredentialDeps {
  return {
    store: state.store,
    scrypt: state.scrypt,
    runCheck: (work) => {
      rec.pendingCheck = { user: ctx.username, method: ctx.method };
      return state.passwords.run(rec.key, rec.abort.signal, work);
    },
  };
}

/** accept()/reject() on a connection that just closed may throw inside ssh2: ignore that. */
function answer(fn: () => void): void {
  try {
    fn();
  } catch {
    /* connection already gone */
  }
}

function decide(state: ServerState, rec: ConnectionRecord, ctx: AuthContext, verdict: Verdict): void {
  // Not sent: if the client hung up, its close counts the pending check (countAbandonedCheck).
  if (rec.ending || rec.socket.destroyed) return;
  rec.pendingCheck = undefined;
  if (verdict.kind === 'pk-ok') return answer(() => ctx.accept());
  if (verdict.kind === 'reject') return fail(state, rec, ctx, verdict);
  if (state.closing) return answer(() => ctx.reject(AUTH_METHODS));
  login(state, rec, ctx, verdict.user, verdict.password);
}

function login(state: ServerState, rec: ConnectionRecord, ctx: AuthContext, user: User, password?: string): void {
  const tooMany = () => {
    rec.log.warn({ event: 'auth.refused', user: user.name, method: ctx.method, port: rec.port, reason: 'max-sessions-per-user' }, 'login refused: too many sessions for this user');
    state.observer.observe({ event: 'auth', method: ctx.method, result: 'refused' });
    answer(() => ctx.reject(AUTH_METHODS));
    state.endConnection(rec, 'max sessions per user');
  };
  if (!state.table.userHasRoom(user.name)) return tooMany();
  // maxSessionsPerUser counts the user's connections on every process of the store (SPEC §7).
  state.ledger.connect(user.name, state.config.maxSessionsPerUser).then(
    (counted) => {
      if (rec.ending || rec.socket.destroyed || state.closing) {
        if (counted) state.ledger.disconnect(user.name);
        return answer(() => ctx.reject(AUTH_METHODS));
      }
      if (!counted) return tooMany();
      if (!state.table.userHasRoom(user.name)) {
        state.ledger.disconnect(user.name);
        return tooMany();
      }
      rec.countedInStore = true;
      accepted(state, rec, ctx, user, password);
    },
    (err: unknown) => {
      rec.log.warn({ event: 'store.unavailable', err: (err as Error).message }, 'login refused: the store does not answer');
      answer(() => ctx.reject(AUTH_METHODS));
    },
  );
}

function accepted(state: ServerState, rec: ConnectionRecord, ctx: AuthContext, user: User, password?: string): void {
  state.table.setUser(rec, user.name);
  rec.lastActivity = Date.now();
  rec.log = rec.log.child({ user: user.name });
  answer(() => ctx.accept());
  const key = ctx.method === 'publickey' ? fingerprintOf(ctx.key.data) : undefined;
  rec.log.info({ event: 'auth.success', method: ctx.method, port: rec.port, key }, 'login');
  state.observer.observe({ event: 'auth', method: ctx.method, result: 'success' });
  state.observer.observe({ event: 'login', user: user.name, address: rec.address, seconds: (Date.now() - rec.startedAt) / 1000 });
  state.store.recordLogin(user.name).catch((err: Error) => rec.log.warn({ event: 'db.error', err: err.message }, 'cannot record the login time'));
  if (password !== undefined && user.passwordHash && needsRehash(user.passwordHash, state.scrypt)) {
    void rehash(state, rec, user, password);
  }
}

/** Re-hashes a password stored with older parameters, unless it changed meanwhile. */
async function rehash(state: ServerState, rec: ConnectionRecord, user: User, password: string): Promise<void> {
  try {
    const fresh = await hashPassword(password, state.scrypt);
    if ((await state.store.find(user.name))?.passwordHash !== user.passwordHash) return;
    await state.store.setPasswordHash(user.name, fresh);
    rec.log.info({ event: 'password.rehashed' }, 'password hash upgraded');
  } catch (err) {
    rec.log.warn({ event: 'db.error', err: (err as Error).message }, 'cannot upgrade the password hash');
  }
}

function fail(state: ServerState, rec: ConnectionRecord, ctx: AuthContext, v: Extract<Verdict, { kind: 'reject' }>): void {
  answer(() => ctx.reject(AUTH_METHODS));
  if (v.quiet) return; // `none`: not a failure
  rec.failures += 1;
  logFailure(rec, v.user, ctx.method, v.reason, v.countsForBan);
  state.observer.observe({ event: 'auth', method: ctx.method, result: 'failure' });
  if (v.countsForBan) countBanFailure(state, rec);
  if (rec.failures >= state.config.maxAuthTries && !rec.ending) {
    rec.log.info({ event: 'auth.too-many-failures', port: rec.port, failures: rec.failures }, 'too many authentication failures: disconnecting');
    state.endConnection(rec, 'too many authentication failures');
  }
}

function logFailure(rec: ConnectionRecord, user: string, method: string, reason: string, counted: boolean): void {
  // clip() shortens and escapes: user names are the client's text (30 KB, newlines, escapes).
  rec.log.info(
    { event: 'auth.failure', user: clip(user), method, port: rec.port, reason, counted },
    `authentication failure for ${clip(user)} from ${rec.address}`,
  );
}

/**
 * A password attempt the client abandoned before its verdict (it hung up while the check waited
 * or ran) is a failure toward maxAuthTries and a ban (SPEC §5): otherwise hanging up after each
 * guess made a flood free and invisible. Not when the server ended the connection itself.
 */
export function countAbandonedCheck(state: ServerState, rec: ConnectionRecord): void {
  const attempt = rec.pendingCheck;
  rec.pendingCheck = undefined;
  if (!attempt || rec.ending || state.closing) return;
  rec.failures += 1;
  logFailure(rec, attempt.user, attempt.method, 'abandoned', true);
  state.observer.observe({ event: 'auth', method: attempt.method, result: 'failure' });
  countBanFailure(state, rec);
}

/** One failure toward a ban of the address key; a new ban ends the key's other logins in progress. */
export function countBanFailure(state: ServerState, rec: ConnectionRecord): void {
  rec.banFailures += 1;
  const result = state.bans.fail(rec.key);
  if (!result.banned) return;
  state.log.warn(
    { event: 'ban', address: rec.address, key: rec.key, failures: result.failures, seconds: state.config.banSeconds, until: new Date(result.until!).toISOString() },
    `address ${rec.key} banned for ${state.config.banSeconds} s`,
  );
  state.observer.observe({ event: 'ban' });
  // Every process on the store adopts it (the watchdog reads the store's bans each second).
  state.store.saveBan(rec.key, result.until!).catch((err: Error) => state.log.warn({ event: 'db.error', err: err.message }, 'cannot share the ban'));
  for (const other of state.table.all()) {
    if (other.key === rec.key && !other.user) state.endConnection(other, 'address banned');
  }
}

/** Records whether the store answers (metrics' coffer_store_up, /healthz), reporting changes. */
export function setStoreUp(state: ServerState, up: boolean): void {
  if (state.storeUp === up) return;
  state.storeUp = up;
  state.observer.observe({ event: 'store', up });
}

/**
 * A connection that tried keys, never logged in and never made a counted failure counts once:
 * offering keys is normal, but endless connections that only offer wrong keys are a scan
 * (OpenSSH PerSourcePenalties `authfail` also counts per connection). An evicted connection was
 * ended by the server, not given up by its client: it does not count.
 */
export function countUnauthenticatedClose(state: ServerState, rec: ConnectionRecord): void {
  if (rec.failures > 0 && rec.banFailures === 0 && !state.closing && !rec.evicted) countBanFailure(state, rec);
}
