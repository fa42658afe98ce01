import type { Db as IDatabase } from 'pg-boss';

/**
 * Port: the one database chronops keeps everything in (its own tables and pg-boss's queues), in the style of
 * pg-boss's injected `executeSql`. Two adapters: PGlite in the process (embedded default) and a PostgreSQL
 * server (`DATABASE_URL`). The SQL is PostgreSQL's in both.
 */
export interface Db {
  readonly kind: 'pglite' | 'postgres';
  query<T = Record<string, unknown>>(
    sql: string,
    params?: readonly unknown[],
    options?: QueryOptions,
  ): Promise<T[]>;
  /**
   * `COPY table (columns) FROM … WITH (FORMAT csv)` of `csv` (the rows as CSV text), where the adapter has a
   * cheaper way in than INSERT for many rows (the embedded database). A duplicate key fails the whole COPY.
   */
  copyCsv?(table: string, columns: readonly string[], csv: string): Promise<void>;
  /** Runs `fn` in one transaction; `tx.bossDb` lets pg-boss enqueue inside it. */
  transaction<T>(fn: (tx: DbTx) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export interface DbTx {
  query<T = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<T[]>;
  readonly bossDb: IDatabase;
}

export interface QueryOptions {
  /**
   * A statement run very often (the webhook inbox's insert; the worker's and the outbox's per-message writes): on
   * a PostgreSQL server it is prepared once per connection and then only executed, which saves the server parsing
   * and planning it each time. The SQL text must not vary from call to call (only the parameters). Only for
   * statements whose plan cannot depend on the table's size — an insert, rows found by a unique or partial key:
   * a prepared statement may keep the plan made when the table was empty (a look for the first open row, planned
   * at start as a sequential scan, read the whole outbox at every claim later: 1.2 ms instead of 0.04).
   */
  prepare?: boolean;
  /**
   * 'high': the webhook ingest's write, which a sender waits on for its 200. On the embedded database it goes
   * ahead of the other statements waiting for the database thread; on a PostgreSQL server it has connections
   * of its own.
   * 'medium': work whose backlog is bounded and whose lag is watched (the Kafka relay: what was stored): on the
   * embedded database it goes after the ingest's writes and ahead of the rest (the workers' statements, whose
   * backlog can grow without bound); on a PostgreSQL server it is an ordinary statement.
   */
  priority?: 'high' | 'medium';
}
