/**
 * What the server reports to its observers (metrics, hooks): one small union of events, emitted
 * where the log lines already are. Observers never sit in the data path: emitting is a
 * synchronous call that never throws and never waits (server/observer.ts guards it).
 * This layer imports nothing, so sftp/ and scp/ can report without knowing who listens.
 */

/** The file protocol a session speaks. */
export type Protocol = 'sftp' | 'scp';

/** How a transfer ended: `error` is a server-side failure other than the quota (a disk error). */
export type TransferOutcome = 'ok' | 'interrupted' | 'quota-exceeded' | 'error';

/** The kinds of session channel counted by coffer_sessions. */
export type SessionKind = 'sftp' | 'scp' | 'exec';

/**
 * What a protocol engine (sftp/, scp/) reports about one session's files. Paths are as the client
 * sent them (virtual, maybe relative to `/`); the server normalises them.
 */
export type FileEvent =
  /** A file was opened (SFTP OPEN, an scp C record or a file sent). */
  | { event: 'file-open' }
  /**
   * A file opened before was closed. `transfer` says what it was: written through the handle or
   * opened for writing (upload), read at least once (download), or neither (null).
   */
  | { event: 'file-close'; path: string; transfer: 'upload' | 'download' | null; bytes: number; outcome: TransferOutcome }
  | { event: 'remove' | 'mkdir' | 'rmdir'; path: string }
  | { event: 'rename'; path: string; target: string }
  /** A write or create was refused because the quota is used (the path when known). */
  | { event: 'quota-refused'; path?: string };

/** Receives a session's file events. Must not throw or block. */
export type FileEventSink = (e: FileEvent) => void;

/** Who a file event belongs to: filled in by the server, never by sftp/ or scp/. */
export interface SessionInfo {
  user: string;
  address: string;
  protocol: Protocol;
  /** The user's home on the host: localPath = home + the virtual path. */
  home: string;
}

/** Result label of coffer_auth_attempts_total. */
export type AuthResult = 'success' | 'failure' | 'refused' | 'error';

/** Everything the server reports; `file` wraps a session's FileEvent with its session. */
export type ServerEvent =
  | { event: 'handshake'; seconds: number }
  | { event: 'auth'; method: string; result: AuthResult }
  /** A user logged in; `seconds` from the connection's accept to the accepted authentication. */
  | { event: 'login'; user: string; address: string; seconds: number }
  | { event: 'logout'; user: string; address: string }
  | { event: 'ban' }
  | { event: 'session-start' | 'session-end'; kind: SessionKind }
  | { event: 'store'; up: boolean }
  | { event: 'file'; session: SessionInfo; file: FileEvent };

/** Something that observes the server. observe() must not throw, block or wait. */
export interface Observer {
  observe(e: ServerEvent): void;
}

/** An observer that ignores everything (the default). */
export const NO_OBSERVER: Observer = { observe: () => {} };
