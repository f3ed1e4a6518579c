/**
 * One logged-in SFTP connection: ssh2-sftp-client on an ssh2 Client with TCP_NODELAY (without it
 * Nagle and delayed ACKs stall uploads: research/bench-baseline.md), host keys checked against
 * ~/.ssh/known_hosts, authentication in SPEC §6's order, and what the server offers (extensions,
 * the read/write sizes ssh2 took from limits@openssh.com).
 */
import { setMaxListeners } from 'node:events';
import type { Socket } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Client, SFTPWrapper } from 'ssh2';
import SftpClient from 'ssh2-sftp-client';
import { loadKeys, makeAuthHandler } from './auth.js';
import { directReads } from './direct-reads.js';
import { usable as directWrites } from './direct-writes.js';
import { receiveSocket, type ReceiveSocket } from './receive-buffers.js';
import { ClientError } from './errors.js';
import { coalesceWrites } from '../util/cork.js';
import { poolPackets } from '../util/ssh-packets.js';
import { HostTrust } from './host-trust.js';
import { RemoteOps } from './remote-ops.js';
import { RemoteHasher } from './verify.js';

/** How to reach and log in. */
export interface ConnectOptions {
  user: string;
  host: string;
  port: number;
  keyFile: string | null;
  acceptNewHostKey: boolean;
  /** Asks on the terminal (null: no terminal, never ask). */
  ask: ((question: string) => Promise<string | null>) | null;
  askSecret: ((message: string) => Promise<string | null>) | null;
  env: NodeJS.ProcessEnv;
  notice: (line: string) => void;
  /** ssh2's and coffer's debug lines (--debug), or null. */
  debug: ((line: string) => void) | null;
}

/** A ready connection. */
export interface Connection {
  client: SftpClient;
  ssh: Client;
  sftp: SFTPWrapper;
  ops: RemoteOps;
  hasher: RemoteHasher;
  extensions: Record<string, string>;
  /** Bytes per READ/WRITE request (the server's limits, else ssh2's 32 KiB-ish default). */
  chunk: number;
  /** Requests kept in flight per file (OpenSSH's -R default). */
  inflight: number;
  /** The remote starting folder (realpath of "."). */
  home: string;
  /**
   * Aborted when the connection drops (anything but end()); its reason is the ClientError to
   * report. ssh2 never answers a request sent on a dropped connection, so whatever waits on the
   * server also listens to this (RemoteOps, the transfer loops, the shell).
   */
  lost: AbortSignal;
  end(): Promise<void>;
}

/** Requests in flight per transfer: OpenSSH sftp's default (-R 64). */
export const INFLIGHT = 64;

/**
 * Listeners an abort signal of the client may have at once without Node's leak warning: each
 * transfer of a tree (tree.ts moves up to 16 at once) and each of its pending requests listen.
 */
export const SIGNAL_LISTENERS = 128;

/** ssh2 host key algorithms for each known_hosts key type. */
const HOST_KEY_ALGOS: Record<string, string[]> = { 'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] };
const DEFAULT_HOST_KEY_ALGOS = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];

/** Host key algorithms with the types known_hosts has for this host first (OpenSSH does the same). */
export function hostKeyOrder(knownTypes: string[]): string[] {
  const first = knownTypes.flatMap((t) => HOST_KEY_ALGOS[t] ?? [t]).filter((a) => DEFAULT_HOST_KEY_ALGOS.includes(a));
  return [...new Set([...first, ...DEFAULT_HOST_KEY_ALGOS])];
}

