/**
 * Writes to the SQLite file that another connection may hold locked (a coffer-users command, or
 * another worker's transaction). The server's connection has a short busy timeout (server.ts), so
 * better-sqlite3 never blocks the event loop for long; instead a write that finds the file locked
 * is tried again after a growing pause, for up to LOCKED_RETRY_MS, without blocking anything.
 */

/** How long a write keeps trying while the file is locked (ms). */
export const LOCKED_RETRY_MS = 15_000;

const isBusy = (err: unknown): boolean => /^SQLITE_(BUSY|LOCKED)/.test((err as { code?: string }).code ?? '');

/** Runs the synchronous write `fn`, again while SQLite answers BUSY or LOCKED (see above). */
export async function whenUnlocked<T>(fn: () => T): Promise<T> {
  const deadline = Date.now() + LOCKED_RETRY_MS;
  for (let wait = 5; ; wait = Math.min(100, wait * 2)) {
    try {
      return fn();
    } catch (err) {
      if (!isBusy(err) || Date.now() >= deadline) throw err;
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}
