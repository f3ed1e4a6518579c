/**
 * The typed requests of SFTP v3 and of the extensions Coffer implements: one discriminated union,
 * `kind` naming the packet (or the extension). Paths and names are strict UTF-8 strings (the jail
 * still has to refuse NUL and control characters); handles and data are views into the packet.
 */
import type { FileAttrs } from './packets/attrs.js';

/** One member per kind, so that Extract<SftpRequest, { kind: K }> finds every kind. */
type PerKind<K extends string, Fields> = K extends K ? { kind: K } & Fields : never;

/** SSH_FXP_INIT: the only packet without a request id. */
export interface InitRequest {
  kind: 'init';
  version: number;
}

/** A request naming one path: LSTAT, STAT, OPENDIR, REMOVE, RMDIR, REALPATH, READLINK. */
export type PathRequest = PerKind<'lstat' | 'stat' | 'opendir' | 'remove' | 'rmdir' | 'realpath' | 'readlink', { id: number; path: string }>;

/** A request naming one handle: CLOSE, FSTAT, READDIR. */
export type HandleRequest = PerKind<'close' | 'fstat' | 'readdir', { id: number; handle: Buffer }>;

/** SSH_FXP_OPEN: `pflags` is the raw OpenFlags bit set. */
export interface OpenRequest {
  kind: 'open';
  id: number;
  path: string;
  pflags: number;
  attrs: FileAttrs;
}

/** SSH_FXP_READ; `length` is what the client asked for (the dispatcher caps it). */
export interface ReadRequest {
  kind: 'read';
  id: number;
  handle: Buffer;
  offset: number;
  length: number;
}

/** SSH_FXP_WRITE; `data` is a view into the packet. */
export interface WriteRequest {
  kind: 'write';
  id: number;
  handle: Buffer;
  offset: number;
  data: Buffer;
}

/** SSH_FXP_SETSTAT and SSH_FXP_MKDIR: a path and attributes. */
export type PathAttrsRequest = PerKind<'setstat' | 'mkdir', { id: number; path: string; attrs: FileAttrs }>;

/** SSH_FXP_FSETSTAT. */
export interface FsetstatRequest {
  kind: 'fsetstat';
  id: number;
  handle: Buffer;
  attrs: FileAttrs;
}

/** SSH_FXP_RENAME (never overwrites) and posix-rename@openssh.com (overwrites). */
export type RenameRequest = PerKind<'rename' | 'posix-rename', { id: number; oldPath: string; newPath: string }>;

/**
 * SSH_FXP_SYMLINK with its two strings in wire order. The draft says (linkpath, targetpath);
 * OpenSSH's client and server use (targetpath, linkpath), so `first` is the target for OpenSSH
 * and the link for draft-following clients (WinSCP behind a non-OpenSSH banner).
 */
export interface SymlinkRequest {
  kind: 'symlink';
  id: number;
  first: string;
  second: string;
}

/** statvfs@openssh.com and expand-path@openssh.com: one path. */
export type ExtendedPathRequest = PerKind<'statvfs' | 'expand-path', { id: number; path: string }>;

/** fstatvfs@openssh.com and fsync@openssh.com: one handle. */
export type ExtendedHandleRequest = PerKind<'fstatvfs' | 'fsync', { id: number; handle: Buffer }>;

/** limits@openssh.com (no arguments). */
export interface LimitsRequest {
  kind: 'limits';
  id: number;
}

/** home-directory: the home of `username`. */
export interface HomeDirectoryRequest {
  kind: 'home-directory';
  id: number;
  username: string;
}

/** copy-data: copy `readLength` bytes (0 = to EOF) between two open handles. */
export interface CopyDataRequest {
  kind: 'copy-data';
  id: number;
  readHandle: Buffer;
  readOffset: number;
  readLength: number;
  writeHandle: Buffer;
  writeOffset: number;
}

/** Fields shared by the check-file requests (draft-ietf-secsh-filexfer-extensions). */
export interface CheckFileFields {
  id: number;
  /** The client's comma-separated algorithm list, split, in the client's order. */
  algorithms: string[];
  start: number;
  /** 0 = to end of file. */
  length: number;
  /** 0 = one digest for the whole range. */
  blockSize: number;
}

/** check-file-name: digests of a file named by path. */
export interface CheckFileNameRequest extends CheckFileFields {
  kind: 'check-file-name';
  path: string;
}

/**
 * check-file-handle, and paramiko's older request name `check-file` (legacy = true), whose reply
 * must start with the string "check-file" before the algorithm name.
 */
export interface CheckFileHandleRequest extends CheckFileFields {
  kind: 'check-file-handle';
  handle: Buffer;
  legacy: boolean;
}

/** An EXTENDED request Coffer does not know: answer OP_UNSUPPORTED to `id`. */
export interface UnknownExtendedRequest {
  kind: 'unknown-extended';
  id: number;
  name: string;
  data: Buffer;
}

/** Every request the server decodes. */
export type SftpRequest =
  | InitRequest
  | PathRequest
  | HandleRequest
  | OpenRequest
  | ReadRequest
  | WriteRequest
  | PathAttrsRequest
  | FsetstatRequest
  | RenameRequest
  | SymlinkRequest
  | ExtendedPathRequest
  | ExtendedHandleRequest
  | LimitsRequest
  | HomeDirectoryRequest
  | CopyDataRequest
  | CheckFileNameRequest
  | CheckFileHandleRequest
  | UnknownExtendedRequest;

/** Every request but INIT (these all carry an id). */
export type SftpIdRequest = Exclude<SftpRequest, InitRequest>;

/** The `kind` values. */
export type SftpRequestKind = SftpRequest['kind'];

/** The request type of one kind, e.g. RequestOfKind<'stat'>. */
export type RequestOfKind<K extends SftpRequestKind> = Extract<SftpRequest, { kind: K }>;
