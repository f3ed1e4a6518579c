/**
 * Opens the store the `database` setting names (SPEC §7): empty = the SQLite file db/coffer.db,
 * a postgres:// URL = PostgreSQL. The server and coffer-users both start here.
 */
import type { Config } from '../config/load.js';
import type { OpenOptions } from '../users/database.js';
import { PostgresStore } from './postgres-store.js';
import { SqliteStore } from './sqlite-store.js';
import type { Store } from './store.js';

/** Options of openStore. */
export interface OpenStoreOptions {
  /** SQLite: the busy timeout after migrations (see users/database.ts). */
  sqlite?: OpenOptions;
  /** PostgreSQL: the pool's size. */
  poolSize?: number;
}

/** The configured store, migrated; throws StoreUnavailableError when PostgreSQL cannot be reached. */
export async function openStore(config: Pick<Config, 'database' | 'paths'>, options: OpenStoreOptions = {}): Promise<Store> {
  if (config.database === '') return SqliteStore.open(config.paths.dbFile, options.sqlite);
  return PostgresStore.connect(config.database, { max: options.poolSize });
}
