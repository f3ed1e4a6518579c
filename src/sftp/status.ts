/**
 * The one place where an error becomes an SFTP status (DESIGN.md). Messages are fixed texts or the
 * client-safe messages of Coffer's own errors; a node:fs error's message holds host paths, so only
 * its errno code is read here (the caller logs the full error).
 */
import { toVfsError, VfsError, type VfsErrorCode } from '../vfs/vfs-error.js';
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
  // v3 has no quota status: FAILURE with the fixed text, as SFTPGo and OpenSSH's EDQUOT answer.
  QUOTA_EXCEEDED: StatusCode.FAILURE,
  UNAVAILABLE: StatusCode.FAILURE,
  FAILURE: StatusCode.FAILURE,
};

/**
 * The status for any error thrown while serving a request. Only Coffer's own errors (VfsError,
 * the quota's refusals, HandleError, SftpCodecError) pass their messages on: those are fixed texts
 * written for clients and never hold a host path. Every other error, node:fs's included, is mapped
 * by its errno code to a fixed text.
 */
export function toStatus(err: unknown): Status {
  if (err instanceof HandleError) return { code: StatusCode.FAILURE, message: err.message };
  if (err instanceof SftpCodecError) return { code: err.status, message: err.status === StatusCode.OP_UNSUPPORTED ? 'Operation unsupported' : 'Bad message' };
  // VfsErrors, the quota's refusal and errno codes: one table, shared with scp (vfs-error.ts).
  const e = toVfsError(err);
  return { code: VFS_STATUS[e.code], message: e.message };
}

/** True when the error is an expected refusal (not worth more than a debug log line). */
export function isExpected(err: unknown): boolean {
  // The quota's refusals carry a `code` too (COFFER_QUOTA_*), as errno errors do.
  return err instanceof VfsError || err instanceof HandleError || err instanceof SftpCodecError || (err as NodeJS.ErrnoException | null)?.code !== undefined;
}
