/**
 * Checksums computed by the server: check-file-name over a raw sftp channel when the server
 * advertises check-file (Coffer, ProFTPD), else exec `sha256sum PATH` (rclone's way), which also
 * gives a prefix through `head -c N PATH | sha256sum` where a shell exists. And the local side:
 * the hash of a local file's prefix, as a Hash object the transfer keeps feeding.
 */
import { createHash, type Hash } from 'node:crypto';
import { open } from 'node:fs/promises';
import type { Client } from 'ssh2';
import { StatusCode } from '../sftp/constants.js';
import { decodeCheckFileReply } from '../sftp/packets/extended-reply.js';
import { ClientError, NoRemoteHashError } from './errors.js';
import { RawSftpChannel } from './raw-sftp-channel.js';
import { statusReason } from './remote-ops.js';

/** The algorithms `sum --algo` accepts (each has a coreutils `NAMEsum`). */
export const SUM_ALGORITHMS = ['md5', 'sha1', 'sha224', 'sha256', 'sha384', 'sha512'] as const;
export type SumAlgorithm = (typeof SUM_ALGORITHMS)[number];

const DIGEST_BYTES: Record<SumAlgorithm, number> = { md5: 16, sha1: 20, sha224: 28, sha256: 32, sha384: 48, sha512: 64 };
const SHELL_QUOTE = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
const READ_SIZE = 1024 * 1024;

/** Hashes remote files on the server; one per connection, its channel opened on first use. */
export class RemoteHasher {
  private channel: Promise<RawSftpChannel> | null = null;
  private checkFile: boolean;

  constructor(
    private readonly ssh: Client,
    extensions: Record<string, string>,
  ) {
    this.checkFile = 'check-file' in extensions || 'check-file-name' in extensions;
  }

  /** How the server hashes: 'check-file' or 'exec'. */
  get method(): 'check-file' | 'exec' {
    return this.checkFile ? 'check-file' : 'exec';
  }

  /**
   * The digest of the file's first `length` bytes (null = the whole file). `fileSize`, when
   * known, lets exec hash a prefix that is the whole file without a shell pipeline.
   */
  async hash(path: string, algorithm: SumAlgorithm, length: number | null = null, fileSize: number | null = null): Promise<Buffer> {
    if (this.checkFile) {
      const digest = await this.viaCheckFile(path, algorithm, length);
      if (digest) return digest;
      this.checkFile = false;
    }
    return this.viaExec(path, algorithm, length === fileSize ? null : length);
  }

  /** The digest of [start, start + length) by check-file (no exec fallback: sha256sum cannot). */
  async range(path: string, algorithm: SumAlgorithm, start: number, length: number): Promise<Buffer> {
    const digest = this.checkFile ? await this.viaCheckFile(path, algorithm, length, start) : null;
    if (!digest) throw new NoRemoteHashError('check-file is not supported');
    return digest;
  }

  /** Closes the checksum channel, if one was opened. */
  close(): void {
    void this.channel?.then((c) => c.close()).catch(() => undefined);
  }

  // null when the server turns out not to support it (then exec is tried).
  private async viaCheckFile(path: string, algorithm: SumAlgorithm, length: number | null, start = 0): Promise<Buffer | null> {
    if (length === 0) return createHash(algorithm).digest();
    this.channel ??= RawSftpChannel.open(this.ssh);
    const channel = await this.channel;
    const reply = await channel.request((id) => ({ kind: 'check-file-name', id, path, algorithms: [algorithm], start, length: length ?? 0, blockSize: 0 }));
    if (reply.kind === 'status') {
      if (reply.code === StatusCode.OP_UNSUPPORTED) return null;
      throw new ClientError('COFFER_REMOTE', `${path}: ${statusReason(reply.code, reply.message)}`);
    }
    if (reply.kind !== 'extended-reply') throw new ClientError('COFFER_PROTOCOL', `check-file: unexpected ${reply.kind} reply`);
    const result = decodeCheckFileReply(reply.data);
    if (result.algorithm !== algorithm || result.digests.length !== DIGEST_BYTES[algorithm]) {
      throw new ClientError('COFFER_PROTOCOL', `check-file answered ${result.algorithm} with ${result.digests.length} bytes, not one ${algorithm} digest`);
    }
    return result.digests;
  }

  private async viaExec(path: string, algorithm: SumAlgorithm, length: number | null): Promise<Buffer> {
    const command = length === null ? `${algorithm}sum ${SHELL_QUOTE(path)}` : `head -c ${length} ${SHELL_QUOTE(path)} | ${algorithm}sum`;
    const { code, stdout, stderr } = await execCommand(this.ssh, command).catch((err: Error) => {
      throw new NoRemoteHashError(`no check-file extension, and exec was refused: ${err.message}`);
    });
    const hex = /^\\?([0-9a-f]+)\s/i.exec(stdout)?.[1];
    if (code === 0 && hex && hex.length === DIGEST_BYTES[algorithm] * 2) return Buffer.from(hex, 'hex');
    const why = stderr.trim().split('\n')[0] || `exit status ${code}`;
    if (code === 127 || /not found|not allowed|refused|only/i.test(why)) throw new NoRemoteHashError(`no check-file extension, and '${command}' failed: ${why}`);
    throw new ClientError('COFFER_REMOTE', `${path}: ${why.replace(/^\w+sum: /, '')}`);
  }
}

/** Runs a command on the server; resolves with its exit code and output (bounded to 64 KiB). */
export function execCommand(ssh: Client, command: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    ssh.exec(command, (err, stream) => {
      if (err) return reject(err);
      let stdout = '';
      let stderr = '';
      let code: number | null = null;
      stream.on('data', (d: Buffer) => (stdout = (stdout + d.toString('utf8')).slice(0, 65536)));
      stream.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString('utf8')).slice(0, 65536)));
      stream.on('exit', (c: number | null) => (code = c));
      stream.on('close', () => resolve({ code, stdout, stderr }));
      stream.end();
    });
  });
}

/** A hash fed with the first `length` bytes of a local file (all of it when null). */
export async function hashLocalPrefix(path: string, algorithm: SumAlgorithm, length: number | null): Promise<Hash> {
  const hash = createHash(algorithm);
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(READ_SIZE);
    let pos = 0;
    while (length === null || pos < length) {
      const want = length === null ? buf.length : Math.min(buf.length, length - pos);
      const { bytesRead } = await fh.read(buf, 0, want, pos);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
      pos += bytesRead;
    }
    if (length !== null && pos < length) throw new ClientError('COFFER_LOCAL', `${path}: shorter than ${length} bytes`);
    return hash;
  } finally {
    await fh.close();
  }
}

/** The hex digest of a hash without ending it (so it can be fed further). */
export function peekHex(hash: Hash): string {
  return hash.copy().digest('hex');
}
