// The embedded database's own thread: PGlite (PostgreSQL compiled to WebAssembly) runs every statement without
// giving its thread's event loop a turn, so in the main thread a burst of the workers' statements held up the
// webhook answers behind it (issue 8: p99 33 ms and falling throughput with the worker on). Here it runs in a
// worker thread; the main thread keeps HTTP, the gateway, and the work's JavaScript. Statements come as
// messages and run one at a time, the ingest's writes first (`high`), and a transaction runs alone from its begin
// to its end. See docs/gateway.md, "Isolation".
//
// Durability: PGlite starts PostgreSQL with fsync off (`-F`), and Emscripten's NODEFS has no fsync at all (its
// fsync is a no-op that answers success). With `fsync` on, this thread starts PostgreSQL without `-F`, with
// `wal_sync_method = fsync`, and gives NODEFS a real fsync(2) of the file — so a commit is on disk before it is
// acknowledged. Group commit (src/store/group-commit.ts) makes that one flush per batch of deliveries.
//
// Shared commits: with fsync on, each statement outside a transaction is its own commit and waits for its own
// flush (~5–10 ms on the shared bench machine) — a worker's command took several (claim, its reply and "done",
// the outbox's attempt and sent marks), so the commands ran at a few dozen a second whatever the CPU. Statements
// (`query`) that are waiting together in the normal queue now run in one transaction and share its commit: each
// is answered only after that commit is flushed, as before. If one of them fails, the transaction is rolled back
// and each runs again alone (its own commit), so a failure stays that statement's. `now()` is the shared
// transaction's start for the statements of a group (clock_timestamp() is each statement's own time).
//
// Memory: V8 compiles PGlite's WebAssembly with Liftoff (its baseline compiler) and re-compiles hot functions with
// TurboFan. One of them is PostgreSQL's grammar (`raw_parser`, a 105 KB function, hot from the first statement):
// TurboFan takes ~5 s and ~600 MB of compiler memory for it, in a background thread, a few seconds after the
// start — the process's peak (≈ 850–970 MB) though the memory is given back after. With `optimizeWasm` off (the
// default) this thread turns TurboFan off for WebAssembly before PGlite compiles (process-wide: PGlite is the
// process's only WebAssembly that runs here), so the peak is ≈ 300 MB; a statement costs a little more CPU
// (measured in docs/benchmarks.md, "Gateway memory").
//
// Vacuum: PGlite runs PostgreSQL in single-user mode, without autovacuum, so the row versions that every update and
// delete leaves (a storm's deliveries are each claimed, done and relayed: three versions) were never reclaimed — the
// data directory grew without end and the worker's look for pending deliveries walked ever more dead versions
// (100,000 deliveries: 291 → 1,043 MB, the look 1.3 → 6.6 ms; bench/pglite-vacuum.ts). This thread does what
// autovacuum would, at quiet moments only: when nothing waits, and no ingest write came for `quietMs`, it looks
// every `checkMs` for tables with more dead row versions than autovacuum's rule (`minDead` + 20% of the live ones)
// and VACUUMs them one at a time, stopping as soon as a statement waits. A VACUUM holds this thread while it runs
// (the statement that arrives meanwhile waits for it), so it is never started while the ingest is busy.

import { fsyncSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import type { QueryOptions } from './db.ts';

export interface ThreadOptions {
  /** 'memory', or the data directory (PGlite's files in `<dir>/pglite`). */
  dataDir: string;
  fsync: boolean;
  /** PostgreSQL's shared_buffers (e.g. '32MB'): most of the database's resident memory. */
  sharedBuffers?: string;
  /** 'memory' only: a file of PGlite's dumpDataDir to start from instead of a new database (see PgliteOpenOptions). */
  template?: string;
  /** TurboFan for PGlite's WebAssembly (see "Memory" above; default off). */
  optimizeWasm?: boolean;
  /** The quiet-moment vacuum (see "Vacuum" above); false: none. */
  vacuum?: VacuumOptions | false;
}

export interface VacuumOptions {
  /** How often to look for tables to vacuum (default 60 s). */
  checkMs?: number;
  /** Only after this long without an ingest write (default 2 s). */
  quietMs?: number;
  /** Dead row versions a table needs beyond 20% of its live ones (default 1,000). */
  minDead?: number;
}

/**
 * WebAssembly compiled by Liftoff only, from now on in this process (see "Memory" above). `--liftoff-only` alone,
 * set after V8 started, leaves dynamic tier-up on; the three together turn it off.
 */
export function liftoffOnly(): void {
  setFlagsFromString('--liftoff-only');
  setFlagsFromString('--no-wasm-tier-up');
  setFlagsFromString('--no-wasm-dynamic-tiering');
}

export type Request =
  | {
      id: number;
      op: 'query';
      sql: string;
      params: unknown[];
      priority?: QueryOptions['priority'];
      tx?: number;
    }
  | { id: number; op: 'exec'; sql: string; tx?: number }
  | { id: number; op: 'copy'; sql: string; csv: string }
  | { id: number; op: 'begin' }
  | { id: number; op: 'end'; tx: number; commit: boolean }
  | { id: number; op: 'listen'; channel: string }
  | { id: number; op: 'unlisten'; channel: string }
  | { id: number; op: 'stats' }
  | { id: number; op: 'close' };

export type Response =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: SerializedError }
  | { notify: string; payload: string };

