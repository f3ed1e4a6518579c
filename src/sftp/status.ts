/**
 * The one place where an error becomes an SFTP status (DESIGN.md). Messages are fixed texts or the
 * client-safe messages of Coffer's own errors; a node:fs error's message holds host paths, so only
 * its errno code is read here (the caller logs the full error).
 */
import { QuotaExceededError } from '../quota/user-quota.js';
import { VfsError, type VfsErrorCode } from '../vfs/vfs-error.js';
import { StatusCode } from './constants.js';
import { SftpCodecError } from './errors.js';
import { HandleError } from './handle-table.js';

/** A status to send: code (0-8) and message. */
export interface Status {
  code: number;
  message: string;
}

const VFS_STATUS: Record<VfsErrorCode, number> = {
  NOT_FOUND: StatusCode.NO_SUCH_FILE,
  DENIED: StatusCode.PERMISSION_DENIED,
  EXISTS: StatusCode.FAILURE,
  NOT_A_FILE: StatusCode.FAILURE,
  NOT_A_DIR: StatusCode.FAILURE,
  UNSUPPORTED: StatusCode.OP_UNSUPPORTED,
  FAILURE: StatusCode.FAILURE,
};

// errno -> status, after OpenSSH's errno_to_portable(), with a fixed message each.
const ERRNO_STATUS: Record<string, Status> = {
  ENOENT: { code: StatusCode.NO_SUCH_FILE, message: 'No such file' },
  ENOTDIR: { code: StatusCode.NO_SUCH_FILE, message: 'No such file' },
  ELOOP: { code: StatusCode.NO_SUCH_FILE, message: 'No such file' },
  EBADF: { code: StatusCode.NO_SUCH_FILE, message: 'No such file' },
  EPERM: { code: StatusCode.PERMISSION_DENIED, message: 'Permission denied' },
  EACCES: { code: StatusCode.PERMISSION_DENIED, message: 'Permission denied' },
  EROFS: { code: StatusCode.PERMISSION_DENIED, message: 'Read-only file system' },
  EEXIST: { code: StatusCode.FAILURE, message: 'File exists' },
  ENOTEMPTY: { code: StatusCode.FAILURE, message: 'Directory not empty' },
  EISDIR: { code: StatusCode.FAILURE, message: 'Is a directory' },
  EINVAL: { code: StatusCode.FAILURE, message: 'Invalid argument' },
  ENAMETOOLONG: { code: StatusCode.FAILURE, message: 'File name too long' },
  ENOSPC: { code: StatusCode.FAILURE, message: 'No space left on device' },
  EDQUOT: { code: StatusCode.FAILURE, message: 'Disk quota exceeded' },
  EFBIG: { code: StatusCode.FAILURE, message: 'File too large' },
  EXDEV: { code: StatusCode.FAILURE, message: 'Cross-device link' },
  EBUSY: { code: StatusCode.FAILURE, message: 'Resource busy' },
  EMFILE: { code: StatusCode.FAILURE, message: 'Too many open files' },
  ENFILE: { code: StatusCode.FAILURE, message: 'Too many open files' },
  ENOSYS: { code: StatusCode.OP_UNSUPPORTED, message: 'Operation unsupported' },
  ENOTSUP: { code: StatusCode.OP_UNSUPPORTED, message: 'Operation unsupported' },
  EOPNOTSUPP: { code: StatusCode.OP_UNSUPPORTED, message: 'Operation unsupported' },
};

const GENERIC: Status = { code: StatusCode.FAILURE, message: 'Failure' };

/**
 * The status for any error thrown while serving a request. Only Coffer's own errors (VfsError,
 * QuotaExceededError, HandleError, SftpCodecError) pass their messages on: those are fixed texts
 * written for clients and never hold a host path. Every other error, node:fs's included, is mapped
 * by its errno code to a fixed text.
 */
export function toStatus(err: unknown): Status {
  if (err instanceof VfsError) return { code: VFS_STATUS[err.code], message: err.message };
  // v3 has no quota code; SFTPGo answers FAILURE too, and SPEC §5 fixes the message.
  if (err instanceof QuotaExceededError) return { code: StatusCode.FAILURE, message: err.message };
  if (err instanceof HandleError) return { code: StatusCode.FAILURE, message: err.message };
  if (err instanceof SftpCodecError) return { code: err.status, message: err.status === StatusCode.OP_UNSUPPORTED ? 'Operation unsupported' : 'Bad message' };
  const errno = (err as NodeJS.ErrnoException | null)?.code;
  return (typeof errno === 'string' && ERRNO_STATUS[errno]) || GENERIC;
}

/** True when the error is an expected refusal (not worth more than a debug log line). */
export function isExpected(err: unknown): boolean {
  return err instanceof VfsError || err instanceof QuotaExceededError || err instanceof HandleError || err instanceof SftpCodecError || (err as NodeJS.ErrnoException | null)?.code !== undefined;
}
