/**
 * What the scp sink and source share: the session's Vfs and channel, the options of the command,
 * the error texts a client may see, and the transfer log line.
 */
import type { FileEventSink, TransferOutcome } from '../events/events.js';
import type { Logger } from '../util/logger.js';
import type { Vfs } from '../vfs/vfs.js';
import { toVfsError } from '../vfs/vfs-error.js';
import { normalizePath } from '../vfs/virtual-path.js';
import type { ScpReader, ScpWriter } from './channel-io.js';

/** One scp session: its Vfs, channel and options. */
export interface ScpContext {
  vfs: Vfs;
  reader: ScpReader;
  writer: ScpWriter;
  log: Logger;
  recursive: boolean;
  preserve: boolean;
  /** The name a download of the whole home (`scp -r host:/ .`) is sent under. */
  rootName: string;
  /** Says whether a file is being transferred (shutdown waits for it). */
  setBusy(busy: boolean): void;
  /** Marks the session active (a download sends data without receiving any). */
  touch(): void;
  /** Errors sent to the client so far (any makes the exit status 1). */
  errors: number;
  /** Where files opened and closed, folders made and quota refusals are reported. */
  events: FileEventSink;
}

/**
 * Ends the session after sending `\x02scp: message` (OpenSSH's scp prints it and exits 1; pscp
 * too). Used for protocol errors, refused names and an exceeded quota.
 */
export class ScpFatalError extends Error {}

/** The client sent a fatal error record (\x02): end without answering. */
export class ScpClientFatal extends Error {}

/**
 * The text of an error for the client: Coffer's fixed messages (never a node:fs message, which
 * holds host paths), with OpenSSH's wording for a missing file.
 */
export function errorText(err: unknown): string {
  const e = toVfsError(err);
  return e.code === 'NOT_FOUND' ? 'No such file or directory' : e.message;
}

export type { TransferOutcome } from '../events/events.js';

/**
 * A file opened by the session was closed: reports it (a transfer when `logged`) and logs the
 * transfer as the SFTP engine does (SPEC §5; the log says `error` for an exceeded quota).
 */
export function fileClosed(ctx: ScpContext, path: string, direction: 'upload' | 'download', bytes: number, startedAt: number, outcome: TransferOutcome, logged = true): void {
  ctx.events({ event: 'file-close', path, transfer: logged ? direction : null, bytes, outcome });
  if (!logged) return;
  const shown = outcome === 'quota-exceeded' ? 'error' : outcome;
  ctx.log.info({ event: 'transfer', protocol: 'scp', path: canonical(path), direction, bytes, durationMs: Date.now() - startedAt, outcome: shown }, 'transfer');
}

/** The canonical virtual path ("/a/b") for logs; the text itself if it cannot name a file. */
function canonical(path: string): string {
  try {
    return normalizePath(path);
  } catch {
    return path;
  }
}

/** Joins a virtual folder path and a name. */
export function joinPath(dir: string, name: string): string {
  return dir.endsWith('/') ? dir + name : `${dir}/${name}`;
}
