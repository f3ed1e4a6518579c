/**
 * Helpers for the quota suite (test/quota): a server with roomy connection limits, users with a
 * password and a key, a raw ssh2 SFTP session with promise methods (exact OPEN flags and offsets),
 * ssh2-sftp-client, OpenSSH `sftp -b`, paramiko (the system python), coffer-users as an async
 * subprocess (so the in-process server keeps running while it works), and the checks every
 * scenario ends with: the ledger, the database and the disk agree.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import type { SFTPWrapper, Stats } from 'ssh2';
import { homeDir } from '../../src/config/paths.js';
import { defaultRouter } from '../../src/server/routes.js';
import type { UserQuota } from '../../src/quota/user-quota.js';
import { cleanEnv, PROJECT } from './run-cli.js';
import { connect, makeClientKey, run, type ClientKey, type RunResult, type SshClient } from './ssh-clients.js';
import { startTestServer, type TestServer, type TestServerOptions } from './test-server.js';
import { waitFor } from './wait.js';

export const PASSWORD = 'quota-suite-pw-1';
export const KiB = 1024;
export const MiB = 1024 * 1024;

/** SSH_FXF_* open flags. */
export const FXF = { READ: 1, WRITE: 2, APPEND: 4, CREAT: 8, TRUNC: 16, EXCL: 32 } as const;
/** SSH_FX_FAILURE. */
export const FX_FAILURE = 4;

/** Limits roomy enough for many sessions from 127.0.0.1; no idle timeout, short shutdown grace. */
export const QUOTA_SETTINGS: NonNullable<TestServerOptions['settings']> = {
  maxConnections: 1000,
  maxConnectionsPerIp: 1000,
  // Many sessions log in at once from 127.0.0.1 with a password: roomy pre-login caps too.
  maxStartups: 1000,
  maxStartupsPerIp: 1000,
  passwordQueue: 1000,
  passwordQueuePerIp: 1000,
  maxSessionsPerUser: 1000,
  banThreshold: 0,
  idleTimeoutSeconds: 0,
  shutdownGraceSeconds: 1,
  logLevel: 'info',
};

/** A server for quota tests (the real routing table), plus a client key and a scratch folder. */
export interface QuotaServer extends TestServer {
  key: ClientKey;
  /** Scratch folder for local files (removed by close()). */
  scratch: string;
}

export async function startQuotaServer(settings: TestServerOptions['settings'] = {}, server: TestServerOptions['server'] = {}): Promise<QuotaServer> {
  const ts = await startTestServer({ router: defaultRouter(), settings: { ...QUOTA_SETTINGS, ...settings }, server });
  const scratch = await mkdtemp(join(tmpdir(), 'coffer-quota-scratch-'));
  const key = await makeClientKey(scratch, 'id_ed25519');
  const close = ts.close;
  return {
    ...ts,
    key,
    scratch,
    close: async () => {
      await close();
      await rm(scratch, { recursive: true, force: true });
    },
  };
}

/** Adds a user with PASSWORD and the server's client key, and the given quota (null = unlimited). */
export async function addQuotaUser(ts: QuotaServer, name: string, quota: number | null): Promise<string> {
  await ts.addUser(name, { password: PASSWORD, keys: [ts.key.publicLine], quota });
  return homeOf(ts, name);
}

export const homeOf = (ts: { config: TestServer['config'] }, name: string): string => homeDir(ts.config.paths, name);

/** `du -b --apparent-size` of the regular files below `dir`, counted by find(1), not by Coffer. */
export async function diskBytes(dir: string): Promise<number> {
  const out = await new Promise<string>((resolve, reject) =>
    execFile('find', [dir, '-type', 'f', '-printf', '%s\\n'], { maxBuffer: 64 * MiB }, (err, stdout) => (err ? reject(err) : resolve(stdout))),
  );
  return out
    .split('\n')
    .filter(Boolean)
    .reduce((sum, n) => sum + Number(n), 0);
}

/** The live quota of a user with sessions in the server (undefined when none). */
export const liveQuota = (ts: TestServer, name: string): UserQuota | undefined => ts.server.state.ledger.peek(name);

/** Waits until no session of `name` is left and the server settled everything of theirs with the store. */
export async function waitSettled(ts: TestServer, name: string, timeoutMs = 10_000): Promise<void> {
  await waitFor(() => !ts.server.state.ledger.holds(name), timeoutMs, `${name}'s sessions to end and usage to be settled`);
}

/**
 * After every session of `name` ended: the stored usage equals the disk's count (and `expected`,
 * if given). Returns the disk's count.
 */
