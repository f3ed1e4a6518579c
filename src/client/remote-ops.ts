/**
 * Promise wrappers over the raw ssh2 SFTP object for what the transfer loops need (open, fstat,
 * fsetstat, close, posix-rename...), and the one function that turns an SFTP or library error
 * into the short text the client prints (`No such file or directory`, `Quota exceeded`).
 */
import type { InputAttributes, SFTPWrapper, Stats } from 'ssh2';
import { StatusCode, statusMessage } from '../sftp/constants.js';
import { ClientError } from './errors.js';

/**
 * The text the client prints for a STATUS: `No such file or directory` as OpenSSH's sftp words
 * it, the standard text of the other codes (OpenSSH's wording, sftp/constants.ts), and for
 * FAILURE and codes past v3's the server's own message (else `status N`).
 */
export function statusReason(code: number, message: string): string {
  if (code === StatusCode.NO_SUCH_FILE) return 'No such file or directory';
  if (code > StatusCode.OK && code <= StatusCode.OP_UNSUPPORTED && code !== StatusCode.FAILURE) return statusMessage(code);
  return message || `status ${code}`;
}

/** The SFTP status code of an error from ssh2 or ssh2-sftp-client, if it has one. */
export function sftpCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'number' ? code : undefined;
}

/** A short reason for an error: standard text for known statuses, else the server's message. */
export function reasonOf(err: unknown): string {
  const code = sftpCode(err);
  const message = err instanceof Error ? err.message : String(err);
  // ssh2-sftp-client prefixes its method name ("list: ", "_xstat->...: ").
  const text = message.replace(/^[\w>-]+: /, '').trim() || 'failed';
  return code === undefined ? text : statusReason(code, text);
}

/** A ClientError `what: reason`, e.g. `/a/b: No such file or directory`. */
export function remoteError(what: string, err: unknown): ClientError {
  if (err instanceof ClientError) return err;
  return new ClientError('COFFER_REMOTE', `${what}: ${reasonOf(err)}`);
}

/**
 * One request as a promise. It also rejects with the signal's reason once the connection is lost:
 * ssh2 drops a request sent on a closed channel without ever calling back.
 */
function request<T>(lost: AbortSignal | undefined, fn: (cb: (err: Error | undefined | null, value: T) => void) => void): Promise<T> {
  if (lost?.aborted) return Promise.reject(lost.reason as Error);
  return new Promise((resolve, reject) => {
    const onLost = () => reject(lost!.reason as Error);
    lost?.addEventListener('abort', onLost, { once: true });
    fn((err, value) => {
      lost?.removeEventListener('abort', onLost);
      if (err) reject(err);
      else resolve(value);
    });
  });
}

/** Promise forms of the raw SFTP requests used by transfers. */
export class RemoteOps {
  constructor(
    readonly sftp: SFTPWrapper,
    /** The connection's lost signal (Connection.lost). */
    private readonly lost?: AbortSignal,
  ) {}

  private call<T>(fn: (cb: (err: Error | undefined | null, value: T) => void) => void): Promise<T> {
    return request(this.lost, fn);
  }

  open(path: string, flags: number, attrs: InputAttributes = {}): Promise<Buffer> {
    return this.call((cb) => this.sftp.open(path, flags, attrs, cb));
  }
  close(handle: Buffer): Promise<void> {
    return this.call<void>((cb) => this.sftp.close(handle, (err) => cb(err, undefined)));
  }
  fstat(handle: Buffer): Promise<Stats> {
    return this.call((cb) => this.sftp.fstat(handle, cb));
  }
  fsetstat(handle: Buffer, attrs: InputAttributes): Promise<void> {
    return this.call<void>((cb) => this.sftp.fsetstat(handle, attrs, (err) => cb(err, undefined)));
  }
  stat(path: string): Promise<Stats> {
    return this.call((cb) => this.sftp.stat(path, cb));
  }
  /** stat, or null when the path does not exist. */
  async statOrNull(path: string): Promise<Stats | null> {
    try {
      return await this.stat(path);
    } catch (err) {
      if (sftpCode(err) === StatusCode.NO_SUCH_FILE) return null;
      throw err;
    }
  }
  /** Reads up to `buf.length` bytes at `position` into `buf`; resolves with how many (0 at the end). */
  read(handle: Buffer, buf: Buffer, position: number): Promise<number> {
    return this.call((cb) => this.sftp.read(handle, buf, 0, buf.length, position, (err, bytes) => cb(err, bytes)));
  }
  /** Writes all of `data` at `position`. */
  write(handle: Buffer, data: Buffer, position: number): Promise<void> {
    return this.call<void>((cb) => this.sftp.write(handle, data, 0, data.length, position, (err) => cb(err, undefined)));
  }
  unlink(path: string): Promise<void> {
    return this.call<void>((cb) => this.sftp.unlink(path, (err) => cb(err, undefined)));
  }
  realpath(path: string): Promise<string> {
    return this.call((cb) => this.sftp.realpath(path, cb));
  }
  /** posix-rename@openssh.com (replaces the target), else remove + rename. */
  async replace(from: string, to: string, hasPosixRename: boolean): Promise<void> {
    if (hasPosixRename) return this.call<void>((cb) => this.sftp.ext_openssh_rename(from, to, (err) => cb(err, undefined)));
    await this.unlink(to).catch(() => undefined);
    return this.call<void>((cb) => this.sftp.rename(from, to, (err) => cb(err, undefined)));
  }
}
