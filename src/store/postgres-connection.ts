/**
 * A node-postgres pool for the PostgreSQL store: queries on a pooled connection (run), one
 * transaction (tx), and the one translation of failures: connection-class errors become
 * StoreUnavailableError naming host:port/database, never the password. BIGINT columns are read as
 * numbers (sizes stay below 2^53).
 */
import pg from 'pg';
import type { PoolClient } from 'pg';
import { InputError, NoSuchUserError } from '../util/errors.js';
import { redactSecret, redactUrl } from '../util/redact.js';
import { StoreUnavailableError } from './store.js';

/** BIGINT (oid 20) as a JS number; everything else as node-postgres reads it. */
const TYPES = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === 20 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

/** SQLSTATE classes and codes that mean "the store is not there", not "the request was wrong". */
const UNAVAILABLE = /^(08|53|57P0|3D000|28)/;
const NET_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE']);

/** The pool of one store; PostgresStore's queries run through it. */
export class PostgresConnection {
  protected readonly pool: pg.Pool;
  /** host:port/database, for messages. */
  readonly where: string;
  private readonly password: string | undefined;

  /** A pool for `url` (no connection is made yet). */
  protected constructor(url: string, options: { max?: number }) {
    const parsed = new URL(url);
    this.where = `${parsed.hostname}:${parsed.port || 5432}${parsed.pathname || '/'}`;
    this.password = parsed.password ? decodeURIComponent(parsed.password) : undefined;
    this.pool = new pg.Pool({ connectionString: url, max: options.max ?? 10, connectionTimeoutMillis: 5000, idleTimeoutMillis: 10_000, types: TYPES });
    // An idle client losing its connection emits 'error' on the pool: never crash the process.
    this.pool.on('error', () => undefined);
    // pg-pool takes its own 'error' listener off a client while it is checked out, and a
    // connection that dies then (the server restarted, a network cut between two queries of one
    // transaction) emits 'error' on the client: with no listener, an uncaught exception. So every
    // client carries one of ours for its whole life; the failure still reaches the running query
    // (node-postgres rejects it), and the pool closes the client when it is released.
    this.pool.on('connect', (client) => client.on('error', () => undefined));
  }

  protected async client(): Promise<PoolClient> {
    try {
      return await this.pool.connect();
    } catch (err) {
      throw this.translate(err);
    }
  }

  /** Runs `fn` on a pooled connection (no transaction). */
  protected async run<T>(fn: (c: PoolClient) => Promise<T>): Promise<T> {
    const c = await this.client();
    let broken: Error | undefined;
    try {
      return await fn(c);
    } catch (err) {
      const out = this.translate(err);
      // A connection that failed goes back to the pool only to be closed, never reused.
      if (out instanceof StoreUnavailableError) broken = out;
      throw out;
    } finally {
      c.release(broken);
    }
  }

  /** Runs `fn` in one transaction: committed if it resolves, rolled back if it throws. */
  protected async tx<T>(fn: (c: PoolClient) => Promise<T>): Promise<T> {
    return this.run(async (c) => {
      await c.query('BEGIN');
      try {
        const out = await fn(c);
        await c.query('COMMIT');
        return out;
      } catch (err) {
        await c.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
    });
  }

  /** Connection-class failures become StoreUnavailableError; the caller's errors pass unchanged. */
  protected translate(err: unknown, starting = false): unknown {
    if (err instanceof InputError || err instanceof NoSuchUserError || err instanceof StoreUnavailableError) return err;
    const e = err as { code?: string; message?: string };
    const unavailable = starting || (typeof e.code === 'string' && (UNAVAILABLE.test(e.code) || NET_ERRORS.has(e.code))) || /timeout|terminat|Connection/i.test(e.message ?? '');
    if (!unavailable) return err;
    const reason = redactSecret(redactUrl(e.message || e.code || String(err)), this.password);
    return new StoreUnavailableError(`cannot reach the PostgreSQL store at ${this.where}: ${reason}`);
  }
}
