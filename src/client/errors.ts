/**
 * The client's typed errors. Each has a stable code; the program turns them into exit statuses in
 * one place (cli/client/main.ts): a verification mismatch is 3, an interruption 130, the rest 1.
 */

/** Anything the client reports as one line: a refused host key, a failed command, a lost connection. */
export class ClientError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

/** A wrong command inside the shell or a batch file (exit status 2 when it ends a batch). */
export class CommandUsageError extends ClientError {
  constructor(message: string) {
    super('COFFER_CMD_USAGE', message);
  }
}

/** The server's checksum and the local one differ: the part file is kept, exit status 3. */
export class VerifyMismatchError extends ClientError {
  constructor(
    readonly fileName: string,
    readonly localHash: string,
    readonly remoteHash: string,
    readonly partPath: string,
  ) {
    super('COFFER_VERIFY_MISMATCH', `${fileName}: checksum mismatch: local sha256 ${localHash}, server sha256 ${remoteHash} (kept ${partPath})`);
  }
}

/** The server offers no way to hash a file (neither check-file nor exec sha256sum). */
export class NoRemoteHashError extends ClientError {
  constructor(detail: string) {
    super('COFFER_NO_REMOTE_HASH', `the server cannot compute checksums (${detail}); rerun with --no-verify to transfer without verification`);
  }
}

/** The user interrupted a transfer (Ctrl-C): the part file is kept for a resume. */
export class InterruptedError extends ClientError {
  constructor(message = 'interrupted') {
    super('COFFER_INTERRUPTED', message);
  }
}

/** The host key is unknown and cannot be accepted, or it changed. */
export class HostKeyError extends ClientError {
  constructor(message: string) {
    super('COFFER_HOST_KEY', message);
  }
}
