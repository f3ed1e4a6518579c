// A PostgreSQL store for the measurement scripts' `--store postgres`: the tests' own PostgreSQL
// starter (test/support/postgres.ts, compiled: run `npm run build` first) on 127.0.0.1 and a free
// port, stopped by its PID at cleanup; and the state root's coffer.json pointing Coffer at it.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { onCleanup } from './cleanup.mjs';
import { PROJECT } from './coffer.mjs';

/** Starts PostgreSQL with an empty database; returns its URL. Stopped when the script ends. */
export async function startPostgresStore() {
  const { startPostgres } = await import(join(PROJECT, 'dist/test/support/postgres.js'));
  const pg = await startPostgres();
  onCleanup(
    () => {
      try {
        process.kill(pg.pid, 'SIGQUIT'); // an exit that cannot wait: PostgreSQL's immediate shutdown
      } catch {
        /* already gone */
      }
    },
    () => pg.stop(),
  );
  return pg.createDatabase();
}

/** Makes the state root's servers and coffer-users use the store at `url` (coffer.json). */
export function useDatabase(root, url) {
  writeFileSync(join(root, 'coffer.json'), JSON.stringify({ database: url }) + '\n', { mode: 0o600 });
}
