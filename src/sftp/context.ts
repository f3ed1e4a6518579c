/**
 * What every SFTP operation of one session works with, and the shape of an operation: the
 * dispatcher's table maps each request kind to one of these (OpenSSH's sftp_handler table).
 */
import type { FileEventSink } from '../events/events.js';
import type { Logger } from '../util/logger.js';
import type { Vfs } from '../vfs/vfs.js';
import type { HandleTable } from './handle-table.js';
import type { RequestOfKind, SftpIdRequest } from './request-types.js';

/** Per-session state shared by the operations. */
export interface SftpContext {
  vfs: Vfs;
  handles: HandleTable;
  /** The user's name: owner and group in longnames, the one home-directory answers for. */
  user: string;
  log: Logger;
  /** Aborted when the session ends (channel closed, connection gone): long work is dropped. */
  signal: AbortSignal;
  /** A read-only session: the dispatcher refuses every request whose operation `writes`. */
  readOnly: boolean;
  /** Where opened and closed files and namespace changes are reported (metrics, hooks). */
  events: FileEventSink;
}

/** One request kind's handler; resolves the encoded reply, or throws (mapped by toStatus). */
export interface Operation<R extends SftpIdRequest> {
  /**
   * True when the request may change the disk (OpenSSH's does_write flag); a function where it
   * depends on the request (OPEN: its flags, as OpenSSH's process_open checks them).
   */
  writes: boolean | ((req: R) => boolean);
  run(ctx: SftpContext, req: R): Promise<Buffer>;
}

/** Operations by request kind, for a subset of kinds. */
export type OperationTable<K extends SftpIdRequest['kind']> = {
  [P in K]: Operation<RequestOfKind<P>>;
};
