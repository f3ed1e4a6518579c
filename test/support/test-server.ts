/**
 * An in-process Coffer server for tests: 127.0.0.1, port 0, a temporary state root, cheap scrypt
 * parameters, logs captured in memory (set COFFER_TEST_LOGS=1 to also print them). Users are added
 * straight through a second UserStore connection, as coffer-users would (so the server sees
 * data_version move, exactly as with the real tool).
 */
import { chmod, copyFile, mkdir, mkdtemp, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type Config } from '../../src/config/load.js';
import { homeDir } from '../../src/config/paths.js';
import type { SettingName } from '../../src/config/settings.js';
import { loadHostKeys } from '../../src/server/host-keys.js';
import type { SessionRouter } from '../../src/server/session-router.js';
import { startServer, type RunningServer, type ServerOptions } from '../../src/server/server.js';
import { hashPassword, type ScryptParams } from '../../src/users/password.js';
import { parseAuthorizedKeys } from '../../src/users/public-keys.js';
import { UserStore, type User } from '../../src/users/user-store.js';
import { createLogger } from '../../src/util/logger.js';
import { LogCapture } from './log-capture.js';

/** Cheap scrypt parameters (ln=12: a few ms) for stored hashes and the server's dummy hash. */
export const TEST_SCRYPT: ScryptParams = { ln: 12, r: 8, p: 1 };

/** What a test may change. */
export interface TestServerOptions {
  /** Settings as they would come from flags (strings or values). */
  settings?: Partial<Record<SettingName, string | number | boolean>>;
  router?: SessionRouter;
  /** Extra startServer options (keepalive...). */
  server?: Partial<ServerOptions>;
}

/** A user to add. */
export interface TestUser {
  password?: string;
  /** authorized_keys lines. */
  keys?: string[];
  disabled?: boolean;
  quota?: number | null;
  /** Entry limit; absent = unlimited. */
  maxFiles?: number | null;
}

/** A running test server. */
export interface TestServer {
  host: string;
  port: number;
  root: string;
  config: Config;
  server: RunningServer;
  logs: LogCapture;
  /** A second connection to the database, as coffer-users has. */
  admin: UserStore;
  /** Adds a user (and their home folder, mode 0700). */
  addUser(name: string, user: TestUser): Promise<User>;
  /** Stops the server (if still running) and deletes the state root. */
  close(): Promise<void>;
}

/** Starts a server with a fresh temporary state root. */
export async function startTestServer(opts: TestServerOptions = {}): Promise<TestServer> {
  const root = await mkdtemp(join(tmpdir(), 'coffer-test-'));
  await copyCachedHostKeys(join(root, 'keys'));
  const flags: Record<string, string | boolean> = { host: '127.0.0.1', port: '0', logLevel: 'debug', logFormat: 'json' };
  for (const [k, v] of Object.entries(opts.settings ?? {})) flags[k] = typeof v === 'number' ? String(v) : v;
  const config = loadConfig({ flags, rootFlag: root, env: {}, stdoutIsTTY: false });
  const logs = new LogCapture(process.env.COFFER_TEST_LOGS === '1');
  const logger = createLogger({ level: config.logLevel, format: 'json', destination: logs });
  const server = await startServer(config, { scrypt: TEST_SCRYPT, logger, ...(opts.router ? { router: opts.router } : {}), ...opts.server });
  const admin = UserStore.open(config.paths.dbFile);
  let closed = false;
  return {
    host: '127.0.0.1',
    port: server.address.port,
    root,
    config,
    server,
    logs,
    admin,
    addUser: (name, user) => addTestUser(admin, config, name, user),
    close: async () => {
      if (closed) return;
      closed = true;
      await server.close();
      admin.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}

/** Adds a user through `store` with a TEST_SCRYPT hash, and creates their home. */
export async function addTestUser(store: UserStore, config: Config, name: string, user: TestUser): Promise<User> {
  const passwordHash = user.password === undefined ? null : await hashPassword(user.password, TEST_SCRYPT);
  const keys = user.keys?.length ? parseAuthorizedKeys(user.keys.join('\n')) : [];
  await mkdir(homeDir(config.paths, name), { recursive: true, mode: 0o700 });
  return store.add({ name, passwordHash, quotaBytes: user.quota ?? null, maxFiles: user.maxFiles ?? null, disabled: user.disabled ?? false, keys });
}

let cached: Promise<string> | undefined;

/**
 * Host keys made once per machine (RSA 3072 takes a while) in the temp folder, then copied into
 * each test root. Made under a private name and renamed, so parallel test files do not collide.
 */
export function cachedHostKeysDir(): Promise<string> {
  cached ??= (async () => {
    const dir = join(tmpdir(), 'coffer-test-host-keys-v1');
    if (await exists(join(dir, 'ssh_host_rsa_key'))) return dir;
    const fresh = await mkdtemp(join(tmpdir(), 'coffer-test-host-keys-new-'));
    await loadHostKeys(fresh);
    await rename(fresh, dir).catch(() => rm(fresh, { recursive: true, force: true }));
    return dir;
  })();
  return cached;
}

/** Copies the cached host keys into `keysDir` (mode 0600). */
export async function copyCachedHostKeys(keysDir: string): Promise<void> {
  const from = await cachedHostKeysDir();
  await mkdir(keysDir, { recursive: true, mode: 0o700 });
  for (const f of ['ssh_host_ed25519_key', 'ssh_host_rsa_key']) {
    await copyFile(join(from, f), join(keysDir, f));
    await chmod(join(keysDir, f), 0o600);
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
