/**
 * One connection's life: admission (bans, caps, eviction of an unauthenticated connection) before
 * ssh2 sees a byte, the login grace timer, TCP_NODELAY, listeners on ssh2's connection object,
 * and the log lines at its start and end.
 */
import type { Socket } from 'node:net';
import type { AuthContext, ClientInfo, Connection } from 'ssh2';
import { coalesceWrites } from '../util/cork.js';
import { poolPackets } from '../util/ssh-packets.js';
import { clip } from '../util/logger.js';
import { dropSha1HostKey } from './algorithms.js';
import { addressKey, normalizeAddress } from './address-key.js';
import { onAuthentication, countAbandonedCheck, countUnauthenticatedClose } from './login.js';
import type { ConnectionRecord } from './limits.js';
import type { ServerState } from './server-state.js';
import { onSession } from './sessions.js';

let nextId = 1;

/**
 * Takes a freshly accepted socket: refuses it (banned address, caps, shutdown) or records it and
 * returns its record; the caller then hands the socket to ssh2.
 */
export function admitSocket(state: ServerState, socket: Socket): ConnectionRecord | null {
  socket.on('error', () => {}); // ssh2 reports socket errors on the connection; this covers refusals
  const address = normalizeAddress(socket.remoteAddress);
  const key = addressKey(address);
  const port = socket.remotePort ?? 0;
  if (state.closing || socket.destroyed) {
    socket.destroy();
    return null;
  }
  if (state.bans.isBanned(key)) {
    state.log.debug({ event: 'connection.refused', address, port, reason: 'banned' }, 'connection from a banned address refused');
    socket.destroy();
    return null;
  }
  const admission = state.table.admit(key);
  if (admission.refused) {
    state.log.warn({ event: 'connection.refused', address, port, reason: admission.refused }, 'connection refused: too many connections');
    // Text before the identification line is allowed (RFC 4253 §4.2); OpenSSH shows it.
    socket.end('Too many connections\r\n');
    setTimeout(() => socket.destroy(), 1000);
    return null;
  }
  if (admission.evict) evict(state, admission.evict);
  // ssh2 leaves Nagle on: logins took 121 ms instead of 40 and uploads halved (bench-baseline.md).
  socket.setNoDelay(true);
  coalesceWrites(socket);
  const rec = newRecord(state, socket, address, key, port);
  state.table.add(rec);
  const grace = setTimeout(() => onGraceExpired(state, rec), state.config.loginGraceSeconds * 1000);
  socket.once('close', () => {
    clearTimeout(grace);
    onSocketClose(state, rec);
  });
  return rec;
}

function newRecord(state: ServerState, socket: Socket, address: string, key: string, port: number): ConnectionRecord {
  const id = nextId++;
  const now = Date.now();
  return {
    id,
    address,
    key,
    port,
    socket,
    log: state.log.child({ conn: id, address }),
    startedAt: now,
    lastActivity: now,
    failures: 0,
    banFailures: 0,
    authRequests: 0,
    sessions: new Set(),
    abort: new AbortController(),
    ending: false,
  };
}

/**
 * Makes room for a new connection by ending an unauthenticated one at once: its slot is free
 * now, and it is destroyed rather than ended politely, so a flood of evictions leaves no sockets
 * lingering in the table. Being evicted is no failure of the client (SPEC §5).
 */
function evict(state: ServerState, victim: ConnectionRecord): void {
  state.table.remove(victim);
  victim.ending = true;
  victim.evicted = true;
  victim.log.info({ event: 'connection.evicted', port: victim.port, startups: state.table.unauthenticated }, 'unauthenticated connection evicted to make room');
  victim.abort.abort('evicted');
  victim.socket.destroy();
}

/** OpenSSH LoginGraceTime: ssh2 has no such timer, so a silent socket would stay forever. */
function onGraceExpired(state: ServerState, rec: ConnectionRecord): void {
  if (rec.user || rec.socket.destroyed) return;
  rec.log.info({ event: 'connection.timeout', port: rec.port, seconds: state.config.loginGraceSeconds }, 'no login within the grace time');
  rec.ending = true;
  rec.socket.destroy();
}

function onSocketClose(state: ServerState, rec: ConnectionRecord): void {
  state.table.remove(rec);
  if (rec.countedInStore && rec.user) state.ledger.disconnect(rec.user);
  rec.sessions.clear();
  if (!rec.abort.signal.aborted) rec.abort.abort('connection closed');
  if (rec.user) {
    const durationMs = Date.now() - rec.startedAt;
    rec.log.info({ event: 'session.end', port: rec.port, durationMs }, 'session ended');
    state.observer.observe({ event: 'logout', user: rec.user, address: rec.address });
  } else {
    countAbandonedCheck(state, rec);
    countUnauthenticatedClose(state, rec);
    rec.log.debug({ event: 'connection.end', port: rec.port }, 'connection closed before login');
  }
}

/** Wires ssh2's connection object, emitted once the client sent its identification line. */
export function onClient(state: ServerState, client: Connection, info: ClientInfo): void {
  client.on('error', () => {}); // first, so nothing below can leave an error unhandled
  const rec = state.table.find(normalizeAddress(info.ip), info.port);
  if (!rec || rec.ending) {
    client.end();
    return;
  }
  rec.client = client;
  if (!dropSha1HostKey(client)) {
    rec.log.error({ event: 'connection.refused', reason: 'cannot restrict host key algorithms' }, 'ssh2 internals changed: refusing rather than offering SHA-1 host key signatures');
    client.end();
    return;
  }
  client.on('error', (err: Error & { level?: string }) => rec.log.debug({ event: 'connection.error', err: err.message, level: err.level }, 'connection error'));
  rec.log.info({ event: 'connection', port: rec.port, client: clip(info.header.identRaw ?? '', 128) }, 'connection');
  let firstKex = true;
  client.on('handshake', (negotiated) => {
    // Each key exchange installs a new cipher: its packets come from the pool (ssh-packets.ts).
    const pooled = poolPackets((client as unknown as { _protocol?: unknown })._protocol);
    rec.log.debug({ event: 'handshake', ...negotiated, pooled }, 'key exchange done');
    if (firstKex) state.observer.observe({ event: 'handshake', seconds: (Date.now() - rec.startedAt) / 1000 });
    firstKex = false;
  });
  client.on('authentication', (ctx: AuthContext) => onAuthentication(state, rec, ctx));
  client.on('session', (accept, reject) => onSession(state, rec, accept, reject));
  // Port forwarding both ways, and unix-socket forwarding: refused (ssh2 would auto-reject too,
  // but saying it ourselves puts it in the log).
  client.on('tcpip', (_accept, reject, fwd) => refuseForward(rec, reject, 'direct-tcpip', `${clip(fwd.destIP)}:${fwd.destPort}`));
  client.on('openssh.streamlocal', (_accept, reject) => refuseForward(rec, reject, 'direct-streamlocal', ''));
  client.on('request', (_accept, reject, name) => refuseForward(rec, reject, name, ''));
}

function refuseForward(rec: ConnectionRecord, reject: (() => void) | undefined, kind: string, target: string): void {
  rec.log.info({ event: 'forward.refused', kind, target }, 'forwarding refused');
  reject?.();
}
