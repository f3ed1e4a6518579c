/**
 * coffer-server as a real subprocess (`node bin/coffer-server.js --root ROOT --port 0`), for tests
 * that kill it or must not share an event loop with it (a test holding a database lock would
 * otherwise freeze both). Its JSON log lines are parsed as they arrive; the port comes from the
 * "start" line. Also: a fresh state root with the cached host keys, and a read-only look at the
 * database (blocks and the unsure mark are not part of `coffer-users show --json`).
 */
import Database from 'better-sqlite3';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { cleanEnv, PROJECT } from './run-cli.js';
import { tempDir } from './temp-dirs.js';
import { copyCachedHostKeys } from './test-server.js';
import { waitFor } from './wait.js';

/** One parsed log line of the subprocess. */
export type ProcLogLine = Record<string, unknown> & { event?: string };

/** A running coffer-server subprocess. */
export interface ServerProcess {
  child: ChildProcess;
  port: number;
  /** Every JSON line so far. */
  lines: ProcLogLine[];
  /** Everything written to stdout and stderr (for failure messages). */
  output(): string;
  /** Lines with this event whose fields match. */
  events(event: string, fields?: Record<string, unknown>): ProcLogLine[];
  /** Waits for a line with this event (and fields); returns the first. */
  waitFor(event: string, fields?: Record<string, unknown>, timeoutMs?: number): Promise<ProcLogLine>;
  /** True while the process runs. */
  alive(): boolean;
  /** Resolves with the exit (code, signal) once the process has ended. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL, then waits for the exit. */
  kill(): Promise<void>;
}

/** A fresh state root with the cached host keys in keys/ (removed when the test process exits). */
export async function freshRoot(prefix = 'coffer-proc-'): Promise<string> {
  const root = await tempDir(prefix);
  await copyCachedHostKeys(join(root, 'keys'));
  return root;
}

/**
 * Starts `coffer-server --root ROOT --host 127.0.0.1 --port 0 --log-format json` plus `extra` flags.
 * `detached`: in a process group of its own, so that a test can signal the group as a terminal's
 * Ctrl-C does (process.kill(-pid, 'SIGINT')).
 */
export async function startServerProcess(root: string, extra: string[] = [], options: { detached?: boolean } = {}): Promise<ServerProcess> {
  const child = spawn(
    process.execPath,
    [join(PROJECT, 'bin', 'coffer-server.js'), '--root', root, '--host', '127.0.0.1', '--port', '0', '--log-format', 'json', '--log-level', 'info', ...extra],
    { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'], detached: options.detached === true },
  );
  const lines: ProcLogLine[] = [];
  let text = '';
  let partial = '';
  child.stdout!.on('data', (d: Buffer) => {
    text += d.toString();
    partial += d.toString();
    const parts = partial.split('\n');
    partial = parts.pop()!;
    for (const l of parts) {
      try {
        lines.push(JSON.parse(l) as ProcLogLine);
      } catch {
        /* not JSON: kept in the text only */
      }
    }
  });
  child.stderr!.on('data', (d: Buffer) => (text += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  let ended = false;
  void exited.then(() => (ended = true));
  const events = (event: string, fields: Record<string, unknown> = {}) =>
    lines.filter((l) => l.event === event && Object.entries(fields).every(([k, v]) => l[k] === v));
  await waitFor(() => events('start').length > 0 || ended, 20_000, 'coffer-server to log its start');
  if (ended) throw new Error(`coffer-server exited at start: ${text}`);
  const port = Number(events('start')[0]!.port);
  return {
    child,
    port,
    lines,
    output: () => text,
    events,
    async waitFor(event, fields = {}, timeoutMs = 10_000) {
      await waitFor(() => events(event, fields).length > 0, timeoutMs, `coffer-server log event ${event} ${JSON.stringify(fields)}; output so far:\n${text.slice(-3000)}`);
      return events(event, fields)[0]!;
    },
    alive: () => !ended,
    exited,
    async kill() {
      if (!ended) child.kill('SIGKILL');
      await exited;
    },
  };
}

/**
 * A user's usage row read straight from the database (read-only connection): `unsure` (a recount
 * is due), and what server processes hold of the user in the store (`blockBytes` not yet settled,
 * `connections`, `held`: any row at all).
 */
export function usageRow(
  root: string,
  name: string,
): { usedBytes: number; unsure: boolean; quotaBytes: number | null; blockBytes: number; connections: number; held: boolean } | undefined {
  const db = new Database(join(root, 'db', 'coffer.db'), { readonly: true, fileMustExist: true, timeout: 5000 });
  try {
    const row = db.prepare('SELECT used_bytes, usage_unsure, quota_bytes FROM users WHERE name = ?').get(name) as
      | { used_bytes: number; usage_unsure: number; quota_bytes: number | null }
      | undefined;
    const holds = db
      .prepare('SELECT count(*) AS n, coalesce(sum(block_bytes), 0) AS block, coalesce(sum(connections), 0) AS conns FROM quota_holds WHERE user_name = ?')
      .get(name) as { n: number; block: number; conns: number };
    return (
      row && {
        usedBytes: row.used_bytes,
        unsure: row.usage_unsure === 1,
        quotaBytes: row.quota_bytes,
        blockBytes: holds.block,
        connections: holds.conns,
        held: holds.n > 0,
      }
    );
  } finally {
    db.close();
  }
}
