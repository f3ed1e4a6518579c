/**
 * Exec route of legacy scp (`scp -O`, PuTTY's pscp): `scp ... -t PATH` / `scp ... -f PATH...` on a
 * jailed LocalVfs that shares the user's quota, like the `sftp` subsystem. Served only while the
 * `legacyScp` setting is on; otherwise the command falls through to the SFTP-only refusal. A
 * command line this server will not run gets one `scp: ...` line on stderr and exit status 1.
 */
import { openHome } from './home-vfs.js';
import type { ServerChannel } from 'ssh2';
import { isScpCommand, parseScpCommand, ScpCommandError, type ScpCommand } from '../scp/command.js';
import { serveScp } from '../scp/session.js';
import type { ExecRoute, SessionContext } from './session-router.js';

/** Sends the exit status and closes the channel (it may already be gone). */
function finish(channel: ServerChannel, status: number): void {
  try {
    channel.exit(status);
  } catch {
    // the client closed the channel first
  }
  channel.end();
}

/** Runs a parsed command with the user's quota held for the session's length. */
async function runScp(channel: ServerChannel, command: ScpCommand, ctx: SessionContext): Promise<number> {
  const home = await openHome(ctx);
  let busy = false;
  try {
    ctx.isBusy = () => busy;
    return await serveScp(channel, command, {
      vfs: home.vfs,
      log: ctx.log,
      signal: ctx.signal,
      rootName: ctx.user,
      setBusy: (b) => (busy = b),
      touch: () => ctx.touch(),
      events: ctx.fileEvents('scp'),
    });
  } finally {
    home.close();
  }
}

/** ExecRoute for `scp -t` / `scp -f`. */
export const scpRoute: ExecRoute = {
  name: 'scp',
  matches: (command, ctx) => ctx.config.legacyScp && isScpCommand(command),
  async run(channel, command, ctx) {
    let parsed: ScpCommand;
    try {
      parsed = parseScpCommand(command);
    } catch (err) {
      if (!(err instanceof ScpCommandError)) throw err;
      ctx.log.info({ event: 'scp.refused', reason: err.message }, 'scp command refused');
      channel.stderr.write(`scp: ${err.message}\n`);
      return finish(channel, 1);
    }
    ctx.log.info({ event: 'scp.start', mode: parsed.mode, recursive: parsed.recursive, preserve: parsed.preserve }, 'scp started');
    finish(channel, await runScp(channel, parsed, ctx));
  },
};
