/**
 * SFTP version 3 numbers (draft-ietf-secsh-filexfer-02) and Coffer's wire limits. The only place
 * that knows packet type numbers, status codes and flag bits.
 */

/** The protocol version Coffer speaks (and answers to every INIT). */
export const SFTP_VERSION = 3;

/** Packet type numbers (draft-ietf-secsh-filexfer-02 §3). */
export const PacketType = {
  INIT: 1,
  VERSION: 2,
  OPEN: 3,
  CLOSE: 4,
  READ: 5,
  WRITE: 6,
  LSTAT: 7,
  FSTAT: 8,
  SETSTAT: 9,
  FSETSTAT: 10,
  OPENDIR: 11,
  READDIR: 12,
  REMOVE: 13,
  MKDIR: 14,
  RMDIR: 15,
  REALPATH: 16,
  STAT: 17,
  RENAME: 18,
  READLINK: 19,
  SYMLINK: 20,
  STATUS: 101,
  HANDLE: 102,
  DATA: 103,
  NAME: 104,
  ATTRS: 105,
  EXTENDED: 200,
  EXTENDED_REPLY: 201,
} as const;

/** Status codes of SFTP v3 (0–8); nothing else is defined for v3 clients. */
export const StatusCode = {
  OK: 0,
  EOF: 1,
  NO_SUCH_FILE: 2,
  PERMISSION_DENIED: 3,
  FAILURE: 4,
  BAD_MESSAGE: 5,
  NO_CONNECTION: 6,
  CONNECTION_LOST: 7,
  OP_UNSUPPORTED: 8,
} as const;

/** A status code value. */
export type StatusCodeValue = (typeof StatusCode)[keyof typeof StatusCode];

/** Default STATUS messages, as OpenSSH's sftp-server status_to_message() words them. */
export const STATUS_MESSAGES: readonly string[] = [
  'Success',
  'End of file',
  'No such file',
  'Permission denied',
  'Failure',
  'Bad message',
  'No connection',
  'Connection lost',
  'Operation unsupported',
];

/** The default message for a status code ("Unknown error" past 8, as OpenSSH). */
export function statusMessage(code: number): string {
  return STATUS_MESSAGES[code] ?? 'Unknown error';
}

/** OPEN pflags bits (SSH_FXF_*). */
export const OpenFlags = {
  READ: 0x01,
  WRITE: 0x02,
  APPEND: 0x04,
  CREAT: 0x08,
  TRUNC: 0x10,
  EXCL: 0x20,
} as const;

/** ATTRS flag bits (SSH_FILEXFER_ATTR_*). */
export const AttrFlags = {
  SIZE: 0x00000001,
  UIDGID: 0x00000002,
  PERMISSIONS: 0x00000004,
  ACMODTIME: 0x00000008,
  EXTENDED: 0x80000000,
} as const;

/** statvfs@openssh.com f_flag bits (OpenSSH PROTOCOL §4.4). */
export const StatvfsFlags = {
  RDONLY: 0x1,
  NOSUID: 0x2,
} as const;

/**
 * Largest accepted value of a packet's uint32 length field, i.e. the bytes AFTER the length field
 * (type byte + body). A packet on the wire is at most this + 4 bytes. Same rule as OpenSSH's
 * SFTP_MAX_MSG_LENGTH (256 KiB, checked against msg_len in sftp-server.c process()) and ssh2's
 * 256 KiB inbound cap; it is also what limits@openssh.com reports as max-packet-length.
 */
export const MAX_MESSAGE_LENGTH = 256 * 1024;

/** max-read-length / max-write-length of limits@openssh.com: 255 KiB, as OpenSSH. */
export const MAX_READ_WRITE_LENGTH = 261120;

/** Handles are opaque strings of at most 256 bytes (draft-02 §3); longer ones are BAD_MESSAGE. */
export const MAX_HANDLE_LENGTH = 256;

/** Most extended (type, data) pairs accepted in one ATTRS; more is BAD_MESSAGE. */
export const MAX_ATTR_EXTENSIONS = 64;

/** Wire names of the EXTENDED requests Coffer decodes. */
export const ExtensionName = {
  POSIX_RENAME: 'posix-rename@openssh.com',
  STATVFS: 'statvfs@openssh.com',
  FSTATVFS: 'fstatvfs@openssh.com',
  FSYNC: 'fsync@openssh.com',
  LIMITS: 'limits@openssh.com',
  EXPAND_PATH: 'expand-path@openssh.com',
  HOME_DIRECTORY: 'home-directory',
  COPY_DATA: 'copy-data',
  CHECK_FILE_NAME: 'check-file-name',
  CHECK_FILE_HANDLE: 'check-file-handle',
  /** paramiko's SFTPFile.check request name (a handle; reply prefixed with "check-file"). */
  CHECK_FILE: 'check-file',
} as const;

/**
 * The (name, data) pairs of Coffer's VERSION reply (SPEC §5): OpenSSH's versions for its own
 * extensions (sftp-server.c process_init), check-file as ProFTPD advertises it.
 */
export const SERVER_EXTENSIONS: ReadonlyArray<readonly [string, string]> = [
  [ExtensionName.POSIX_RENAME, '1'],
  [ExtensionName.STATVFS, '2'],
  [ExtensionName.FSTATVFS, '2'],
  [ExtensionName.FSYNC, '1'],
  [ExtensionName.LIMITS, '1'],
  [ExtensionName.EXPAND_PATH, '1'],
  [ExtensionName.HOME_DIRECTORY, '1'],
  [ExtensionName.COPY_DATA, '1'],
  [ExtensionName.CHECK_FILE, '1'],
];
