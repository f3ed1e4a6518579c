/**
 * The Vfs a session works on: the user's home, jailed, with the user's quota and the server's
 * settings (symlinks, metadataIo). One place for the SFTP, scp and checksum routes.
 */
import type { UserQuota } from '../quota/user-quota.js';
import { LocalVfs } from '../vfs/local-vfs.js';
import type { SessionContext } from './session-router.js';

/**
 * True when other processes may serve the same users on the same homes at once: workers of this
 * server, or nodes sharing a PostgreSQL store (and, by the deployment guide, the homes folder).
 */
export const homesShared = (ctx: Pick<SessionContext, 'config' | 'store'>): boolean => ctx.config.workers > 1 || ctx.store.kind === 'postgres';

/** The session's Vfs on `ctx.home`, accounting to `quota`. */
export function homeVfs(ctx: SessionContext, quota: UserQuota): Promise<LocalVfs> {
  return LocalVfs.create(ctx.home, { symlinks: ctx.config.symlinks, quota, metadataIo: ctx.config.metadataIo, sharedHome: homesShared(ctx) });
}
