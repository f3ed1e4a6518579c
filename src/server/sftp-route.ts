/**
 * The `sftp` subsystem: builds the session's jailed LocalVfs on the user's home and serves SFTP v3
 * on the raw channel with Coffer's own codec (no ssh2 'sftp' listener: ssh2's server-side SFTP
 * cannot advertise extensions, see DESIGN.md).
 */
import { openHome } from './home-vfs.js';
import type { ServerChannel } from 'ssh2';
import { serveSftp } from '../sftp/sftp-session.js';
import type { SessionContext } from './session-router.js';

/** SubsystemHandler for `sftp`. */
export async function sftpSubsystem(channel: ServerChannel, ctx: SessionContext): Promise<void> {
  const home = await openHome(ctx);
  try {
    const session = serveSftp(channel, { vfs: home.vfs, user: ctx.user, log: ctx.log, maxHandles: ctx.config.maxHandlesPerSession, signal: ctx.signal, closed: ctx.closed, events: ctx.fileEvents('sftp') });
    ctx.isBusy = () => session.busy;
    await session.done;
  } finally {
    home.close();
  }
}
