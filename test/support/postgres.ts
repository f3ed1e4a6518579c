/**
 * A throwaway PostgreSQL 15 for tests (Debian's `postgresql` package, installed by .ci/run):
 * initdb into a temp folder owned by the `postgres` system user (PostgreSQL refuses to run as
 * root), pg_ctl on 127.0.0.1 and a free port with password authentication, stopped by the
 * postmaster's PID. Each test takes a database of its own (createDatabase) for isolation.
 */
import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { waitFor } from './wait.js';
import { freePort } from './ports.js';

const BIN = '/usr/lib/postgresql/15/bin';
export const PG_USER = 'coffer';
export const PG_PASSWORD = 'pg-test-secret-41';

/** A running PostgreSQL. */
export interface PgServer {
  port: number;
  pid: number;
  /** The URL of database `db` (with the password). */
  url(db?: string): string;
  /** Creates an empty database with a fresh name; returns its URL. */
  createDatabase(): Promise<string>;
  /** Stops the server by its PID and deletes its folder. */
  stop(): Promise<void>;
  /** Stops the server by its PID, keeping its data (a store outage). */
  pause(): Promise<void>;
  /** Starts it again on the same port and data after pause(). */
  resume(): Promise<void>;
}

/** True when PostgreSQL 15's programs are installed here. */
export const postgresInstalled = (): boolean => existsSync(join(BIN, 'pg_ctl'));

/** Runs a PostgreSQL program as the `postgres` user when we are root, else as ourselves. */
function runPg(program: string, args: string[]): Promise<string> {
  const asRoot = process.getuid?.() === 0;
  const [cmd, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', join(BIN, program), ...args]] : [join(BIN, program), args];
  return new Promise((resolve, reject) =>
    execFile(cmd, argv, { timeout: 60_000 }, (err, stdout, stderr) => (err ? reject(new Error(`${program} failed: ${stderr || err.message}`)) : resolve(stdout))),
  );
}

let databases = 0;

/** Starts a fresh PostgreSQL on 127.0.0.1; throws when it is not installed. */
export async function startPostgres(): Promise<PgServer> {
  if (!postgresInstalled()) throw new Error(`PostgreSQL 15 is not installed (${BIN}); .ci/run installs the Debian package postgresql`);
  const dir = mkdtempSync(join(tmpdir(), 'coffer-pg-'));
  if (process.getuid?.() === 0) chownSync(dir, Number((await runCmd('id', ['-u', 'postgres'])).trim()), Number((await runCmd('id', ['-g', 'postgres'])).trim()));
  const pwfile = join(dir, 'pw');
  writeFileSync(pwfile, PG_PASSWORD + '\n');
  if (process.getuid?.() === 0) chownSync(pwfile, Number((await runCmd('id', ['-u', 'postgres'])).trim()), 0);
  const data = join(dir, 'data');
  await runPg('initdb', ['-D', data, '-U', PG_USER, '--pwfile', pwfile, '--auth-host=scram-sha-256', '--auth-local=trust', '--no-sync', '-E', 'UTF8']);
  const port = await freePort();
  const start = async () => {
    await runPg('pg_ctl', ['-D', data, '-l', join(dir, 'log'), '-w', '-o', `-h 127.0.0.1 -p ${port} -k ${dir} -F -c max_connections=300`, 'start']);
    return Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
  };
  const halt = async (which: number) => {
    try {
      process.kill(which, 'SIGINT'); // fast shutdown: disconnect clients, stop
    } catch {
      // already gone
    }
    await waitFor(() => !alive(which), 30_000, 'PostgreSQL to stop');
  };
  let pid = await start();
  const url = (db = 'postgres') => `postgres://${PG_USER}:${PG_PASSWORD}@127.0.0.1:${port}/${db}`;
  return {
    port,
    get pid() {
      return pid;
    },
    url,
    async createDatabase() {
      const name = `t${process.pid}_${++databases}`;
      const client = new pg.Client({ connectionString: url() });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      return url(name);
    },
    async stop() {
      await halt(pid);
      rmSync(dir, { recursive: true, force: true });
    },
    pause: () => halt(pid),
    async resume() {
      pid = await start();
    },
  };
}

/** True while a process with this pid exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function runCmd(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => execFile(cmd, args, (err, out) => (err ? reject(err) : resolve(out))));
}