export async function assertSettled(ts: TestServer, name: string, expected?: number): Promise<number> {
  await waitSettled(ts, name);
  const disk = await diskBytes(homeOf(ts, name));
  const row = ts.admin.usage(name)!;
  assert.equal(row.usedBytes, disk, `${name}: stored usage ${row.usedBytes} = disk ${disk}`);
  if (expected !== undefined) assert.equal(disk, expected, `${name}: disk holds ${disk} bytes, expected ${expected}`);
  return disk;
}

/** While connected (no write under way): the live ledger equals the disk (and `expected`). */
export async function assertLive(ts: TestServer, name: string, expected?: number): Promise<number> {
  const disk = await diskBytes(homeOf(ts, name));
  const q = liveQuota(ts, name);
  assert.ok(q, `${name} has a live quota`);
  assert.equal(q.used, disk, `${name}: ledger ${q.used} = disk ${disk}`);
  if (expected !== undefined) assert.equal(disk, expected, `${name}: disk holds ${disk} bytes, expected ${expected}`);
  return disk;
}

/** An SFTP error as ssh2 reports a STATUS: `code` is the status number. */
type SftpError = Error & { code?: number | string };

/** Asserts `p` rejects with STATUS FAILURE and the message `Quota exceeded`. */
export async function expectQuotaExceeded(p: Promise<unknown>, what = 'request'): Promise<void> {
  await assert.rejects(p, (err: SftpError) => {
    assert.equal(err.message, 'Quota exceeded', `${what}: message`);
    assert.equal(err.code, FX_FAILURE, `${what}: status FAILURE`);
    return true;
  });
}

/** A raw ssh2 SFTP session with promise methods. */
export class RawSession {
  private constructor(
    readonly client: SshClient,
    readonly sftp: SFTPWrapper,
  ) {}

  static async open(ts: { port: number }, name: string): Promise<RawSession> {
    const client = await connect(ts.port, { username: name, password: PASSWORD });
    client.setNoDelay(true); // else Nagle on the client side costs ~40 ms per request-reply
    const sftp = await new Promise<SFTPWrapper>((resolve, reject) => client.sftp((err, s) => (err ? reject(err) : resolve(s))));
    return new RawSession(client, sftp);
  }

  private call<T>(fn: (cb: (err: Error | undefined | null, v?: T) => void) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v as T))));
  }

  openFile(path: string, flags: number | string, attrs: { mode?: number } = {}): Promise<Buffer> {
    return this.call<Buffer>((cb) => this.sftp.open(path, flags as number, attrs, cb));
  }
  write(handle: Buffer, data: Buffer, position: number): Promise<void> {
    return this.call<void>((cb) => this.sftp.write(handle, data, 0, data.length, position, cb));
  }
  read(handle: Buffer, length: number, position: number): Promise<Buffer> {
    const buf = Buffer.alloc(length);
    return this.call<number>((cb) => this.sftp.read(handle, buf, 0, length, position, (err, n) => cb(err, n))).then((n) => buf.subarray(0, n));
  }
  closeFile(handle: Buffer): Promise<void> {
    return this.call<void>((cb) => this.sftp.close(handle, cb));
  }
  /** FSETSTAT with only a size. */
  ftruncate(handle: Buffer, size: number): Promise<void> {
    return this.call<void>((cb) => this.sftp.fsetstat(handle, { size }, cb));
  }
  /** SETSTAT with only a size. */
  truncate(path: string, size: number): Promise<void> {
    return this.call<void>((cb) => this.sftp.setstat(path, { size }, cb));
  }
  stat(path: string): Promise<Stats> {
    return this.call<Stats>((cb) => this.sftp.stat(path, cb));
  }
  unlink(path: string): Promise<void> {
    return this.call<void>((cb) => this.sftp.unlink(path, cb));
  }
  rename(from: string, to: string): Promise<void> {
    return this.call<void>((cb) => this.sftp.rename(from, to, cb));
  }
  posixRename(from: string, to: string): Promise<void> {
    return this.call<void>((cb) => this.sftp.ext_openssh_rename(from, to, cb));
  }
  mkdir(path: string): Promise<void> {
    return this.call<void>((cb) => this.sftp.mkdir(path, cb));
  }
  rmdir(path: string): Promise<void> {
    return this.call<void>((cb) => this.sftp.rmdir(path, cb));
  }
  statvfs(path: string): Promise<StatVfsInfo> {
    return this.call<StatVfsInfo>((cb) => this.sftp.ext_openssh_statvfs(path, cb));
  }
  fstatvfs(handle: Buffer): Promise<StatVfsInfo> {
    return this.call<StatVfsInfo>((cb) => this.sftp.ext_openssh_fstatvfs(handle, cb));
  }
  /** Writes `data` sequentially from `offset` in `chunk`-byte WRITEs (one at a time). */
  async writeAll(handle: Buffer, data: Buffer, offset = 0, chunk = 32 * KiB): Promise<void> {
    for (let done = 0; done < data.length; done += chunk) await this.write(handle, data.subarray(done, done + chunk), offset + done);
  }
  /** Opens `path` with WRITE|CREAT|TRUNC, writes `data`, closes. */
  async putFile(path: string, data: Buffer): Promise<void> {
    const h = await this.openFile(path, FXF.WRITE | FXF.CREAT | FXF.TRUNC);
    try {
      await this.writeAll(h, data);
    } finally {
      await this.closeFile(h);
    }
  }
  /** Ends the connection and resolves when it has closed. */
  end(): Promise<void> {
    return new Promise((resolve) => {
      const sock = (this.client as unknown as { _sock?: { destroyed?: boolean } })._sock;
      if (sock?.destroyed) return resolve();
      this.client.once('close', () => resolve());
      this.client.end();
    });
  }
}

