/**
 * The codec's one error type. Every malformed input ends in an SftpCodecError with a stable code;
 * the dispatcher turns it into a STATUS for `id`, or ends the session when there is no id.
 */
import { StatusCode } from './constants.js';

/** Stable codes of codec errors. */
export type SftpCodecErrorCode =
  /** A field runs past the end of the packet. */
  | 'SFTP_ERR_TRUNCATED'
  /** A uint64 is above Number.MAX_SAFE_INTEGER (2^53 - 1). */
  | 'SFTP_ERR_UNSAFE_INTEGER'
  /** A path or name string is not valid UTF-8. */
  | 'SFTP_ERR_BAD_UTF8'
  /** A handle longer than 256 bytes. */
  | 'SFTP_ERR_HANDLE_TOO_LONG'
  /** An ATTRS with more extended pairs than MAX_ATTR_EXTENSIONS. */
  | 'SFTP_ERR_TOO_MANY_ATTR_EXTENSIONS'
  /** A packet type that is not a request (or not a reply, for the client decoder). */
  | 'SFTP_ERR_UNKNOWN_TYPE'
  /** The first packet of a session is not INIT. */
  | 'SFTP_ERR_NOT_INIT'
  /** A length field of 0: not even a type byte. */
  | 'SFTP_ERR_EMPTY_PACKET'
  /** A length field above the maximum message length. */
  | 'SFTP_ERR_PACKET_TOO_LONG'
  /** An encoder was asked to build a message above the maximum message length. */
  | 'SFTP_ERR_MESSAGE_TOO_LONG'
  /** An encoder was given a value the wire cannot carry (negative, fractional, too big). */
  | 'SFTP_ERR_BAD_VALUE';

/** A malformed packet (or an unencodable value); `id` is the request id when it was readable. */
export class SftpCodecError extends Error {
  override readonly name = 'SftpCodecError';
  constructor(
    readonly code: SftpCodecErrorCode,
    message: string,
    readonly id: number | undefined = undefined,
  ) {
    super(message);
  }

  /** True when no request id was readable: the session cannot answer and must end. */
  get fatal(): boolean {
    return this.id === undefined;
  }

  /** The STATUS code to answer `id` with: OP_UNSUPPORTED for unknown types, else BAD_MESSAGE. */
  get status(): number {
    return this.code === 'SFTP_ERR_UNKNOWN_TYPE' ? StatusCode.OP_UNSUPPORTED : StatusCode.BAD_MESSAGE;
  }
}

/** True when `e` is an SftpCodecError (for catch blocks). */
export function isSftpCodecError(e: unknown): e is SftpCodecError {
  return e instanceof SftpCodecError;
}
