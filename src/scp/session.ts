/**
 * One legacy scp session on an exec channel: runs the sink (`-t`) or the source (`-f`) of a parsed
 * command on the session's Vfs and returns the exit status, 0 when nothing went wrong and 1
 * otherwise (as OpenSSH's scp: `exit(errs != 0)`). A fatal error is sent as `\x02scp: ...` first.
 */
import type { Duplex } from 'node:stream';
import type { FileEventSink } from '../events/events.js';
import type { Logger } from '../util/logger.js';
import type { Vfs } from '../vfs/vfs.js';
import { ScpConnectionLost, ScpReader, ScpWriter } from './channel-io.js';
import { wordPath, type ScpCommand } from './command.js';
import { ScpClientFatal, ScpFatalError, type ScpContext } from './context.js';
import { errorRecord, ScpProtocolError } from './records.js';
import { runSink } from './sink.js';
import { runSource } from './source.js';

/** What a session needs besides the channel and the command. */
export interface ScpSessionOptions {
  vfs: Vfs;
  log: Logger;
  /** Aborted when the session must end (shutdown, user disabled): the transfer stops. */
  signal: AbortSignal;
  /** The name a download of the whole home is sent under. */
  rootName: string;
  setBusy(busy: boolean): void;
  touch(): void;
  /** Where files, folders and quota refusals are reported (default: nowhere). */
  events?: FileEventSink;
}

/** Serves `command` on `channel` until done; resolves with the exit status. Never rejects. */
export async function serveScp(channel: Duplex, command: ScpCommand, opts: ScpSessionOptions): Promise<number> {
  const reader = new ScpReader(channel);
  const writer = new ScpWriter(channel);
  const ctx: ScpContext = { ...opts, events: opts.events ?? (() => {}), reader, writer, recursive: command.recursive, preserve: command.preserve, errors: 0 };
  const stop = () => {
    reader.close();
    writer.close();
  };
  opts.signal.addEventListener('abort', stop, { once: true });
  try {
    if (opts.signal.aborted) return 1;
    if (command.mode === 'sink') await runSink(ctx, wordPath(command.paths[0]!), command.targetIsDir);
    else await runSource(ctx, command.paths);
    return ctx.errors === 0 ? 0 : 1;
  } catch (err) {
    const sent = await endWithError(ctx, err);
    reader.close();
    // The client ends the session itself once it read the fatal line. Closing first races it:
    // pscp may see the connection end before it has read the line, and print no reason.
    if (sent) await lingerUntilClosed(channel, opts.signal, LINGER_MS);
    return 1;
  } finally {
    opts.signal.removeEventListener('abort', stop);
    reader.close();
    writer.close();
  }
}

/** How long a session waits for the client to leave after a fatal error line. */
const LINGER_MS = 5000;

/** Resolves once the client closed its side (its data is dropped), the session aborts, or `ms` pass. */
function lingerUntilClosed(channel: Duplex, signal: AbortSignal, ms: number): Promise<void> {
  return new Promise((resolve) => {
    if (channel.destroyed || channel.readableEnded || signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      channel.off('end', done).off('close', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    channel.on('end', done).on('close', done);
    signal.addEventListener('abort', done, { once: true });
    channel.resume();
  });
}

/** Logs how the session ended and sends a fatal error line when there is one; true if it sent one. */
async function endWithError(ctx: ScpContext, err: unknown): Promise<boolean> {
  const send = (message: string) => ctx.writer.write(errorRecord(message, true)).then(() => true, () => false);
  if (err instanceof ScpFatalError) {
    ctx.log.info({ event: 'scp.fatal', reason: err.message }, 'scp stopped');
    return send(err.message);
  }
  // A status byte out of step, or a client's error line past its length limit.
  if (err instanceof ScpProtocolError) {
    ctx.log.info({ event: 'scp.fatal', reason: `protocol error: ${err.message}` }, 'scp stopped');
    return send(`protocol error: ${err.message}`);
  }
  if (err instanceof ScpConnectionLost) {
    ctx.log.info({ event: 'scp.lost' }, 'scp connection lost');
  } else if (err instanceof ScpClientFatal) {
    ctx.log.info({ event: 'scp.client_fatal' }, 'scp client stopped');
  } else {
    ctx.log.error({ event: 'scp.error', err: err instanceof Error ? err.message : String(err) }, 'scp failed');
    return send('internal error');
  }
  return false;
}
