import { execFile } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { fromPglite } from 'pg-boss';
import { ChronopsError } from '../kernel/errors.ts';
import type { Db, DbTx, QueryOptions } from './db.ts';
import type {
  Request,
  Response,
  SerializedError,
  ThreadOptions,
  ThreadStats,
  VacuumOptions,
} from './pglite-thread.ts';

export class DataDirLockedError extends ChronopsError {
  override readonly code = 'locked';
}

/**
 * Takes `dir/chronops.lock` for this process. PGlite gives no error when two processes open the same directory
 * and can corrupt it, so a second chronops on the same data directory must refuse to start. A lock left by a
 * process that no longer runs (kill -9) is taken over.
 */
export function lockDataDir(dir: string): () => void {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'chronops.lock');
  const me = `${process.pid}@${hostname()}`;
  for (let tries = 0; tries < 2; tries++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, me);
      closeSync(fd);
      return () => rmSync(path, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = readFileSync(path, 'utf8').trim();
      const [pid, host] = holder.split('@');
      if (host === hostname() && pid && isAlive(Number(pid))) {
        throw new DataDirLockedError(
          `data directory ${dir} is in use by chronops process ${pid}; stop it first, or set another database.dataDir in the config`,
        );
      }
      rmSync(path, { force: true });
    }
  }
  throw new DataDirLockedError(`could not lock data directory ${dir}`);
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Creates a new data directory in a child process. PGlite's initdb takes about 1.1 GB of memory for a moment
 * (a second WebAssembly instance); done in the server's own process, that moment would be its peak for ever
 * after (the memory is not given back). The child exits and takes it with it.
 */
function initdb(dataDir: string): Promise<void> {
  const script = new URL('./pglite-thread.ts', import.meta.url).pathname;
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [...process.execArgv, script, '--initdb', join(dataDir, 'pglite')],
      { timeout: 120_000 },
      (error, _stdout, stderr) => {
        if (error)
          reject(new Error(`could not create the database in ${dataDir}: ${stderr || error.message}`));
        else resolve();
      },
    );
  });
}

/** A statement answered by the database thread with an error: PostgreSQL's fields kept (code = SQLSTATE). */
export class PgliteError extends Error {
  readonly code: string | undefined;
  readonly detail: string | undefined;
  readonly constraint: string | undefined;
  readonly table: string | undefined;

  constructor(e: SerializedError) {
    super(e.message);
    this.name = 'PgliteError';
    this.code = e.code;
    this.detail = e.detail;
    this.constraint = e.constraint;
    this.table = e.table;
  }
}

export interface PgliteOpenOptions {
  /**
   * Commits flushed to disk before they are acknowledged (default true; a data directory only). Off: a commit
   * survives chronops being killed, not a power cut in the seconds before the operating system writes it out.
   */
  fsync?: boolean;
  /**
   * PostgreSQL's shared_buffers inside PGlite (default 16MB; PostgreSQL's own default, 128MB, gave ~140 MB more
   * resident memory; the operating system's page cache holds the rest of the data anyway).
   */
  sharedBuffers?: string;
  /**
   * For 'memory' only: start from this file, a dump of a database made by PGlite's dumpDataDir, instead of creating
   * a new one. Creating one runs initdb (about half the CPU of opening, and 1.1 GB for a moment); tests that open
   * many in-memory databases start them from one dump of a new database instead.
   */
  template?: string;
  /**
   * Let V8 optimise PGlite's WebAssembly with TurboFan (default false). On, a statement costs a little less CPU, but
   * compiling PostgreSQL's grammar alone takes ~600 MB for a few seconds, which becomes the process's peak memory
   * (see src/store/pglite-thread.ts, "Memory"). It applies to the whole process, from the first database opened.
   */
  optimizeWasm?: boolean;
  /**
   * The database thread vacuums tables with many dead row versions at quiet moments (PGlite has no autovacuum; see
   * src/store/pglite-thread.ts, "Vacuum"). Default on, with its defaults; false: never.
   */
  vacuum?: VacuumOptions | false;
}

/** What pg-boss's PGlite adapter (`fromPglite`) calls: the thread's statements as PGlite's own API. */
interface PgliteLike {
  query(sql: string, params?: unknown[]): Promise<{ rows: unknown[] }>;
  exec(sql: string): Promise<Array<{ rows: unknown[] }>>;
  listen(channel: string, fn: (payload: string) => void): Promise<() => Promise<void>>;
}

/**
 * Embedded adapter: a file-backed PostgreSQL (PGlite) in its own worker thread (src/store/pglite-thread.ts), one
 * connection. The webhook ingest's writes (`priority: 'high'`, `copyCsv`) go ahead of other statements waiting
 * there; a transaction has the connection to itself from its begin to its end.
 */