/** Connects, checks the host key, logs in, opens SFTP. Throws ClientError with one clear line. */
export async function connect(opts: ConnectOptions): Promise<Connection> {
  const home = opts.env.HOME || homedir();
  const sshDir = join(home, '.ssh');
  const trust = new HostTrust({
    host: opts.host,
    port: opts.port,
    knownHostsFile: join(sshDir, 'known_hosts'),
    acceptNew: opts.acceptNewHostKey,
    ask: opts.ask,
    notice: opts.notice,
  });
  await trust.load();
  const sources = {
    username: opts.user,
    host: opts.host,
    keyFile: opts.keyFile,
    sshDir,
    agentSocket: opts.env.SSH_AUTH_SOCK,
    envPassword: opts.env.COFFER_PASSWORD,
    askSecret: opts.askSecret,
    debug: opts.debug ?? (() => undefined),
  };
  const auth = makeAuthHandler(sources, await loadKeys(sources));
  const client = new SftpClient('coffer', { error: () => undefined, end: () => undefined, close: () => undefined });
  const ssh = client.client;
  ssh.once('connect', () => {
    ssh.setNoDelay(true);
    const sock = (ssh as unknown as { _sock?: Socket })._sock;
    if (sock) coalesceWrites(sock);
  });
  // Each key exchange installs a new cipher: its packets come from the pool (ssh-packets.ts).
  ssh.on('handshake', (negotiated: { cs?: { cipher?: string } }) => {
    const pooled = poolPackets((ssh as unknown as { _protocol?: unknown })._protocol);
    opts.debug?.(`cipher ${negotiated.cs?.cipher ?? '?'}: outgoing packets ${pooled ? 'in pooled buffers' : "in ssh2's own buffers (cipher not known)"}`);
  });
  const lost = new AbortController();
  setMaxListeners(SIGNAL_LISTENERS, lost.signal);
  let ending = false;
  const drop = (why?: string): void => {
    if (ending || lost.signal.aborted) return;
    const detail = trust.failure?.message ?? why;
    lost.abort(new ClientError('COFFER_CONNECTION', `connection to ${opts.host} port ${opts.port} lost${detail ? ` (${detail})` : ''}`));
  };
  ssh.on('error', (err: Error) => drop(err.message));
  ssh.on('close', () => drop());
  // The socket reads into buffers it reuses for file data (receive-buffers.ts).
  const recv = receiveSocket(opts.host, opts.port);
  try {
    await client.connect({
      sock: recv.socket,
      host: opts.host,
      port: opts.port,
      username: opts.user,
      hostVerifier: trust.verifier(),
      authHandler: auth.handler,
      algorithms: { serverHostKey: hostKeyOrder(trust.knownTypes()) as never },
      // A person may be typing a password or answering the host key question.
      readyTimeout: opts.ask ? 300_000 : 30_000,
      keepaliveInterval: 15_000,
      keepaliveCountMax: 4,
      ...(opts.debug ? { debug: opts.debug } : {}),
    });
  } catch (err) {
    throw connectError(err, trust, auth.failure, opts);
  }
  const end = async (): Promise<void> => {
    ending = true;
    await client.end().catch(() => undefined);
  };
  return ready(client, lost.signal, end, recv, opts.debug);
}

async function ready(client: SftpClient, lost: AbortSignal, endClient: () => Promise<void>, recv: ReceiveSocket, debug: ((line: string) => void) | null): Promise<Connection> {
  const sftp = client.sftp!;
  const reads = directReads(sftp);
  recv.attach((client.client as unknown as { _protocol?: unknown })._protocol, sftp);
  const internals = sftp as unknown as { _extensions?: Record<string, string>; _maxReadLen?: number; _maxWriteLen?: number };
  const extensions = { ...(internals._extensions ?? {}) };
  const chunk = Math.min(internals._maxReadLen ?? 32768, internals._maxWriteLen ?? 32768);
  debug?.(`sftp: ${chunk}-byte requests; reads ${reads ? 'framed into their buffers' : 'through ssh2'}, writes ${directWrites(sftp, chunk) ? 'sent from their buffers' : 'through ssh2'}`);
  const ops = new RemoteOps(sftp, lost);
  const hasher = new RemoteHasher(client.client, extensions);
  const home = await ops.realpath('.').catch(() => '/');
  return {
    client,
    ssh: client.client,
    sftp,
    ops,
    hasher,
    extensions,
    chunk,
    inflight: INFLIGHT,
    home,
    lost,
    end: async () => {
      hasher.close();
      await endClient();
      debug?.(`received ${recv.counts.reads} reads, ${recv.counts.reused} of them into a reused buffer`);
    },
  };
}

function connectError(err: unknown, trust: HostTrust, authFailure: () => string, opts: ConnectOptions): Error {
  if (trust.failure) return trust.failure;
  const e = err as Error & { level?: string; code?: string };
  const where = `${opts.host} port ${opts.port}`;
  if (e.level === 'client-authentication' || /authentication methods failed/i.test(e.message)) return new ClientError('COFFER_AUTH', authFailure());
  if (e.code === 'ECONNREFUSED' || /refused connection/i.test(e.message)) return new ClientError('COFFER_CONNECT', `cannot connect to ${where}: connection refused`);
  if (e.code === 'ENOTFOUND' || /lookup failed/i.test(e.message)) return new ClientError('COFFER_CONNECT', `cannot resolve host ${opts.host}`);
  if (/timed out/i.test(e.message)) return new ClientError('COFFER_CONNECT', `cannot connect to ${where}: timed out`);
  if (e instanceof ClientError) return e;
  return new ClientError('COFFER_CONNECT', `cannot connect to ${where}: ${e.message.replace(/^[\w>-]+: /, '')}`);
}
