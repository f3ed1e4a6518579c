/**
 * Runs Coffer's programs as subprocesses, the way an operator does, and snapshots the state they
 * change, so tests can assert "refused, nothing changed".
 */
import Database from 'better-sqlite3';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project folder (dist/test/support -> ../../..). */
export const PROJECT = fileURLToPath(new URL('../../../', import.meta.url));

/** What a program run produced. */
export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Options of one program run. */
export interface CliOptions {
  input?: string;
  env?: Record<string, string>;
}

/** The environment programs run with: this process's, minus every COFFER_* variable, plus `extra`. */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('COFFER_') && v !== undefined) env[k] = v;
  return { ...env, ...extra };
}

/** Runs `bin/PROGRAM.js ARGS` to completion with stdin from `input` (never a TTY). */
export function runCli(program: string, args: string[], opts: CliOptions = {}): CliResult {
  const r = spawnSync(process.execPath, [join(PROJECT, 'bin', `${program}.js`), ...args], {
    input: opts.input ?? '',
    env: cleanEnv(opts.env),
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A fresh temporary folder, removed by the returned function. */
export function tempDir(prefix = 'coffer-test-'): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/**
 * Everything a coffer-users command may change under a state root: every row of the database
 * (null if there is no database) and the tree of homes/ with sizes and modes.
 */
export function stateSnapshot(root: string): string {
  const dbFile = join(root, 'db', 'coffer.db');
  let rows: unknown = null;
  if (existsSync(dbFile)) {
    const db = new Database(dbFile, { readonly: true });
    try {
      rows = {
        users: db.prepare('SELECT * FROM users ORDER BY id').all(),
        keys: db.prepare('SELECT * FROM user_keys ORDER BY id').all(),
      };
    } finally {
      db.close();
    }
  }
  return JSON.stringify({ rows, homes: tree(join(root, 'homes')) });
}

function tree(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true })
    .map(String)
    .sort()
    .map((f) => {
      const st = statSync(join(dir, f), { throwIfNoEntry: false });
      return `${f} ${st ? `${st.mode.toString(8)} ${st.isFile() ? st.size : '-'}` : 'link'}`;
    });
}