export interface SerializedError {
  message: string;
  code?: string;
  detail?: string;
  constraint?: string;
  table?: string;
}

export interface ThreadStats {
  fsyncs: number;
  statements: number;
  /** Commits shared by several statements (see "Shared commits"). */
  sharedCommits: number;
  /** Time spent in fsync(2), ms. */
  fsyncMs: number;
  /**
   * With CHRONOPS_DB_PROFILE=1 in the environment: time (ms) and count per statement, by the statement's first
   * words — where the database thread's time goes (for benchmarks; off by default).
   */
  profile?: Record<string, { n: number; ms: number }>;
  /** With the profile: the statements that took over 250 ms (when, how long, which). */
  slow?: Array<{ at: string; ms: number; sql: string }>;
  /** This thread's JavaScript heap in use (bytes). */
  heapBytes: number;
  /** This thread's JavaScript heap as reserved from the system (bytes). */
  heapTotalBytes: number;
  /** PGlite's WebAssembly linear memory (bytes): it grows with what PostgreSQL allocates and never shrinks. */
  wasmMemoryBytes: number;
  /** Tables vacuumed at quiet moments, and the time that took (ms; this thread held meanwhile). */
  vacuums: number;
  vacuumMs: number;
  /** The longest of those VACUUMs (ms). */
  vacuumMaxMs: number;
}

function serialize(error: unknown): SerializedError {
  const e = error as Partial<SerializedError> & { message?: string };
  const out: SerializedError = { message: e?.message ?? String(error) };
  for (const k of ['code', 'detail', 'constraint', 'table'] as const)
    if (typeof e?.[k] === 'string') out[k] = e[k];
  return out;
}

