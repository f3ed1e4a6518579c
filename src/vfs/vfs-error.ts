/**
 * Errors of the virtual filesystem. Their messages are safe to show a client (no host path);
 * the SFTP layer maps `code` to a status in one place. Errors from node:fs pass through unchanged
 * and are mapped by their errno `code` alone: their messages hold host paths and are only logged.
 */

/** What went wrong, independent of the protocol. */
export type VfsErrorCode =
  | 'NOT_FOUND' // missing, outside the jail, or an unusable name: all answer the same
  | 'DENIED'
  | 'EXISTS'
  | 'NOT_A_FILE' // a folder, FIFO, device or socket where a regular file is needed
  | 'NOT_A_DIR'
  | 'UNSUPPORTED'
  | 'FAILURE';

/** A filesystem refusal with a client-safe message. */
export class VfsError extends Error {
  constructor(
    readonly code: VfsErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** The one answer for anything missing or outside the home: the same text either way. */
export const notFound = (): VfsError => new VfsError('NOT_FOUND', 'No such file');
