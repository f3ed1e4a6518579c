/**
 * The part of ssh2-sftp-client 12 that coffer uses (the package ships no types, and
 * @types/ssh2-sftp-client lags v12).
 */
declare module 'ssh2-sftp-client' {
  import type { Client, ConnectConfig, SFTPWrapper } from 'ssh2';

  /** One entry of list(). */
  export interface FileInfo {
    type: 'd' | '-' | 'l' | string;
    name: string;
    size: number;
    modifyTime: number;
    accessTime: number;
    rights: { user: string; group: string; other: string };
    owner: number;
    group: number;
    longname: string;
  }

  /** stat() result. */
  export interface FileStats {
    mode: number;
    uid: number;
    gid: number;
    size: number;
    accessTime: number;
    modifyTime: number;
    isDirectory: boolean;
    isFile: boolean;
    isSymbolicLink: boolean;
  }

  export default class SftpClient {
    constructor(name?: string, callbacks?: { error?: (err: Error) => void; end?: () => void; close?: () => void });
    client: Client;
    sftp: SFTPWrapper | undefined;
    connect(config: ConnectConfig & { promiseLimit?: number }): Promise<SFTPWrapper>;
    end(): Promise<boolean>;
    list(path: string, filter?: (item: FileInfo) => boolean): Promise<FileInfo[]>;
    exists(path: string): Promise<false | 'd' | '-' | 'l'>;
    stat(path: string): Promise<FileStats>;
    realPath(path: string): Promise<string>;
    cwd(): Promise<string>;
    mkdir(path: string, recursive?: boolean): Promise<string>;
    rmdir(path: string, recursive?: boolean): Promise<string>;
    delete(path: string, notFoundOK?: boolean): Promise<string>;
    rename(from: string, to: string): Promise<string>;
    posixRename(from: string, to: string): Promise<string>;
  }
}
