/**
 * Helpers for the client's end-to-end tests: an in-process Coffer server with user alice, a
 * temporary HOME for the client (with .ssh/known_hosts and a key), `coffer` run as a subprocess
 * without blocking the event loop (the server lives in this process), and an in-process client.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import ssh2, { type ServerChannel } from 'ssh2';
import { Session, type Output } from '../../src/client/commands.js';
import { connect, type Connection } from '../../src/client/connection.js';
import { hostKeyName, knownHostsLine } from '../../src/client/known-hosts.js';
import { Progress } from '../../src/client/progress.js';
import { defaultRouter } from '../../src/server/routes.js';
import { SessionRouter } from '../../src/server/session-router.js';
import { decodeReply } from '../../src/sftp/packets/packet.js';
import { sftpSubsystem } from '../../src/server/sftp-route.js';
import { cleanEnv, PROJECT, tempDir } from '../support/run-cli.js';
import { makeClientKey, type ClientKey } from '../support/ssh-clients.js';
import { startTestServer, type TestServer } from '../support/test-server.js';

/** A server, a client home, and alice. */
export interface Fixture {
  server: TestServer;
  /** The client's HOME (holds .ssh/). */
  home: string;
  /** A scratch local folder for files. */
  work: string;
  /** alice's home folder on the server (her `/`). */
  aliceHome: string;
  key: ClientKey;
  /** The server's ed25519 host key blob. */
  hostKey: Buffer;
  close(): Promise<void>;
}

/** Options of a fixture. */
export interface FixtureOptions {
  /** Put the server's key in known_hosts (default true). */
  known?: boolean;
  quota?: number | null;
  /** Store alice's key as ~/.ssh/id_ed25519, found without -i (default true). */
  defaultKey?: boolean;
  /** Corrupt the digests of check-file replies (to provoke a verification mismatch). */
  corruptCheckFile?: () => boolean;
  /** Leave check-file out of the VERSION reply (the client must fall back to exec sha256sum). */
  hideCheckFile?: boolean;
  /** Serve no exec commands (no sha256sum either). */
  noExec?: boolean;
}

/** Starts a server with user alice (password "pw" and a key) and a client HOME. */
export async function startFixture(opts: FixtureOptions = {}): Promise<Fixture> {
  const router = opts.noExec ? new SessionRouter().addSubsystem('sftp', sftpSubsystem) : defaultRouter();
  if (opts.corruptCheckFile) router.addSubsystem('sftp', corruptingSftp(opts.corruptCheckFile));
  if (opts.hideCheckFile) router.addSubsystem('sftp', withoutCheckFile);
  const server = await startTestServer({ router, settings: { maxSessionsPerUser: 50, maxConnectionsPerIp: 100 } });
  const dirs = [tempDir('coffer-client-home-'), tempDir('coffer-client-work-')];
  const home = dirs[0]!.path;
  await mkdir(join(home, '.ssh'), { mode: 0o700 });
  const key = await makeClientKey(join(home, '.ssh'), opts.defaultKey === false ? 'alice_key' : 'id_ed25519');
  await server.addUser('alice', { password: 'pw', keys: [key.publicLine], quota: opts.quota ?? null });
  const hostKey = await serverHostKey(server);
  if (opts.known !== false) await writeKnownHosts(home, `${knownHostsLine(hostKeyName('127.0.0.1', server.port), hostKey, false)}\n`);
  return {
    server,
    home,
    work: dirs[1]!.path,
    aliceHome: join(server.root, 'homes', 'alice'),
    key,
    hostKey,
    close: async () => {
      await server.close();
      dirs.forEach((d) => d.remove());
    },
  };
}

/** The public blob of the server's ed25519 host key. */
export async function serverHostKey(server: TestServer): Promise<Buffer> {
  const pem = await readFile(join(server.config.paths.keysDir, 'ssh_host_ed25519_key'));
  const parsed = ssh2.utils.parseKey(pem);
  if (parsed instanceof Error) throw parsed;
  return (Array.isArray(parsed) ? parsed[0] : parsed).getPublicSSH();
}

/** Replaces the client's known_hosts file. */
export async function writeKnownHosts(home: string, text: string): Promise<void> {
  await writeFile(join(home, '.ssh', 'known_hosts'), text, { mode: 0o600 });
}