export class PgliteDb implements Db {
  readonly kind = 'pglite' as const;
  private readonly worker: Worker;
  private readonly unlock: () => void;
  private readonly pending = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: unknown) => void }
  >();
  private readonly listeners = new Map<string, Set<(payload: string) => void>>();
  private nextId = 1;
  private closed: Promise<void> | undefined;
  private failure: Error | undefined;

  private constructor(worker: Worker, unlock: () => void) {
    this.worker = worker;
    this.unlock = unlock;
    // The thread keeps the process alive only while a statement waits for its answer: a database left open (a
    // test that forgot to close it, a CLI that has printed its answer) must not keep Node from exiting.
    worker.unref();
    worker.on('message', (m: Response) => {
      if ('notify' in m) {
        for (const fn of this.listeners.get(m.notify) ?? []) fn(m.payload);
        return;
      }
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (this.pending.size === 0) worker.unref();
      if (m.ok) p.resolve(m.value);
      else p.reject(new PgliteError(m.error));
    });
    const fail = (error: Error) => {
      this.failure = error;
      for (const p of this.pending.values()) p.reject(error);
      this.pending.clear();
      worker.unref();
    };
    worker.on('error', (error) => fail(error instanceof Error ? error : new Error(String(error))));
    worker.on('exit', (code) => fail(new Error(`the database thread exited (${code})`)));
  }

  /** Opens (or creates) the database in `dataDir/pglite`; `memory` gives a throwaway one for tests. */
  static async open(dataDir: string | 'memory', options: PgliteOpenOptions = {}): Promise<PgliteDb> {
    const unlock = dataDir === 'memory' ? () => {} : lockDataDir(dataDir);
    try {
      if (dataDir !== 'memory' && !existsSync(join(dataDir, 'pglite', 'PG_VERSION'))) await initdb(dataDir);
      const data: ThreadOptions = {
        dataDir,
        fsync: options.fsync ?? true,
        sharedBuffers: options.sharedBuffers ?? '16MB',
        optimizeWasm: options.optimizeWasm ?? false,
        vacuum: options.vacuum ?? {},
        ...(dataDir === 'memory' && options.template ? { template: options.template } : {}),
      };
      const worker = new Worker(new URL('./pglite-thread.ts', import.meta.url), {
        workerData: data,
        // The thread's own JavaScript heap: what it holds at any time is small (the statements waiting, a COPY's
        // blob, a result being sent; ~15–60 MB in use), but it allocates fast (every statement's parameters and rows
        // are copied in and out), and V8 let it reserve up to 4× its live data between full collections (146 MB in
        // a storm). With a small old generation's limit V8 grows it by at most 1.3× (the limit itself is far above
        // what the thread keeps); an 8 MB young generation is collected more often, each time nearly all garbage
        // (16 → 8 MB: the gateway's storm run peaked 10 MB lower; docs/benchmarks.md, "Gateway memory").
        resourceLimits: { maxOldGenerationSizeMb: 256, maxYoungGenerationSizeMb: 8 },
      });
      const db = new PgliteDb(worker, unlock);
      // The first answer comes once PGlite is ready (the thread reads messages only then).
      await db.call({ op: 'stats' });
      return db;
    } catch (error) {
      unlock();
      throw error;
    }
  }

  private call<T>(request: DistributiveOmit<Request, 'id'>): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      if (this.pending.size === 0) this.worker.ref();
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ ...request, id });
    });
  }

  async query<T>(sql: string, params: readonly unknown[] = [], options?: QueryOptions): Promise<T[]> {
    return this.call<T[]>({
      op: 'query',
      sql,
      params: params as unknown[],
      ...(options?.priority ? { priority: options.priority } : {}),
    });
  }

  /** COPY from a blob (PGlite reads it as the file `/dev/blob`); always ahead of the queue (it is ingest's). */
  async copyCsv(table: string, columns: readonly string[], csv: string): Promise<void> {
    await this.call({
      op: 'copy',
      sql: `COPY ${table} (${columns.join(', ')}) FROM '/dev/blob' WITH (FORMAT csv)`,
      csv,
    });
  }

  async transaction<T>(fn: (tx: DbTx) => Promise<T>): Promise<T> {
    const tx = await this.call<number>({ op: 'begin' });
    const like: Pick<PgliteLike, 'query' | 'exec'> = {
      query: async (sql, params = []) => ({
        rows: await this.call<unknown[]>({ op: 'query', sql, params, tx }),
      }),
      exec: (sql) => this.call({ op: 'exec', sql, tx }),
    };
    let result: T;
    try {
      result = await fn({
        query: async <R>(sql: string, params: readonly unknown[] = []) =>
          this.call<R[]>({ op: 'query', sql, params: params as unknown[], tx }),
        bossDb: fromPglite(like as unknown as Parameters<typeof fromPglite>[0]),
      });
    } catch (error) {
      await this.call({ op: 'end', tx, commit: false }).catch(() => {});
      throw error;
    }
    await this.call({ op: 'end', tx, commit: true });
    return result;
  }

  /** pg-boss's view of this database (its PGlite adapter over the thread). */
  bossDb(): ReturnType<typeof fromPglite> {
    const like: PgliteLike = {
      query: async (sql, params = []) => ({ rows: await this.call<unknown[]>({ op: 'query', sql, params }) }),
      exec: (sql) => this.call({ op: 'exec', sql }),
      listen: async (channel, fn) => {
        let set = this.listeners.get(channel);
        if (!set) {
          set = new Set();
          this.listeners.set(channel, set);
          await this.call({ op: 'listen', channel });
        }
        set.add(fn);
        return async () => {
          set.delete(fn);
          if (set.size === 0 && this.listeners.get(channel) === set) {
            this.listeners.delete(channel);
            await this.call({ op: 'unlisten', channel }).catch(() => {});
          }
        };
      },
    };
    return fromPglite(like as unknown as Parameters<typeof fromPglite>[0]);
  }

  /** What the database thread counts: commits flushed (fsync calls), statements run. */
  stats(): Promise<ThreadStats> {
    return this.call<ThreadStats>({ op: 'stats' });
  }

  close(): Promise<void> {
    this.closed ??= (async () => {
      try {
        if (!this.failure) await this.call({ op: 'close' });
        await this.worker.terminate();
      } finally {
        this.unlock();
      }
    })();
    return this.closed;
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
