/**
 * get -r and put -r: a folder tree file by file, each file through files.ts (so every file
 * resumes and is verified on its own). Like OpenSSH's download_dir/upload_dir, non-regular
 * entries (symlinks, devices) are skipped with a notice; the first failing file stops the tree.
 */
import { mkdir, readdir, stat } from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { Connection } from './connection.js';
import { ClientError } from './errors.js';
import { getFile, putFile, type TransferOptions } from './files.js';
import { remoteError, sftpCode, SftpStatus } from './remote-ops.js';

/** Totals of a tree transfer. */
export interface TreeResult {
  files: number;
  bytes: number;
}

/** Downloads the remote folder `remote` as the local folder `local` (created if needed). */
export async function getTree(conn: Connection, remote: string, local: string, opts: TransferOptions, acc: TreeResult = { files: 0, bytes: 0 }): Promise<TreeResult> {
  const entries = await conn.client.list(remote).catch((err) => {
    throw remoteError(remote, err);
  });
  await mkdir(local, { recursive: true });
  for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (e.name === '.' || e.name === '..' || e.name.endsWith('.coffer-part')) continue;
    const from = posix.join(remote, e.name);
    const to = join(local, e.name);
    if (e.type === 'd') await getTree(conn, from, to, opts, acc);
    else if (e.type === '-') {
      acc.bytes += (await getFile(conn, from, to, opts)).bytes;
      acc.files++;
    } else opts.say(`Skipping non-regular file ${from}`);
  }
  return acc;
}

/** Uploads the local folder `local` as the remote folder `remote` (created if needed). */
export async function putTree(conn: Connection, local: string, remote: string, opts: TransferOptions, acc: TreeResult = { files: 0, bytes: 0 }): Promise<TreeResult> {
  const entries = await readdir(local, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
    throw new ClientError('COFFER_LOCAL', `${local}: ${err.code === 'ENOENT' ? 'No such file or directory' : err.code}`);
  });
  await remoteMkdir(conn, remote);
  for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (e.name.endsWith('.coffer-part')) continue;
    const from = join(local, e.name);
    const to = posix.join(remote, e.name);
    if (e.isDirectory()) await putTree(conn, from, to, opts, acc);
    else if (e.isFile()) {
      acc.bytes += (await putFile(conn, from, to, opts)).bytes;
      acc.files++;
    } else opts.say(`Skipping non-regular file ${from}`);
  }
  return acc;
}

/** mkdir that accepts an existing folder (and refuses an existing file). */
export async function remoteMkdir(conn: Connection, path: string): Promise<void> {
  try {
    await new Promise<void>((resolve, reject) => conn.sftp.mkdir(path, { mode: 0o755 }, (err) => (err ? reject(err) : resolve())));
  } catch (err) {
    const st = await conn.ops.statOrNull(path).catch(() => null);
    if (st?.isDirectory()) return;
    throw remoteError(path, sftpCode(err) === SftpStatus.FAILURE && st ? new Error('File exists') : err);
  }
}

/** True when a local path is an existing folder. */
export async function isLocalDir(path: string): Promise<boolean> {
  return stat(path).then((s) => s.isDirectory(), () => false);
}

/** True when a remote path is an existing folder. */
export async function isRemoteDir(conn: Connection, path: string): Promise<boolean> {
  const st = await conn.ops.statOrNull(path).catch(() => null);
  return Boolean(st?.isDirectory());
}