/** statvfs@openssh.com as ssh2 decodes it. */
export interface StatVfsInfo {
  f_bsize: number;
  f_frsize: number;
  f_blocks: number;
  f_bfree: number;
  f_bavail: number;
  f_files: number;
  f_ffree: number;
}

/** The part of ssh2-sftp-client (no bundled types) the quota suite uses. */
export interface SftpClient {
  connect(opts: Record<string, unknown>): Promise<unknown>;
  put(src: Buffer | string, remote: string, opts?: Record<string, unknown>): Promise<string>;
  fastPut(local: string, remote: string, opts?: Record<string, unknown>): Promise<string>;
  append(src: Buffer, remote: string, opts?: Record<string, unknown>): Promise<string>;
  get(remote: string): Promise<Buffer>;
  delete(remote: string): Promise<string>;
  rename(from: string, to: string): Promise<string>;
  posixRename(from: string, to: string): Promise<string>;
  mkdir(path: string, recursive?: boolean): Promise<string>;
  rmdir(path: string, recursive?: boolean): Promise<string>;
  end(): Promise<boolean>;
  client: SshClient;
}
const SftpClientClass = createRequire(import.meta.url)('ssh2-sftp-client') as new () => SftpClient;

/** ssh2-sftp-client logged in as `name`. */
export async function sftpClient(ts: TestServer, name: string): Promise<SftpClient> {
  const c = new SftpClientClass();
  await c.connect({ host: '127.0.0.1', port: ts.port, username: name, password: PASSWORD, readyTimeout: 10_000 });
  c.client.setNoDelay(true);
  return c;
}

/** Runs OpenSSH `sftp -b -` with `commands` as `name` (key login); cwd is the local folder. */
export function opensshSftp(ts: QuotaServer, name: string, commands: string[], cwd = ts.scratch): Promise<RunResult> {
  const args = [
    '-F', '/dev/null', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes',
    '-o', 'IdentitiesOnly=yes', '-i', ts.key.privatePath, '-P', String(ts.port), '-b', '-', `${name}@127.0.0.1`,
  ];
  const script = [`lcd ${cwd}`, ...commands].join('\n') + '\n';
  return run('sftp', args, { input: script, timeoutMs: 30_000 });
}

/** The system python with paramiko (the `python3` on PATH is pyenv's, without it). */
export const PYTHON = '/usr/bin/python3';

/**
 * Runs `body` (python, indented by nothing) with `sftp` a paramiko SFTPClient logged in as `name`.
 * Prints go to stdout; an uncaught exception exits non-zero with the traceback on stderr.
 */
export async function paramiko(ts: TestServer, name: string, body: string): Promise<RunResult> {
  const script = [
    'import paramiko, sys',
    't = paramiko.Transport(("127.0.0.1", int(sys.argv[1])))',
    't.connect(username=sys.argv[2], password=sys.argv[3])',
    'sftp = paramiko.SFTPClient.from_transport(t)',
    'try:',
    ...body.split('\n').map((l) => '    ' + l),
    'finally:',
    '    sftp.close()',
    '    t.close()',
  ].join('\n');
  return run(PYTHON, ['-c', script, String(ts.port), name, PASSWORD], { timeoutMs: 30_000 });
}

/** Runs `coffer-users --root ROOT ARGS` as a subprocess without blocking this process. */
export function usersCli(root: string, args: string[], input = ''): Promise<RunResult> {
  return run(process.execPath, [join(PROJECT, 'bin', 'coffer-users.js'), '--root', root, ...args], { env: cleanEnv(), input, timeoutMs: 30_000 });
}

/** Random bytes (incompressible, and a wrong byte anywhere shows in a comparison). */
export const bytes = (n: number): Buffer => randomBytes(n);

/** Writes a local file of `n` random bytes in `dir`; returns its path and content. */
export async function localFile(dir: string, name: string, n: number): Promise<{ path: string; data: Buffer }> {
  const data = bytes(n);
  const path = join(dir, name);
  await writeFile(path, data);
  return { path, data };
}
