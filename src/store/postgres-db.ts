import { createHash } from 'node:crypto';
import pg from 'pg';
import type { Db, DbTx, QueryOptions } from './db.ts';

// timestamptz and int8 as JavaScript values, the same as PGlite gives them.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

/** Session settings of chronops' connections (see PostgresDb). */
const PLANNER_OPTIONS = '-c enable_bitmapscan=off';

/**
 * Server adapter: a pool on a PostgreSQL server (`DATABASE_URL`); any number of chronops processes share it.
 *
 * The webhook ingest's writes (`priority: 'high'`) have connections of their own (a second pool of two, opened
 * at the first such write): a sender waits on that write for its 200, and in the shared pool it queued behind the
 * worker's, the outbox's and the relay's statements (issue 8: at 333 requests/s with the worker on, 2–3
 * statements waited for a connection on average and up to 23, and the ingest's write waited with them). *
 * Every connection plans without bitmap scans (`enable_bitmapscan = off`, as the embedded database does): a table
 * that grew since its last ANALYZE (a new schema's inbox, before autovacuum's first one; a backlog after a storm)
 * has no statistics for its queue, and the planner read the whole backlog through a bitmap scan and a sort for
 * the worker's claim of 16 (100,000 pending: 141 ms against 0.1 ms walking the index in order) and the relay's batch
 * (78 against 0.3 ms) — `BENCH_DATABASE=postgres node bench/inbox-plans.ts`. chronops' queries are index walks
 * with a limit; `options` in DATABASE_URL, if any, takes the place of this one.
 */
export class PostgresDb implements Db {
  readonly kind = 'postgres' as const;
  readonly pool: pg.Pool;
  readonly connectionString: string;
  private readonly statementNames = new Map<string, string>();
  private ingest: pg.Pool | undefined;

  constructor(connectionString: string, options: { max?: number } = {}) {
    this.connectionString = connectionString;
    this.pool = new pg.Pool({
      connectionString,
      max: options.max ?? 10,
      application_name: 'chronops',
      options: PLANNER_OPTIONS,
    });
    // An idle client that loses its connection must not crash the process; the next query reconnects.
    this.pool.on('error', () => {});
  }

  /** The ingest's own connections (see the class comment). */
  private ingestPool(): pg.Pool {
    if (!this.ingest) {
      this.ingest = new pg.Pool({
        connectionString: this.connectionString,
        max: 2,
        application_name: 'chronops-ingest',
        options: PLANNER_OPTIONS,
      });
      this.ingest.on('error', () => {});
    }
    return this.ingest;
  }

  async query<T>(sql: string, params: readonly unknown[] = [], options?: QueryOptions): Promise<T[]> {
    const pool = options?.priority === 'high' ? this.ingestPool() : this.pool;
    const result = options?.prepare
      ? await pool.query({ name: this.statementName(sql), text: sql, values: params as unknown[] })
      : await pool.query(sql, params as unknown[]);
    return result.rows as T[];
  }

  /** A prepared statement's name: from its text, so that one name never stands for two statements. */
  private statementName(sql: string): string {
    let name = this.statementNames.get(sql);
    if (name === undefined) {
      name = `chronops_${createHash('sha256').update(sql).digest('hex').slice(0, 24)}`;
      this.statementNames.set(sql, name);
    }
    return name;
  }

  async transaction<T>(fn: (tx: DbTx) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const tx: DbTx = {
        query: async <R>(sql: string, params: readonly unknown[] = []) =>
          (await client.query(sql, params as unknown[])).rows as R[],
        bossDb: { executeSql: (text: string, values?: unknown[]) => client.query(text, values) },
      };
      const result = await fn(tx);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      throw error;
    } finally {
      client.release();
    }
  }

  async close(): Promise<void> {
    await Promise.all([this.pool.end(), this.ingest?.end()]);
  }
}
