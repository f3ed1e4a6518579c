/**
 * Errors of the virtual filesystem. Their messages are safe to show a client (no host path).
 * Errors from node:fs pass through a Vfs unchanged; `toVfsError` turns any error into a VfsError
 * by its errno `code` alone (an fs message holds host paths and is only logged), so SFTP's status
 * mapping and scp's error records share one table, below both of them.
 */
import { QuotaExceededError, QuotaUnavailableError } from '../quota/user-quota.js';

/** What went wrong, independent of the protocol. */
export type VfsErrorCode =
  | 'NOT_FOUND' // missing, outside the jail, or an unusable name: all answer the same
  | 'DENIED'
  | 'EXISTS'
  | 'NOT_A_FILE' // a folder, FIFO, device or socket where a regular file is needed
  | 'NOT_A_DIR'
  | 'UNSUPPORTED'
  | 'QUOTA_EXCEEDED' // growth or a new entry past the user's quota (SPEC §5)
  | 'UNAVAILABLE' // growth that the store could not be asked for (SPEC §7)
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

// errno -> code and fixed text, after OpenSSH's errno_to_portable() (whose status each code maps to).
const ERRNO: Record<string, [VfsErrorCode, string]> = {
  ENOENT: ['NOT_FOUND', 'No such file'],
  ENOTDIR: ['NOT_FOUND', 'No such file'],
  ELOOP: ['NOT_FOUND', 'No such file'],
  EBADF: ['NOT_FOUND', 'No such file'],
  EPERM: ['DENIED', 'Permission denied'],
  EACCES: ['DENIED', 'Permission denied'],
  EROFS: ['DENIED', 'Read-only file system'],
  EEXIST: ['EXISTS', 'File exists'],
  ENOTEMPTY: ['FAILURE', 'Directory not empty'],
  EISDIR: ['NOT_A_FILE', 'Is a directory'],
  EINVAL: ['FAILURE', 'Invalid argument'],
  ENAMETOOLONG: ['FAILURE', 'File name too long'],
  ENOSPC: ['FAILURE', 'No space left on device'],
  EDQUOT: ['FAILURE', 'Disk quota exceeded'],
  EFBIG: ['FAILURE', 'File too large'],
  EXDEV: ['FAILURE', 'Cross-device link'],
  EBUSY: ['FAILURE', 'Resource busy'],
  EMFILE: ['FAILURE', 'Too many open files'],
  ENFILE: ['FAILURE', 'Too many open files'],
  ENOSYS: ['UNSUPPORTED', 'Operation unsupported'],
  ENOTSUP: ['UNSUPPORTED', 'Operation unsupported'],
  EOPNOTSUPP: ['UNSUPPORTED', 'Operation unsupported'],
};

/**
 * Any error as a VfsError a client may see: a VfsError as it is, an exceeded quota (or a store that
 * cannot grant space) as QUOTA_EXCEEDED (UNAVAILABLE) with its fixed message (v3 has no quota status; SFTPGo answers FAILURE too), a node:fs error by its
 * errno code, anything else as FAILURE 'Failure'.
 */
export function toVfsError(err: unknown): VfsError {
  if (err instanceof VfsError) return err;
  if (err instanceof QuotaExceededError) return new VfsError('QUOTA_EXCEEDED', err.message);
  if (err instanceof QuotaUnavailableError) return new VfsError('UNAVAILABLE', err.message);
  const errno = (err as NodeJS.ErrnoException | null)?.code;
  const known = typeof errno === 'string' && Object.hasOwn(ERRNO, errno) ? ERRNO[errno]! : null;
  return known ? new VfsError(known[0], known[1]) : new VfsError('FAILURE', 'Failure');
}
