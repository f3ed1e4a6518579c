/**
 * A Coffer deployment on one machine (SPEC §7 Several nodes; docs/deployment.md): one PostgreSQL,
 * N coffer-server nodes (separate processes on their own ports, one shared state root for keys/
 * and homes/, `proxyProtocol: 127.0.0.1`) and HAProxy 2.6 in front (send-proxy-v2, TCP health
 * checks that wait for the SSH banner), each process stopped by its PID. Used by
 * test/deploy/cluster.test.ts and by `npm run cluster` (scripts/cluster.mjs imports the compiled
 * dist/test/support/cluster.js), so the guide's haproxy.cfg is the one that is tested.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { freePort } from './ports.js';
import { startPostgres, type PgServer } from './postgres.js';
import { runCli } from './run-cli.js';
import { freshRoot, startServerProcess, type ServerProcess } from './server-process.js';
import { waitFor } from './wait.js';

/** True when `haproxy` is on PATH. */
export const haproxyInstalled = (): boolean => spawnSync('haproxy', ['-v'], { stdio: 'ignore' }).status === 0;

/** One backend server in haproxy.cfg. */
export interface HaproxyNode {
  name: string;
  host: string;
  port: number;
}

/** What haproxyConfig writes. */
export interface HaproxyConfigOptions {
  /** The address clients connect to, e.g. `0.0.0.0:22`. */
  bind: string;
  nodes: HaproxyNode[];
  /** Health check interval; a node is down after `fall` failed checks, up after `rise` good ones. */
  inter?: string;
  fall?: number;
  rise?: number;
}

/**
 * The haproxy.cfg of docs/deployment.md: TCP mode, least connections, a PROXY v2 header on every
 * connection to a node (health checks get a LOCAL one), a TCP check that waits for the SSH
 * banner, and a connection refused by a node (one that is draining) retried on another.
 */
export function haproxyConfig(o: HaproxyConfigOptions): string {
  return [
    'global',
    '    maxconn 4096',
    '',
    'defaults',
    '    mode tcp',
    '    timeout connect 5s',
    '    # SFTP sessions may sit idle for long: Coffer ends idle ones (idleTimeoutSeconds)',
    '    timeout client 1h',
    '    timeout server 1h',
    '    timeout check 5s',
    '    # a node that refuses the connection (draining, stopped) is retried on another',
    '    retries 3',
    '    option redispatch',
    '',
    'frontend sftp',
    `    bind ${o.bind}`,
    '    default_backend coffer',
    '',
    'backend coffer',
    '    balance leastconn',
    '    option tcp-check',
    '    tcp-check expect rstring ^SSH-2\\.0-',
    `    default-server send-proxy-v2 check inter ${o.inter ?? '2s'} fall ${o.fall ?? 2} rise ${o.rise ?? 2}`,
    ...o.nodes.map((n) => `    server ${n.name} ${n.host}:${n.port}`),
    '',
  ].join('\n');
}

/** HAProxy in the foreground (`haproxy -f CFG -db`). */
export interface Haproxy {
  child: ChildProcess;
  port: number;
  /** Its stderr so far (server state changes: `Server coffer/node1 is DOWN`). */
  stderr(): string;
  /** Stops it by PID (SIGTERM; SIGKILL after 5 s) and waits for its exit. */
  stop(): Promise<void>;
}

/** True once something accepts connections on 127.0.0.1:port. */
export function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = netConnect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Writes `cfg` to `file`, starts HAProxy on it and waits until it listens on `port`. */
export async function startHaproxy(file: string, cfg: string, port: number): Promise<Haproxy> {
  await writeFile(file, cfg);
  const child = spawn('haproxy', ['-f', file, '-db'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  try {
    await waitFor(async () => child.exitCode === null && (await accepts(port)), 15_000, `haproxy to listen on ${port} (stderr: ${stderr})`);
  } catch (err) {
    await stop();
    throw err;
  }
  return { child, port, stderr: () => stderr, stop };
}

/** A running deployment. */
export interface Deployment {
  pg: PgServer;
  /** The `database` URL the nodes share. */
  database: string;
  /** The shared state root (keys/, homes/). */
  root: string;
  nodes: ServerProcess[];
  haproxy: Haproxy;
  /** Adds a user with this password (and public key lines, if any) through coffer-users. */
  addUser(name: string, password: string, keys?: string[]): void;
  /** Stops HAProxy, the nodes (SIGTERM, SIGKILL after 30 s) and PostgreSQL, each by PID; never throws. */
  stop(): Promise<void>;
}

/** Options of startDeployment. */
export interface DeploymentOptions {
  nodes?: number;
  /** Extra coffer-server flags for every node. */
  nodeFlags?: string[];
  /** HAProxy's port (default: a free one). */
  port?: number;
  /** Health check timing (default: fast, for tests). */
  inter?: string;
  fall?: number;
  rise?: number;
}

/**
 * Starts PostgreSQL, `nodes` coffer-server nodes on 127.0.0.1 (free ports) and HAProxy in front,
 * and waits until HAProxy sees every node up. On failure, stops what it started and rethrows.
 */
export async function startDeployment(o: DeploymentOptions = {}): Promise<Deployment> {
  const started: { pg?: PgServer; nodes: ServerProcess[]; haproxy?: Haproxy } = { nodes: [] };
  const stop = async () => {
    await started.haproxy?.stop().catch(() => {});
    await Promise.all(started.nodes.map((n) => stopNode(n).catch(() => {})));
    await started.pg?.stop().catch(() => {});
  };
  try {
    const pg = (started.pg = await startPostgres());
    const database = await pg.createDatabase();
    const root = await freshRoot('coffer-cluster-');
    const flags = ['--database', database, '--proxy-protocol', '127.0.0.1', ...(o.nodeFlags ?? [])];
    // Each node in a process group of its own: a terminal's Ctrl-C (npm run cluster) reaches only
    // the script, which then drains every node with one SIGTERM (a second signal would force it).
    for (let i = 0; i < (o.nodes ?? 3); i++) started.nodes.push(await startServerProcess(root, flags, { detached: true }));
    const port = o.port ?? (await freePort());
    const cfg = haproxyConfig({
      bind: `127.0.0.1:${port}`,
      nodes: started.nodes.map((n, i) => ({ name: `node${i + 1}`, host: '127.0.0.1', port: n.port })),
      inter: o.inter ?? '300ms',
      fall: o.fall ?? 1,
      rise: o.rise ?? 1,
    });
    const haproxy = (started.haproxy = await startHaproxy(join(root, 'haproxy.cfg'), cfg, port));
    // HAProxy starts with every server up; a node's first failed check takes it down (stderr line).
    return {
      pg,
      database,
      root,
      nodes: started.nodes,
      haproxy,
      addUser(name, password, keys = []) {
        const keyArgs = keys.flatMap((_, i) => ['--key', join(root, `.key-${name}-${i}.pub`)]);
        keys.forEach((k, i) => writeFileSync(join(root, `.key-${name}-${i}.pub`), k + '\n'));
        const r = runCli('coffer-users', ['--root', root, '--database', database, 'add', name, '--password-stdin', ...keyArgs], { input: password + '\n' });
        if (r.status !== 0) throw new Error(`coffer-users add ${name} failed: ${r.stderr}`);
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** SIGTERM (the node drains), SIGKILL if it has not exited 30 s later; waits for the exit. */
export async function stopNode(node: ServerProcess): Promise<void> {
  if (!node.alive()) return;
  node.child.kill('SIGTERM');
  const timer = setTimeout(() => node.child.kill('SIGKILL'), 30_000);
  await node.exited;
  clearTimeout(timer);
}
