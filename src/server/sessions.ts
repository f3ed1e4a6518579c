/**
 * Session channels of an authenticated connection (SPEC §5): subsystems and exec commands go
 * through the SessionRouter; shells get the SFTP-only line; ptys, X11, agent forwarding and env are
 * refused. A channel whose peer announced an absurd maximum packet size is not served: ssh2's
 * write loop would spin forever on a max packet size of 0 (security catalog §4.6).
 */
import type { AcceptConnection, RejectConnection, ServerChannel, Session } from 'ssh2';
import { homeDir } from '../config/paths.js';
import type { SessionKind } from '../events/events.js';
import { clip } from '../util/logger.js';
import type { ConnectionRecord, SessionRecord } from './limits.js';
import { SFTP_ONLY_MESSAGE, type SessionContext } from './session-router.js';
import type { ServerState } from './server-state.js';
import { sessionSink } from './observer.js';

/** Session channels per connection (OpenSSH MaxSessions default). */
export const MAX_SESSIONS_PER_CONNECTION = 10;
/** Smallest max packet size we serve a channel with; real clients announce 16 KiB or more. */
export const MIN_PACKET_SIZE = 1024;
/** A session counts as busy for shutdown while it saw data this recently (ms). */
const BUSY_WINDOW_MS = 2000;

/** Handles ssh2's 'session' event for an authenticated connection. */
export function onSession(state: ServerState, rec: ConnectionRecord, accept: AcceptConnection<Session>, reject: RejectConnection): void {
  if (state.closing || rec.ending || !rec.user || rec.sessions.size >= MAX_SESSIONS_PER_CONNECTION) {
    rec.log.info({ event: 'channel.refused', reason: rec.user ? 'too many sessions or shutting down' : 'not logged in' }, 'session refused');
    reject?.();
    return;
  }
  const session = accept();
  if (!session) return;
  session.on('error', (err: Error) => rec.log.debug({ event: 'channel.error', err: err.message }, 'session error'));
  const packetSize = outgoingPacketSize(session);
  if (!(packetSize >= MIN_PACKET_SIZE)) {
    rec.log.warn({ event: 'channel.refused', reason: 'bad max packet size', packetSize }, 'channel with an absurd max packet size: closing the connection');
    state.endConnection(rec, 'bad channel packet size');
    return;
  }
  const srec: SessionRecord = { lastActivity: Date.now() };
  rec.lastActivity = srec.lastActivity;
  rec.sessions.add(srec);
  const closed = closedSignal(rec.abort.signal);
  session.on('close', () => {
    rec.sessions.delete(srec);
    closed.abort();
  });
  refuseExtras(rec, session);
  session.on('shell', (acceptShell) => withChannel(rec, srec, acceptShell, (ch) => refuseChannel(ch, rec, 'shell')));
  session.on('exec', (acceptExec, _reject, info) => withChannel(rec, srec, acceptExec, (ch) => routeExec(state, rec, srec, closed.signal, ch, info.command)));
  session.on('subsystem', (acceptSub, _reject, info) => routeSubsystem(state, rec, srec, closed.signal, acceptSub, info.name));
}

/**
 * The controller of a session's `closed` signal (SessionContext.closed): aborted by the caller at
 * the session's 'close', or with the connection (whose listener goes once it fired).
 */
function closedSignal(connection: AbortSignal): { signal: AbortSignal; abort(): void } {
  const ctl = new AbortController();
  const abort = (): void => {
    connection.removeEventListener('abort', abort);
    ctl.abort();
  };
  if (connection.aborted) ctl.abort();
  else connection.addEventListener('abort', abort, { once: true });
  return { signal: ctl.signal, abort };
}

/** ssh2 keeps the peer's announced max packet size in the session's private channel info. */
function outgoingPacketSize(session: Session): number {
  const info = (session as unknown as { _chanInfo?: { outgoing?: { packetSize?: unknown } } })._chanInfo;
  const size = info?.outgoing?.packetSize;
  return typeof size === 'number' ? size : 0;
}

function refuseExtras(rec: ConnectionRecord, session: Session): void {
  const refuse = (what: string) => (_accept: unknown, reject: RejectConnection | undefined) => {
    rec.log.debug({ event: 'channel.refused', request: what }, `${what} refused`);
    reject?.();
  };
  session.on('pty', refuse('pty'));
  session.on('x11', refuse('x11'));
  session.on('auth-agent', refuse('agent forwarding'));
  session.on('env', refuse('env'));
  session.on('window-change', refuse('window-change'));
  session.on('signal', refuse('signal'));
}

/** Accepts a shell/exec request and hands the channel on; ssh2's accept returns nothing when too late. */
function withChannel(rec: ConnectionRecord, srec: SessionRecord, accept: AcceptConnection<ServerChannel>, use: (ch: ServerChannel) => void) {
  const channel = accept();
  if (!channel) return;
  prepareChannel(rec, srec, channel);
  use(channel);
}

