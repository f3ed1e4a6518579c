/**
 * Signals sent to Coffer's programs as a supervisor sends them: at any moment, including while the
 * program starts. Spawns a program with its output captured, picks free ports, polls a port until it
 * accepts, and inspects what a run left behind (the database's files, a listener). Runs many such
 * runs a few at a time, so a loop of 50 process starts stays bounded on a 2-core machine.
 */
import Database from 'better-sqlite3';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { cleanEnv, PROJECT } from './run-cli.js';
import { freePort } from './ports.js';

export { freePort };

/** How a child process ended. */
export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A spawned program with its output collected. */
export interface Spawned {
  child: ChildProcess;
  /** performance.now() at spawn. */
  spawnedAt: number;
  stdout(): string;
  stderr(): string;
  /** stdout's JSON lines (other lines are skipped). */
  lines(): Array<Record<string, unknown>>;
  exited: Promise<Exit>;
  /** True once the process has ended. */
  ended(): boolean;
}

/** Spawns `node bin/PROGRAM.js ARGS` with a clean environment; stdin is a pipe when `stdin` is 'pipe'. */
export function spawnProgram(program: string, args: string[], stdin: 'pipe' | 'ignore' = 'ignore'): Spawned {
  const child = spawn(process.execPath, [join(PROJECT, 'bin', `${program}.js`), ...args], {
    env: cleanEnv(),
    stdio: [stdin, 'pipe', 'pipe'],
  });
  const spawnedAt = performance.now();
  let out = '';
  let err = '';
  let ended = false;
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  // 'close', not 'exit': the output is complete once the pipes have closed.
  const exited = new Promise<Exit>((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
  void exited.then(() => (ended = true));
  return {
    child,
    spawnedAt,
    stdout: () => out,
    stderr: () => err,
    lines: () =>
      out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    exited,
    ended: () => ended,
  };
}

/** Rejects if the process has not ended within `ms` (it is then killed with SIGKILL). */
export async function exitWithin(p: Spawned, ms: number): Promise<Exit> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      p.child.kill('SIGKILL');
      reject(new Error(`still running ${ms} ms after the signal; output:\n${p.stdout()}${p.stderr()}`));
    }, ms);
  });
  try {
    return await Promise.race([p.exited, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** One connection attempt: the connected socket, or null when refused. */
export function tryConnect(port: number): Promise<Socket | null> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => resolve(socket));
    socket.once('error', () => resolve(null));
  });
}

/** Connects every 2 ms until the port accepts; null if `p` ended first. */
export async function pollUntilAccepts(port: number, p: Spawned): Promise<Socket | null> {
  for (;;) {
    const socket = await tryConnect(port);
    if (socket) return socket;
    if (p.ended()) return null;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** True when nothing listens on the port any more. */
export async function refusesConnections(port: number): Promise<boolean> {
  const socket = await tryConnect(port);
  socket?.destroy();
  return socket === null;
}

/** What a run left of the database at ROOT/db/coffer.db. */
export interface DbState {
  exists: boolean;
  /** Size of coffer.db-wal, or null when there is none (a clean close of the last connection deletes it). */
  walBytes: number | null;
  shm: boolean;
  /** PRAGMA integrity_check, read after the checks above. */
  integrity?: string;
  userVersion?: number;
}

/** Looks at the database files first, then opens the database to check it. */
export function dbState(root: string): DbState {
  const file = join(root, 'db', 'coffer.db');
  if (!existsSync(file)) return { exists: false, walBytes: null, shm: false };
  const walBytes = existsSync(`${file}-wal`) ? statSync(`${file}-wal`).size : null;
  const shm = existsSync(`${file}-shm`);
  const db = new Database(file, { fileMustExist: true, timeout: 5000 });
  try {
    const integrity = db.pragma('integrity_check', { simple: true }) as string;
    const userVersion = db.pragma('user_version', { simple: true }) as number;
    return { exists: true, walBytes, shm, integrity, userVersion };
  } finally {
    db.close();
  }
}

/** Runs `run(0..count-1)` with at most `parallel` at a time; resolves with the results in index order. */
export async function runMany<T>(count: number, parallel: number, run: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(count);
  let next = 0;
  const lane = async () => {
    while (next < count) {
      const i = next++;
      results[i] = await run(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, count) }, lane));
  return results;
}

/** A random integer in [lo, hi]. */
export function randomBetween(lo: number, hi: number): number {
  return lo + Math.floor(Math.random() * (hi - lo + 1));
}
