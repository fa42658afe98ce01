import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { fromPglite } from 'pg-boss';
import { ChronopsError } from '../kernel/errors.ts';
import type { Db, DbTx } from './db.ts';

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

type PgliteQueryable = Pick<PGlite, 'query' | 'exec'>;

/** Embedded adapter: a file-backed PostgreSQL inside this process, one connection. */
export class PgliteDb implements Db {
  readonly kind = 'pglite' as const;
  readonly pglite: PGlite;
  private readonly unlock: () => void;

  private constructor(pglite: PGlite, unlock: () => void) {
    this.pglite = pglite;
    this.unlock = unlock;
  }

  /** Opens (or creates) the database in `dataDir/pglite`; `memory` gives a throwaway one for tests. */
  static async open(dataDir: string | 'memory'): Promise<PgliteDb> {
    if (dataDir === 'memory') {
      const pg = new PGlite();
      await pg.waitReady;
      return new PgliteDb(pg, () => {});
    }
    const unlock = lockDataDir(dataDir);
    try {
      const pg = new PGlite(join(dataDir, 'pglite'));
      await pg.waitReady;
      return new PgliteDb(pg, unlock);
    } catch (error) {
      unlock();
      throw error;
    }
  }

  async query<T>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
    const result = await this.pglite.query<T>(sql, params as unknown[]);
    return result.rows;
  }

  /** COPY from a blob: PGlite reads it as the file `/dev/blob`. */
  async copyCsv(table: string, columns: readonly string[], csv: string): Promise<void> {
    await this.pglite.query(`COPY ${table} (${columns.join(', ')}) FROM '/dev/blob' WITH (FORMAT csv)`, [], {
      blob: new Blob([csv]),
    });
  }

  transaction<T>(fn: (tx: DbTx) => Promise<T>): Promise<T> {
    return this.pglite.transaction(async (tx) => {
      const queryable = tx as unknown as PgliteQueryable;
      return fn({
        query: async <R>(sql: string, params: readonly unknown[] = []) =>
          (await tx.query<R>(sql, params as unknown[])).rows,
        bossDb: fromPglite(queryable),
      });
    });
  }

  async close(): Promise<void> {
    try {
      await this.pglite.close();
    } finally {
      this.unlock();
    }
  }
}
