/**
 * Client-side helpers for server tests: ssh2 clients that log in (or fail), client key pairs on
 * disk for OpenSSH and PuTTY, and a runner for external client programs.
 */
import { spawn } from 'node:child_process';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import ssh2, { type ConnectConfig } from 'ssh2';
import { generateKeyPairSync } from '../../src/util/ssh-keygen.js';

const { Client } = ssh2;
export type SshClient = InstanceType<typeof Client>;

/** Connects and logs in; resolves with the ready client, rejects with the client's error. */
export function connect(port: number, config: ConnectConfig & { localAddress?: string }): Promise<SshClient> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    client.once('ready', () => {
      client.removeListener('error', reject);
      client.on('error', () => {});
      resolve(client);
    });
    client.once('error', (err) => {
      client.on('error', () => {});
      client.end();
      reject(err);
    });
    // A server may close the connection during authentication without an SSH error (a ban
    // adopted meanwhile, shutdown): ssh2 then only emits 'close' (a no-op once settled).
    client.once('close', () => reject(new Error('connection closed before login')));
    client.connect({ host: '127.0.0.1', port, readyTimeout: 10_000, ...config });
  });
}

/** 'ok' after a login (then disconnects), else the error's message. */
export async function tryLogin(port: number, config: ConnectConfig & { localAddress?: string }): Promise<string> {
  try {
    const client = await connect(port, config);
    client.end();
    return 'ok';
  } catch (err) {
    return (err as Error).message;
  }
}

/** Resolves when the client's connection has closed. */
export function closed(client: SshClient): Promise<void> {
  return new Promise((resolve) => {
    const sock = (client as unknown as { _sock?: { destroyed?: boolean } })._sock;
    if (sock?.destroyed) return resolve();
    client.once('close', () => resolve());
  });
}

/** A client key pair written to `dir`: OpenSSH private key (0600), .pub line, and the line itself. */
export interface ClientKey {
  privatePath: string;
  publicPath: string;
  publicLine: string;
  privateKey: string;
}

/** Makes a client key pair (ed25519, or RSA of `bits`) in `dir` under `name`. */
export async function makeClientKey(dir: string, name: string, type: 'ed25519' | 'rsa' = 'ed25519', bits = 2048): Promise<ClientKey> {
  const pair = type === 'rsa' ? generateKeyPairSync('rsa', { bits, comment: name }) : generateKeyPairSync('ed25519', { comment: name });
  const privatePath = join(dir, name);
  await writeFile(privatePath, pair.private, { mode: 0o600 });
  await chmod(privatePath, 0o600);
  await writeFile(`${privatePath}.pub`, pair.public + '\n');
  return { privatePath, publicPath: `${privatePath}.pub`, publicLine: pair.public, privateKey: pair.private };
}

/** What an external program did. */
export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a program with a deadline (killed after `timeoutMs`), optional stdin text and env. */
export function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 20_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    // A program may exit without reading its input (md5sum FILE): that EPIPE is not a failure.
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}
