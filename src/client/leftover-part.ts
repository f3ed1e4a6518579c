/**
 * What a stopped transfer leaves in NAME.coffer-part, and the error line that says so. A part
 * holding data worth resuming is kept and named with its size; one that holds nothing (the server
 * refused the first WRITE with `Quota exceeded`, Ctrl-C before the first byte arrived) is removed,
 * so a refused put no longer leaves a silent 0-byte part in the home. A part that already held
 * data before this attempt is never removed.
 */
import { ClientError } from './errors.js';
import { remoteError } from './remote-ops.js';
import { TransferStopped } from './transfer.js';

/** The part file on either side (remote for put, local for get). */
export interface PartFile {
  /** Its path as the user names it. */
  path: string;
  /** Its size, or null when there is none; rejects when that cannot be known. */
  size(): Promise<number | null>;
  remove(): Promise<void>;
}

/**
 * Settles the part after a transfer stopped with `held` bytes in it known good (the resume offset,
 * or what arrived in order); `made` says whether this attempt created or emptied it. Resolves
 * with the note that ends the error line ("" when nothing is left).
 */
export async function settlePart(part: PartFile, held: number, made: boolean): Promise<string> {
  if (held > 0) return `; ${held} bytes kept in ${part.path}, run the same command again to resume`;
  const size = await part.size().catch(() => undefined);
  if (size === null) return '';
  // Unknown (the connection is gone): what this attempt made is there, and empty.
  if (size === undefined) return made ? `; an empty ${part.path} is left` : '';
  if (size > 0) return `; ${part.path} is kept (${size} bytes from an earlier attempt)`;
  // Nothing worth resuming: a rerun starts from the first byte anyway.
  return part.remove().then(
    () => '',
    () => `; an empty ${part.path} is left`,
  );
}

/**
 * The one line for a transfer that stopped with `err`: why, then `note`. Codes survive
 * (COFFER_INTERRUPTED becomes exit status 130); an error that already names what failed keeps
 * its words.
 */
export function stoppedError(name: string, err: unknown, note: string): Error {
  if (err instanceof TransferStopped) {
    const e = remoteError(name, err.cause);
    const message = e.message.startsWith(`${name}:`) ? e.message : `${name}: ${e.message}`;
    return new ClientError(e.code, `${message}${note}`);
  }
  if (!note) return err instanceof Error ? err : new Error(String(err));
  const e = remoteError(name, err);
  return new ClientError(e.code, `${e.message}${note}`);
}