/** Error listeners, and incoming data counts as activity (idle timeout, shutdown). */
function prepareChannel(rec: ConnectionRecord, srec: SessionRecord, channel: ServerChannel): void {
  const onError = (err: Error) => rec.log.debug({ event: 'channel.error', err: err.message }, 'channel error');
  channel.on('error', onError);
  channel.stderr.on('error', onError);
  // ssh2 delivers CHANNEL_DATA through push(); wrapping it sees traffic without reading the
  // stream, so the handler still gets every byte (and in paused mode, as it wishes).
  const push = channel.push.bind(channel);
  channel.push = (chunk: unknown, encoding?: BufferEncoding) => {
    const now = Date.now();
    srec.lastActivity = now;
    rec.lastActivity = now;
    return push(chunk, encoding);
  };
}

/** Writes the SFTP-only line to stderr, exit status 1, and closes. */
function refuseChannel(channel: ServerChannel, rec: ConnectionRecord, what: string, detail?: string): void {
  rec.log.info({ event: 'channel.refused', request: what, command: detail }, `${what} refused`);
  channel.stderr.write(`${SFTP_ONLY_MESSAGE}\n`);
  channel.exit(1);
  channel.end();
}

function routeExec(state: ServerState, rec: ConnectionRecord, srec: SessionRecord, closed: AbortSignal, channel: ServerChannel, command: string): void {
  const ctx = sessionContext(state, rec, srec, closed);
  let route;
  try {
    route = state.router.exec(command, ctx);
  } catch (err) {
    rec.log.error({ event: 'channel.error', err: err instanceof Error ? err.message : String(err) }, 'exec routing failed');
  }
  if (!route) return refuseChannel(channel, rec, 'exec', clip(command, 200));
  rec.log.info({ event: 'exec', route: route.name, command: clip(command, 200) }, 'exec');
  runHandler(state, rec, channel, route.name === 'scp' ? 'scp' : 'exec', () => route.run(channel, command, ctx));
}

function routeSubsystem(
  state: ServerState,
  rec: ConnectionRecord,
  srec: SessionRecord,
  closed: AbortSignal,
  accept: AcceptConnection<ServerChannel>,
  name: string,
): void {
  const handler = state.router.subsystem(name);
  if (!handler) {
    // Accept, then close with the message and exit status 1: a bare CHANNEL_FAILURE leaves
    // libssh2 (curl) waiting forever.
    withChannel(rec, srec, accept, (channel) => refuseChannel(channel, rec, 'subsystem', clip(name)));
    return;
  }
  withChannel(rec, srec, accept, (channel) => {
    rec.log.info({ event: 'subsystem', subsystem: name }, 'subsystem started');
    runHandler(state, rec, channel, name === 'sftp' ? 'sftp' : 'exec', () => handler(channel, sessionContext(state, rec, srec, closed)));
  });
}

/**
 * Runs a handler, counted as a session of `kind` while it runs; a throw or rejection is logged and
 * ends the channel, never the process.
 */
function runHandler(state: ServerState, rec: ConnectionRecord, channel: ServerChannel, kind: SessionKind, run: () => void | Promise<void>): void {
  const fail = (err: unknown) => {
    rec.log.error({ event: 'channel.error', err: err instanceof Error ? err.message : String(err) }, 'session handler failed');
    channel.exit(1);
    channel.end();
  };
  state.observer.observe({ event: 'session-start', kind });
  const ended = () => state.observer.observe({ event: 'session-end', kind });
  try {
    Promise.resolve(run()).catch(fail).finally(ended);
  } catch (err) {
    fail(err);
    ended();
  }
}

function sessionContext(state: ServerState, rec: ConnectionRecord, srec: SessionRecord, closed: AbortSignal): SessionContext {
  const user = rec.user!;
  const ctx: SessionContext = {
    user,
    home: homeDir(state.config.paths, user),
    config: state.config,
    log: rec.log,
    store: state.store,
    ledger: state.ledger,
    locks: state.locks,
    address: rec.address,
    port: rec.port,
    connectionId: rec.id,
    signal: rec.abort.signal,
    closed,
    touch: () => {
      srec.lastActivity = rec.lastActivity = Date.now();
    },
    fileEvents: (protocol) => sessionSink(state.observer, { user, address: rec.address, protocol, home: homeDir(state.config.paths, user) }),
  };
  // Shutdown asks the record; the handler may install its own answer on the context.
  srec.isBusy = () => (ctx.isBusy ? ctx.isBusy() : Date.now() - srec.lastActivity < BUSY_WINDOW_MS);
  return ctx;
}
