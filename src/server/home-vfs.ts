/**
 * What a session works on: the user's home as a jailed Vfs, with the user's quota (shared by their
 * sessions here, from the ledger) and their namespace lock (shared likewise, vfs/user-locks.ts),
 * and the server's settings (symlinks, metadataIo, sharedHome). One place for the SFTP, scp and
 * checksum routes; close() gives the quota and the lock back.
 */
import type { UserQuota } from '../quota/user-quota.js';
import { LocalVfs } from '../vfs/local-vfs.js';
import type { SessionContext } from './session-router.js';

/**
 * True when other processes may serve the same users on the same homes at once: workers of this
 * server, or nodes sharing a PostgreSQL store (and, by the deployment guide, the homes folder).
 */
export const homesShared = (ctx: Pick<SessionContext, 'config' | 'store'>): boolean => ctx.config.workers > 1 || ctx.store.kind === 'postgres';

/** A session's home. */
export interface SessionHome {
  vfs: LocalVfs;
  quota: UserQuota;
  /** Lets go of the quota and the lock (once). */
  close(): void;
}

/** Opens `ctx.user`'s home for one session; pair with close(). */
export async function openHome(ctx: SessionContext): Promise<SessionHome> {
  const quota = await ctx.ledger.acquire(ctx.user);
  const lock = ctx.locks.acquire(ctx.user);
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    ctx.locks.release(ctx.user);
    ctx.ledger.release(ctx.user);
  };
  try {
    const vfs = await LocalVfs.create(ctx.home, { symlinks: ctx.config.symlinks, quota, lock, metadataIo: ctx.config.metadataIo, sharedHome: homesShared(ctx) });
    return { vfs, quota, close };
  } catch (err) {
    close();
    throw err;
  }
}