async function main(): Promise<void> {
  const port = parentPort!;
  const o = workerData as ThreadOptions;
  const stats: ThreadStats = {
    fsyncs: 0,
    statements: 0,
    sharedCommits: 0,
    fsyncMs: 0,
    heapBytes: 0,
    heapTotalBytes: 0,
    wasmMemoryBytes: 0,
    vacuums: 0,
    vacuumMs: 0,
    vacuumMaxMs: 0,
  };
  const profile: ThreadStats['profile'] = process.env.CHRONOPS_DB_PROFILE === '1' ? {} : undefined;
  if (profile) {
    stats.profile = profile;
    stats.slow = [];
  }
  if (!o.optimizeWasm) liftoffOnly();
  const startParams = PGlite.defaultStartParams.filter((p: string) => !(o.fsync && p === '-F'));
  if (o.fsync) startParams.push('-c', 'wal_sync_method=fsync');
  if (o.sharedBuffers) startParams.push('-c', `shared_buffers=${o.sharedBuffers}`);
  // No bitmap scans: PGlite runs no autovacuum, so the planner never has statistics of a table, and with its
  // default estimates (a condition like `status = 'pending'` or `relayed_at IS NULL` matches a few rows) it took
  // the inbox's claims and the relay's batches — `… ORDER BY id LIMIT n` on a partial index in that order — as a
  // bitmap scan of EVERY matching row and a sort: each claim of 16 read the whole backlog (40,000 pending rows:
  // 2.3 s instead of 20 ms at load 20). Without bitmap scans the index is walked in order and stops at the limit.
  startParams.push('-c', 'enable_bitmapscan=off');
  const pg =
    o.dataDir === 'memory'
      ? new PGlite({
          startParams,
          ...(o.template ? { loadDataDir: new Blob([readFileSync(o.template)]) } : {}),
        })
      : new PGlite(join(o.dataDir, 'pglite'), { startParams });
  await pg.waitReady;
  if (o.fsync && o.dataDir !== 'memory') {
    // Emscripten's NODEFS files have no fsync: give them one (PostgreSQL calls it for the WAL at each commit
    // with wal_sync_method = fsync, and for the data files at checkpoints).
    const nodefs = (pg.Module as unknown as { NODEFS: { stream_ops: Record<string, unknown> } }).NODEFS;
    nodefs.stream_ops.fsync = (stream: { nfd?: number }) => {
      if (typeof stream.nfd === 'number') {
        const t0 = performance.now();
        fsyncSync(stream.nfd);
        stats.fsyncMs += performance.now() - t0;
        stats.fsyncs++;
      }
      return 0;
    };
  }

  const send = (message: Response) => port.postMessage(message);
  /** At most this many statements share one commit (the ingest waits at most for one group). */
  const MAX_GROUP = 32;
  const high: Request[] = [];
  /** The relay's statements: after the ingest's, ahead of the workers' (see QueryOptions.priority). */
  const medium: Request[] = [];
  const normal: Request[] = [];
  interface OpenTx {
    id: number;
    queue: Request[];
    wake: () => void;
    /** The end request: its id (for the answer) and whether to commit. */
    end?: { id: number; commit: boolean };
  }
  let open: OpenTx | undefined;
  let nextTx = 1;
  let wake: (() => void) | undefined;
  let lastIngestAt = 0;
  const vacuum = o.vacuum === false ? undefined : (o.vacuum ?? {});
  const checkMs = vacuum?.checkMs ?? 60_000;
  const quietMs = vacuum?.quietMs ?? 2_000;
  let lastCheckAt = performance.now();
  const waiting = () => high.length + medium.length + normal.length > 0;
  /** The quiet-moment vacuum (see "Vacuum" above); does nothing until it is time to look and the ingest is quiet. */
  const maintain = async (): Promise<void> => {
    const now = performance.now();
    if (!vacuum || now - lastCheckAt < checkMs || now - lastIngestAt < quietMs || waiting()) return;
    lastCheckAt = now;
    try {
      const tables = await pg.query<{ name: string }>(
        `SELECT format('%I.%I', schemaname, relname) AS name FROM pg_stat_user_tables
         WHERE n_dead_tup > $1 + 0.2 * n_live_tup ORDER BY n_dead_tup DESC`,
        [vacuum.minDead ?? 1000],
      );
      for (const { name } of tables.rows) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (waiting() || performance.now() - lastIngestAt < quietMs) return;
        const t0 = performance.now();
        await pg.exec(`VACUUM ${name}`);
        const ms = performance.now() - t0;
        stats.vacuums++;
        stats.vacuumMs += ms;
        stats.vacuumMaxMs = Math.max(stats.vacuumMaxMs, ms);
      }
    } catch {
      // A table dropped meanwhile, say: the next look tries again.
    }
  };
  const unlisteners = new Map<string, () => Promise<void>>();

  port.on('message', (request: Request) => {
    if (request.op === 'end' || ('tx' in request && request.tx !== undefined)) {
      const tx = request.op === 'end' ? request.tx : (request as { tx: number }).tx;
      if (open && open.id === tx) {
        if (request.op === 'end') open.end = { id: request.id, commit: request.commit };
        else open.queue.push(request);
        open.wake();
      } else {
        send({ id: request.id, ok: false, error: { message: 'no such transaction (it ended)' } });
      }
      return;
    }
    if ((request.op === 'query' && request.priority === 'high') || request.op === 'copy') {
      high.push(request);
      lastIngestAt = performance.now();
    } else if (request.op === 'query' && request.priority === 'medium') medium.push(request);
    else normal.push(request);
    wake?.();
  });

  const run = async (q: Pick<PGlite, 'query' | 'exec'> | Transaction, request: Request): Promise<unknown> => {
    if (!profile) return runOne(q, request);
    const t0 = performance.now();
    try {
      return await runOne(q, request);
    } finally {
      const sql = 'sql' in request ? request.sql : request.op;
      const shape = sql.replace(/\s+/g, ' ').trim().slice(0, 90);
      profile[shape] ??= { n: 0, ms: 0 };
      const p = profile[shape];
      const ms = performance.now() - t0;
      p.n++;
      p.ms += ms;
      if (ms > 250 && stats.slow && stats.slow.length < 200) {
        stats.slow.push({ at: new Date().toISOString(), ms: Math.round(ms), sql: shape });
      }
    }
  };
  const runOne = async (
    q: Pick<PGlite, 'query' | 'exec'> | Transaction,
    request: Request,
  ): Promise<unknown> => {
    stats.statements++;
    switch (request.op) {
      case 'query':
        return (await q.query(request.sql, request.params)).rows;
      case 'exec':
        return (await q.exec(request.sql)).map((r) => ({ rows: r.rows }));
      case 'copy':
        await pg.query(request.sql, [], { blob: new Blob([request.csv]) });
        return null;
      default:
        throw new Error(`${request.op} is not a statement`);
    }
  };

  const answer = async (request: Request, fn: () => Promise<unknown>) => {
    try {
      send({ id: request.id, ok: true, value: await fn() });
    } catch (error) {
      send({ id: request.id, ok: false, error: serialize(error) });
    }
  };

  const ROLLBACK = Symbol('rollback');
  /** Runs a transaction alone: its statements as they come, until its end (commit or rollback). */
  const transaction = async (begin: Request) => {
    const state: OpenTx = { id: nextTx++, queue: [], wake: () => {} };
    open = state;
    let begun = false;
    try {
      await pg.transaction(async (tx) => {
        begun = true;
        send({ id: begin.id, ok: true, value: state.id });
        for (;;) {
          const next = state.queue.shift();
          if (next) {
            await answer(next, () => run(tx, next));
            continue;
          }
          if (state.end) {
            if (state.end.commit) return;
            throw ROLLBACK;
          }
          await new Promise<void>((resolve) => {
            state.wake = resolve;
          });
          state.wake = () => {};
        }
      });
      send({ id: state.end!.id, ok: true, value: null });
    } catch (error) {
      if (!begun) send({ id: begin.id, ok: false, error: serialize(error) });
      else if (state.end) {
        if (error === ROLLBACK) send({ id: state.end.id, ok: true, value: null });
        else send({ id: state.end.id, ok: false, error: serialize(error) });
      }
    } finally {
      open = undefined;
    }
  };

  /**
   * Runs `group` in one transaction (one commit, one flush); if any fails, each again alone. An ingest write that
   * arrives meanwhile ends the group early (what has run commits; the rest goes back to the queue's front), so
   * the ingest waits for one statement and the commit, not for the group.
   */
  const shared = async (group: Request[]) => {
    const values: unknown[] = [];
    try {
      await pg.transaction(async (tx) => {
        for (const request of group) {
          if (values.length > 0) {
            await new Promise<void>((resolve) => setImmediate(resolve));
            if (high.length > 0 || medium.length > 0) break;
          }
          values.push(await run(tx, request));
        }
      });
    } catch {
      for (const request of group) await answer(request, () => run(pg, request));
      return;
    }
    if (values.length > 1) stats.sharedCommits++;
    normal.unshift(...group.slice(values.length));
    for (let i = 0; i < values.length; i++) send({ id: group[i]!.id, ok: true, value: values[i] });
  };

  for (;;) {
    // A turn of this thread's event loop first: PGlite answers within one chain of promise callbacks, so without
    // it the messages that arrived meanwhile (an ingest write among them) would not be queued before the next
    // statement is picked.
    await new Promise<void>((resolve) => setImmediate(resolve));
    const request = high.shift() ?? medium.shift() ?? normal.shift();
    if (!request) {
      await maintain();
      if (waiting()) continue;
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        wake = resolve;
        // Nothing comes: look again for the vacuum when it can be time.
        if (vacuum) {
          const now = performance.now();
          const due = Math.max(checkMs - (now - lastCheckAt), quietMs - (now - lastIngestAt), 0);
          timer = setTimeout(resolve, due + 10);
        }
      });
      clearTimeout(timer);
      wake = undefined;
      continue;
    }
    switch (request.op) {
      case 'begin':
        await transaction(request);
        break;
      case 'listen':
        await answer(request, async () => {
          const unlisten = await pg.listen(request.channel, (payload) =>
            send({ notify: request.channel, payload }),
          );
          unlisteners.set(request.channel, unlisten);
          return null;
        });
        break;
      case 'unlisten':
        await answer(request, async () => {
          await unlisteners.get(request.channel)?.();
          unlisteners.delete(request.channel);
          return null;
        });
        break;
      case 'stats':
        stats.heapBytes = process.memoryUsage().heapUsed;
        stats.heapTotalBytes = process.memoryUsage().heapTotal;
        stats.wasmMemoryBytes = (pg.Module as unknown as { HEAPU8: Uint8Array }).HEAPU8.byteLength;
        await answer(request, async () => ({ ...stats }));
        break;
      case 'close':
        await answer(request, async () => {
          await pg.close();
          return null;
        });
        return;
      case 'query': {
        if (request.priority) {
          await answer(request, () => run(pg, request));
          break;
        }
        // The statements waiting right behind it share its commit (see "Shared commits" above).
        const group: Request[] = [request];
        while (group.length < MAX_GROUP && normal[0]?.op === 'query') group.push(normal.shift()!);
        if (group.length === 1) await answer(request, () => run(pg, request));
        else await shared(group);
        break;
      }
      default:
        await answer(request, () => run(pg, request));
    }
  }
}

if (process.argv[2] === '--initdb') {
  // A child process that only creates the data directory (see initdb in pglite-db.ts).
  liftoffOnly();
  const pg = new PGlite(process.argv[3]!);
  await pg.waitReady;
  await pg.close();
} else {
  await main();
}