// The real sftp subsystem, with the digest of every sha256 check-file reply flipped while `on()`.
function corruptingSftp(on: () => boolean) {
  return (channel: ServerChannel, ctx: Parameters<typeof sftpSubsystem>[1]) => {
    const write = channel.write.bind(channel) as (chunk: Buffer, ...rest: unknown[]) => boolean;
    (channel as unknown as { write: typeof write }).write = (chunk: Buffer, ...rest: unknown[]) => {
      // [len][201 EXTENDED_REPLY][id]["sha256"][32-byte digest]
      if (on() && chunk.length === 51 && chunk[4] === 201 && chunk.subarray(13, 19).toString() === 'sha256') {
        chunk = Buffer.from(chunk);
        chunk[50] = chunk[50]! ^ 0xff;
      }
      return write(chunk, ...rest);
    };
    return sftpSubsystem(channel, ctx);
  };
}

// The real sftp subsystem, its VERSION reply without the check-file extension (like OpenSSH's).
function withoutCheckFile(channel: ServerChannel, ctx: Parameters<typeof sftpSubsystem>[1]) {
  const write = channel.write.bind(channel) as (chunk: Buffer, ...rest: unknown[]) => boolean;
  let first = true;
  (channel as unknown as { write: typeof write }).write = (chunk: Buffer, ...rest: unknown[]) => {
    if (first && chunk[4] === 2) {
      first = false;
      const version = decodeReply(chunk.subarray(4));
      const exts = version.kind === 'version' ? version.extensions.filter(([name]) => !name.startsWith('check-file')) : [];
      const parts = [Buffer.from([2, 0, 0, 0, 3]), ...exts.flatMap(([n, d]) => [str(n), str(d)])];
      const body = Buffer.concat(parts);
      const len = Buffer.alloc(4);
      len.writeUInt32BE(body.length);
      chunk = Buffer.concat([len, body]);
    }
    return write(chunk, ...rest);
  };
  return sftpSubsystem(channel, ctx);
}

function str(s: string): Buffer {
  const b = Buffer.from(s);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(b.length);
  return Buffer.concat([len, b]);
}

/** What a coffer run produced. */
export interface RunResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Options of a coffer run. */
export interface RunOptions {
  input?: string;
  env?: Record<string, string>;
  cwd?: string;
  timeoutMs?: number;
}

/** Spawns `node bin/coffer.js ARGS` with HOME=fx.home; the caller may kill it. */
export function spawnCoffer(fx: Fixture, args: string[], opts: RunOptions = {}): { child: ChildProcess; done: Promise<RunResult> } {
  const child = spawn(process.execPath, [join(PROJECT, 'bin', 'coffer.js'), ...args], {
    env: cleanEnv({ HOME: fx.home, SSH_AUTH_SOCK: '', ...opts.env }),
    cwd: opts.cwd ?? fx.work,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
  const done = new Promise<RunResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr });
    });
  });
  child.stdin!.end(opts.input ?? '');
  return { child, done };
}

/** Runs coffer to completion. */
export function coffer(fx: Fixture, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return spawnCoffer(fx, args, opts).done;
}

/** `-P PORT` and `alice@127.0.0.1` with an optional `:PATH`. */
export function at(fx: Fixture, path?: string): string[] {
  return ['-P', String(fx.server.port), `alice@127.0.0.1${path === undefined ? '' : ':' + path}`];
}

/** sha256 hex of a file. */
export async function sha256File(path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex');
}

/** Writes `size` bytes of pseudo-random data (a random 1 MiB block, each copy numbered). */
export async function makeFile(path: string, size: number): Promise<void> {
  const block = randomBytes(Math.min(size, 1 << 20));
  const fh = await open(path, 'w');
  try {
    for (let off = 0, n = 0; off < size; off += block.length, n++) {
      const b = Buffer.from(block.subarray(0, Math.min(block.length, size - off)));
      if (b.length >= 4) b.writeUInt32LE(n, 0);
      await fh.write(b, 0, b.length, off);
    }
  } finally {
    await fh.close();
  }
}

/** An in-process connection and session as alice (key auth), output captured in `lines`. */
export async function openSession(fx: Fixture, verify = true): Promise<{ conn: Connection; session: Session; lines: string[] }> {
  const conn = await connect({
    user: 'alice',
    host: '127.0.0.1',
    port: fx.server.port,
    keyFile: fx.key.privatePath,
    acceptNewHostKey: false,
    ask: null,
    askSecret: null,
    env: { HOME: fx.home },
    notice: () => undefined,
    debug: null,
  });
  const lines: string[] = [];
  const out: Output = { print: (l) => lines.push(l), say: (l) => lines.push(l), columns: 80, tty: false };
  const session = new Session(conn, out, new Progress({ write: () => true }, false), verify);
  session.lcwd = fx.work;
  return { conn, session, lines };
}
