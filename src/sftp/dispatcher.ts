/**
 * The dispatcher: one table from request kind to operation (OpenSSH's sftp_handler table with its
 * does_write flag), and the list of extensions the VERSION reply advertises — exactly those with
 * an operation here.
 */
import { ExtensionName, SERVER_EXTENSIONS, StatusCode } from './constants.js';
import type { Operation, SftpContext } from './context.js';
import { CHECKSUM_OPS } from './ops/checksum-ops.js';
import { EXTENSION_OPS } from './ops/extension-ops.js';
import { FILE_OPS } from './ops/file-ops.js';
import { PATH_OPS } from './ops/path-ops.js';
import { encodeStatus } from './packets/status.js';
import type { SftpIdRequest } from './request-types.js';
import { VfsError } from '../vfs/vfs-error.js';

type AnyOperation = Operation<SftpIdRequest>;

/** Operations by request kind. Kinds missing here answer OP_UNSUPPORTED. */
export const OPERATIONS: Partial<Record<SftpIdRequest['kind'], AnyOperation>> = {
  ...(FILE_OPS as Record<string, AnyOperation>),
  ...(PATH_OPS as Record<string, AnyOperation>),
  ...(EXTENSION_OPS as Record<string, AnyOperation>),
  ...(CHECKSUM_OPS as Record<string, AnyOperation>),
};

/** Request kind of each advertised extension name (check-file covers both check-file requests). */
const EXTENSION_KIND: Record<string, SftpIdRequest['kind']> = {
  [ExtensionName.POSIX_RENAME]: 'posix-rename',
  [ExtensionName.STATVFS]: 'statvfs',
  [ExtensionName.FSTATVFS]: 'fstatvfs',
  [ExtensionName.FSYNC]: 'fsync',
  [ExtensionName.LIMITS]: 'limits',
  [ExtensionName.EXPAND_PATH]: 'expand-path',
  [ExtensionName.HOME_DIRECTORY]: 'home-directory',
  [ExtensionName.COPY_DATA]: 'copy-data',
  [ExtensionName.CHECK_FILE]: 'check-file-name',
};

/** The (name, data) pairs for VERSION: SPEC §5's list, less what is not implemented yet. */
export const ADVERTISED_EXTENSIONS = SERVER_EXTENSIONS.filter(([name]) => {
  const kind = EXTENSION_KIND[name];
  return kind !== undefined && OPERATIONS[kind] !== undefined;
});

/** True when `req` may change the disk, by its operation's `writes` flag. */
export function writes(op: AnyOperation, req: SftpIdRequest): boolean {
  return typeof op.writes === 'function' ? op.writes(req) : op.writes;
}

/**
 * Runs one request; resolves its reply, or rejects with the error toStatus will map. Never throws:
 * an operation that fails before its first await (an unknown handle) still becomes a rejection.
 * The one place a read-only session is enforced: a writing request is refused (PERMISSION_DENIED)
 * before its operation runs, so the Vfs is never asked (OpenSSH's sftp-server -R: does_write).
 */
export function dispatch(ctx: SftpContext, req: SftpIdRequest): Promise<Buffer> {
  const op = OPERATIONS[req.kind];
  if (!op) return Promise.resolve(encodeStatus(req.id, StatusCode.OP_UNSUPPORTED));
  if (ctx.readOnly && writes(op, req)) return Promise.reject(new VfsError('DENIED', 'This session is read-only'));
  try {
    return op.run(ctx, req);
  } catch (err) {
    return Promise.reject(err);
  }
}
