/**
 * Drives OpenSSH's `sftp` (batch mode) and `scp` (SFTP mode) against a test server: no config
 * file, no known_hosts, a client key (BatchMode, so a prompt can never hang a test).
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ClientKey, RunResult } from './ssh-clients.js';

/** Where and as whom OpenSSH connects. */
export interface OpenSshTarget {
  port: number;
  user: string;
  key: ClientKey;
  /** Local working folder of the client (local paths in batches are relative to it). */
  cwd: string;
}

/** Options common to ssh, sftp and scp (the port flag is added by each runner). */
export function commonOptions(key: ClientKey): string[] {
  return [
    '-F', '/dev/null',
    '-o', 'StrictHostKeyChecking=no',
    '-o', 'UserKnownHostsFile=/dev/null',
    '-o', 'LogLevel=ERROR',
    '-o', 'BatchMode=yes',
    '-o', 'IdentitiesOnly=yes',
    '-i', key.privatePath,
  ];
}

/** Runs `sftp -b` with these batch lines (a leading '-' lets a line fail without stopping). */
export async function sftpBatch(t: OpenSshTarget, lines: string[], extra: string[] = []): Promise<RunResult> {
  const batch = join(t.cwd, `.batch-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`);
  await writeFile(batch, lines.join('\n') + '\n');
  return runIn(t.cwd, 'sftp', [...commonOptions(t.key), '-P', String(t.port), ...extra, '-b', batch, `${t.user}@127.0.0.1`]);
}

/** Runs `scp` (SFTP protocol, OpenSSH's default since 9.0) with `args`; `@:` in an arg is the remote prefix. */
export function scp(t: OpenSshTarget, args: string[]): Promise<RunResult> {
  const remote = `${t.user}@127.0.0.1:`;
  return runIn(t.cwd, 'scp', [...commonOptions(t.key), '-s', '-P', String(t.port), ...args.map((a) => a.replace(/^@:/, remote))]);
}

/** Runs a program in `cwd` with a deadline (killed after `timeoutMs`). */
export function runIn(cwd: string, cmd: string, args: string[], timeoutMs = 30_000): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}
