/**
 * Graceful shutdown (SPEC §5): stop accepting, drop connections that are not logged in, end idle
 * sessions, let busy ones (open transfers) finish for shutdownGraceSeconds, then end the rest.
 * The `shutdown` and `shutdown.done` log lines are the caller's (server.ts): a start stopped
 * before it listened has no connections to drain but logs them too.
 */
import type { Server as NetServer } from 'node:net';
import type { ServerState } from './server-state.js';

const POLL_MS = 100;
/** After ending everything, how long to wait for sockets to close before destroying them (ms). */
const CLOSE_WAIT_MS = 2000;

/** Runs the shutdown sequence; resolves when every connection is closed. */
export async function shutdown(state: ServerState, net: NetServer): Promise<void> {
  state.closing = true;
  const stopped = new Promise<void>((resolve) => net.close(() => resolve()));
  const deadline = Date.now() + state.config.shutdownGraceSeconds * 1000;
  for (;;) {
    endIdle(state);
    if (state.table.size === 0 || Date.now() >= deadline) break;
    await delay(POLL_MS);
  }
  for (const rec of state.table.all()) state.endConnection(rec, 'server shutting down');
  const closeBy = Date.now() + CLOSE_WAIT_MS;
  while (state.table.size > 0 && Date.now() < closeBy) await delay(POLL_MS / 2);
  for (const rec of state.table.all()) rec.socket.destroy();
  await stopped;
}

/** Ends every connection that has no busy session. */
function endIdle(state: ServerState): void {
  for (const rec of state.table.all()) {
    const busy = rec.user !== undefined && [...rec.sessions].some((s) => s.isBusy?.() === true);
    if (!busy) state.endConnection(rec, 'server shutting down');
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
