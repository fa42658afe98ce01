import { randomUUID } from 'node:crypto';
import type { JobWithMetadata, PgBoss } from 'pg-boss';
import type { Logger } from '../kernel/logger.ts';
import { Signal } from '../kernel/signal.ts';
import type { Db, DbTx } from '../store/db.ts';
import { TIMER_QUEUE } from './boss.ts';
import type {
  FiredTimer,
  Queryable,
  TimerHandler,
  TimerRunContext,
  TimerScheduler,
  TimerSpec,
} from './port.ts';
import { LostClaimError } from './port.ts';
import { type TimerRow, TimerRows, timerCols, toFired } from './rows.ts';

export interface TimersOptions {
  db: Db;
  boss: PgBoss;
  schema: string;
  /** This server's name (in fired_by, timer_keys.node, nodes). */
  node: string;
  logger: Logger;
  /** How often the next due time is read again and the queue looked at (other servers' work). Default 1000. */
  pollMs?: number;
  /** Most rows claimed in one go. Default 500. */
  claimBatch?: number;
  /** Handler runs at once in this process (each a different key). Default 25. */
  concurrency?: number;
  now?: () => Date;
  /**
   * This server's lease: renewed every `heartbeatMs` (default leaseMs / 4); a server whose lease has run out
   * for `leaseMs` (default 8000) is dead to the others, and the keys it held are sent again as new jobs. So a
   * killed server's work resumes on another within leaseMs + heartbeatMs + one poll (~11 s by default).
   */
  leaseMs?: number;
  heartbeatMs?: number;
  /**
   * The embedded database: its data-directory lock proves that no other process runs on it, so every key held
   * by anyone (the previous process, killed) is taken back at start, not after a lease.
   */
  takeBackAtStart?: boolean;
  /** On stop, how long runs under way may take to finish before they are handed back. Default 5000. */
  handBackMs?: number;
}

/** The job sent to pg-boss for a (kind, key) whose rows fired. */
interface KeyJob {
  kind: string;
  key: string;
}

interface KeyRow {
  kind: string;
  key: string;
  job_id: string;
  takeovers: number;
}

interface Running {
  abort: AbortController;
  kind: string;
  key: string;
  job: JobWithMetadata<KeyJob>;
  done: Promise<void>;
}

const DEFAULT_RETRY = { limit: 5, delaySeconds: 5, backoff: true, maxDelaySeconds: 120 };
/** pg-boss' own expiry, a last resort only: dead servers are noticed through their lease long before. */
const JOB_EXPIRE_SECONDS = 900;

/**
 * The one timer loop of a chronops server. Capabilities schedule durable due rows (`schedule`) and register a
 * handler per kind (`handle`); every server runs this loop:
 *
 * - it sleeps until the next due row (of a key not busy), then claims what is due in one transaction: the rows
 *   (`FOR UPDATE SKIP LOCKED`, so each is claimed by one server), one `timer_keys` row per (kind, key) — which is
 *   what keeps a key to one job at a time across servers — the handler's `onFire`, and one pg-boss job per key;
 * - a pool of workers fetches those jobs (any server) and runs the handler; the handler's outcome, the rows'
 *   end, the key's release and the job's completion commit together (`settle`);
 * - a failed run is retried by pg-boss with backoff; the key stays busy meanwhile, other keys carry on.
 *
 * A key holds at most one job, so pg-boss needs no singleton policy: its `stately` policy failed whole batches
 * of fetches when a key was busy (issue 11), which is why the exclusion lives here.
 */
export class Timers implements TimerScheduler {
  readonly rows: TimerRows;
  private readonly o: TimersOptions;
  private readonly now: () => Date;
  private readonly handlers = new Map<string, TimerHandler<unknown>>();
  private readonly running = new Map<string, Running>();
  private readonly workSignal = new Signal();
  private timer: NodeJS.Timeout | undefined;
  private poller: NodeJS.Timeout | undefined;
  private armedFor: number | undefined;
  private claiming: Promise<void> | undefined;
  private claimAgain = false;
  private worker: Promise<void> | undefined;
  private stopped = true;
  private heartbeat: NodeJS.Timeout | undefined;
  private beating: Promise<void> | undefined;
  /** Until when (performance.now()) this server's lease is known to hold: past it, it takes no new jobs. */
  private leaseHeldUntil = 0;

  constructor(options: TimersOptions) {
    this.o = options;
    this.rows = new TimerRows(options.schema);
    this.now = options.now ?? (() => new Date());
  }

  get node(): string {
    return this.o.node;
  }

  private get s(): string {
    return this.o.schema;
  }

  private get pollMs(): number {
    return this.o.pollMs ?? 1000;
  }

  /** Registers the handler of a kind (before `start`). */
  handle<P>(handler: TimerHandler<P>): void {
    if (this.handlers.has(handler.kind)) throw new Error(`timer kind ${handler.kind} registered twice`);
    if (!/^[a-z][a-z0-9-]*\.[a-z][a-z0-9.-]*$/.test(handler.kind)) {
      throw new Error(`timer kind ${handler.kind}: use <capability>.<what>, lower case`);
    }
    this.handlers.set(handler.kind, handler as TimerHandler<unknown>);
  }

  async schedule(specs: readonly TimerSpec[], options: { tx?: Queryable; replace?: boolean } = {}) {
    for (const t of specs) {
      if (!this.handlers.has(t.kind)) throw new Error(`no handler registered for timer kind ${t.kind}`);
    }
    await this.rows.schedule(options.tx ?? this.o.db, specs, options.replace);
    if (specs.length > 0) this.noteDue(new Date(Math.min(...specs.map((t) => t.dueAt.getTime()))));
  }

  cancel(
    selector: { kind: string; ids?: readonly string[]; dedupe?: readonly string[]; key?: string },
    options: { tx?: Queryable } = {},
  ): Promise<number> {
    return this.rows.cancel(options.tx ?? this.o.db, selector);
  }

  get leaseMs(): number {
    return this.o.leaseMs ?? 8000;
  }

  private get heartbeatMs(): number {
    return this.o.heartbeatMs ?? Math.max(50, Math.floor(this.leaseMs / 4));
  }

  async start(): Promise<void> {
    this.stopped = false;
    await this.renewLease();
    if (this.o.takeBackAtStart) {
      const n = await this.takeOver('all');
      if (n > 0) this.o.logger.info({ keys: n }, 'timers: took back the work of the previous process');
    } else await this.takeOver('dead');
    this.worker = this.workLoop();
    this.poller = setInterval(() => this.wake(), this.pollMs);
    this.poller.unref();
    this.heartbeat = setInterval(() => {
      this.beating ??= this.beat().finally(() => {
        this.beating = undefined;
      });
    }, this.heartbeatMs);
    this.heartbeat.unref();
    this.wake();
  }

  /**
   * Stops claiming and fetching; waits up to `handBackMs` for the runs under way, then aborts those still
   * running and hands their keys back (new jobs any server may take), and gives up this server's lease.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.poller) clearInterval(this.poller);
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.timer) clearTimeout(this.timer);
    this.workSignal.notify();
    await this.claiming?.catch(() => {});
    await this.beating?.catch(() => {});
    await this.worker;
    const runs = [...this.running.values()];
    if (runs.length > 0) {
      let timeout: NodeJS.Timeout | undefined;
      const finished = await Promise.race([
        Promise.allSettled(runs.map((r) => r.done)).then(() => true),
        new Promise<false>((resolve) => {
          timeout = setTimeout(() => resolve(false), this.o.handBackMs ?? 5000);
        }),
      ]);
      clearTimeout(timeout);
      if (!finished) {
        for (const r of this.running.values()) r.abort.abort(new Error('server stopping: work handed back'));
        const n = await this.takeOver('mine').catch((error) => {
          this.o.logger.error({ err: error }, 'timers: could not hand work back');
          return 0;
        });
        this.o.logger.warn(
          { keys: n },
          'timers: stopping; runs still under way handed back to the other servers',
        );
      }
    }
    await this.o.db
      .query(`DELETE FROM ${this.s}.nodes WHERE node = $1`, [this.o.node])
      .catch((error) => this.o.logger.warn({ err: error }, 'timers: could not give up the lease'));
  }

  /** Renews this server's lease; false when it had run out and another server took its work. */
  private async renewLease(): Promise<boolean> {
    const asked = performance.now();
    const rows = await this.o.db.query<{ fresh: boolean }>(
      `INSERT INTO ${this.s}.nodes AS n (node, lease_until)
       VALUES ($1, clock_timestamp() + $2 * interval '1 millisecond')
       ON CONFLICT (node) DO UPDATE SET seen_at = clock_timestamp(), lease_until = excluded.lease_until
       RETURNING (xmax = 0) AS fresh`,
      [this.o.node, this.leaseMs],
    );
    this.leaseHeldUntil = asked + this.leaseMs;
    return rows[0]?.fresh !== true;
  }

  /** One heartbeat: renew the lease, and take over the keys of servers whose lease ran out. */
  private async beat(): Promise<void> {
    if (this.stopped) return;
    try {
      const kept = await this.renewLease();
      if (!kept && this.running.size > 0) {
        // Thought dead (a stall longer than the lease): the keys were sent again; what runs here is dropped.
        this.o.logger.warn({ runs: this.running.size }, 'timers: lease ran out; runs under way abandoned');
        for (const r of this.running.values()) r.abort.abort(new Error('lease lost'));
      }
      // Embedded: no other process can run on this database, so nobody is taken over on a lease.
      const n = this.o.takeBackAtStart ? 0 : await this.takeOver('dead');
      if (n > 0)
        this.o.logger.warn({ keys: n }, 'timers: took over the work of a server whose lease ran out');
    } catch (error) {
      this.o.logger.error({ err: error }, 'timers: heartbeat failed');
    }
  }

  /**
   * Sends the keys again as new jobs (takeovers + 1), in one transaction: `dead` — keys run by servers whose
   * lease ran out (their lease rows are removed) or that have none; `all` — every key (the embedded database at
   * start); `mine` — this server's (handed back on stop). The old jobs are cancelled, so a server that comes
   * back finds its key given to another job (its outcome is dropped: LostClaimError). Returns how many.
   */
  async takeOver(which: 'dead' | 'all' | 'mine'): Promise<number> {
    const sent = await this.o.db.transaction(async (tx) => {
      let where: string;
      let params: unknown[];
      if (which === 'all') {
        await tx.query(`DELETE FROM ${this.s}.nodes WHERE node <> $1`, [this.o.node]);
        where = 'true';
        params = [];
      } else if (which === 'mine') {
        where = 'k.node = $1';
        params = [this.o.node];
      } else {
        // Never this server itself (a slow heartbeat of its own is not a death).
        await tx.query(`DELETE FROM ${this.s}.nodes WHERE lease_until < clock_timestamp() AND node <> $1`, [
          this.o.node,
        ]);
        where = `k.node IS NOT NULL AND k.node <> $1 AND NOT EXISTS (SELECT 1 FROM ${this.s}.nodes n WHERE n.node = k.node)`;
        params = [this.o.node];
      }
      const moved = await tx.query<{ kind: string; key: string; job_id: string; old_job: string }>(
        `WITH old AS (
           SELECT k.kind, k.key, k.job_id FROM ${this.s}.timer_keys k WHERE ${where}
           ORDER BY k.kind, k.key FOR UPDATE SKIP LOCKED)
         UPDATE ${this.s}.timer_keys k
         SET job_id = gen_random_uuid(), node = NULL, attempt = NULL, started_at = NULL,
             claimed_at = clock_timestamp(), takeovers = k.takeovers + 1
         FROM old WHERE k.kind = old.kind AND k.key = old.key
         RETURNING k.kind, k.key, k.job_id, old.job_id AS old_job`,
        params,
      );
      if (moved.length === 0) return 0;
      await this.o.boss.cancel(
        TIMER_QUEUE,
        moved.map((m) => m.old_job),
        { db: tx.bossDb },
      );
      await this.sendKeyJobs(tx, moved);
      return moved.length;
    });
    if (sent > 0) this.workSignal.notify();
    return sent;
  }

  /**
   * Jobs fetched but not begun (this server's lease ran out meanwhile) go back as new jobs of their keys, for any
   * server; not a takeover (nothing of them ran), so the attempt count stays. Keys whose job is no longer one of
   * these (taken over already) are left alone; the fetched jobs are cancelled either way.
   */
  private async handBack(jobs: JobWithMetadata<KeyJob>[]): Promise<number> {
    const ids = jobs.map((j) => j.id);
    const sent = await this.o.db.transaction(async (tx) => {
      const moved = await tx.query<{ kind: string; key: string; job_id: string }>(
        `UPDATE ${this.s}.timer_keys SET job_id = gen_random_uuid(), node = NULL, attempt = NULL, started_at = NULL,
           claimed_at = clock_timestamp()
         WHERE job_id = ANY($1::uuid[]) RETURNING kind, key, job_id`,
        [ids],
      );
      await this.o.boss.cancel(TIMER_QUEUE, ids, { db: tx.bossDb });
      await this.sendKeyJobs(tx, moved);
      return moved.length;
    });
    if (sent > 0) this.workSignal.notify();
    return sent;
  }

  /**
   * A row was added that falls due at `dueAt`: arm the timer for it if it is sooner than what the timer waits
   * for. No database round trip, so scheduling in bulk stays cheap.
   */
  noteDue(dueAt: Date | null): void {
    if (this.stopped) return;
    if (dueAt === null) {
      this.wake();
      return;
    }
    const at = dueAt.getTime();
    if (at <= this.now().getTime()) {
      this.wake();
      return;
    }
    if (this.armedFor !== undefined && this.armedFor <= at) return;
    this.arm(dueAt);
  }

  /** Look at the schedule again now (something was cancelled or released here, or the periodic check). */
  wake(): void {
    if (this.stopped) return;
    if (this.claiming !== undefined) {
      this.claimAgain = true;
      return;
    }
    this.claiming = this.claimAndArm()
      .catch((error) => this.o.logger.error({ err: error }, 'timers: claim failed'))
      .finally(() => {
        this.claiming = undefined;
        if (this.claimAgain) {
          this.claimAgain = false;
          this.wake();
        }
      });
  }

  private async claimAndArm(): Promise<void> {
    const limit = this.o.claimBatch ?? 500;
    for (;;) {
      const claimed = await this.claim(limit);
      if (claimed >= limit) continue;
      const next = await this.nextDueAt();
      // Already due again (a burst): claim at once rather than through a timer. Under load the embedded
      // database resolves its queries in one long chain of promise callbacks, and a timer waits for it to end.
      const dueNow = next !== null && next.getTime() <= this.now().getTime();
      if (dueNow && claimed > 0) continue;
      // Due but nothing claimed: another server's claim holds those rows for a moment. Look again shortly.
      this.arm(next, dueNow ? 25 : 0);
      return;
    }
  }

  /** The earliest pending row of a kind handled here whose key is not busy. */
  async nextDueAt(): Promise<Date | null> {
    const rows = await this.o.db.query<{ due_at: Date }>(
      `SELECT t.due_at FROM ${this.s}.timers t
       WHERE t.status = 'pending' AND t.kind = ANY($1::text[])
         AND NOT EXISTS (SELECT 1 FROM ${this.s}.timer_keys k WHERE k.kind = t.kind AND k.key = t.key)
       ORDER BY t.due_at LIMIT 1`,
      [[...this.handlers.keys()]],
    );
    return rows[0]?.due_at ?? null;
  }

  /**
   * The one claim path: due rows of keys not busy, each claimed by one server; a `timer_keys` row and a pg-boss
   * job per key; the handlers' `onFire`; all in one transaction. Returns how many rows were looked at.
   */
  private async claim(limit: number): Promise<number> {
    const kinds = [...this.handlers.keys()];
    if (kinds.length === 0) return 0;
    const after: Array<() => void> = [];
    let sent = 0;
    const looked = await this.o.db.transaction(async (tx) => {
      const due = await tx.query<TimerRow>(
        `SELECT ${timerCols} FROM ${this.s}.timers t
         WHERE t.status = 'pending' AND t.due_at <= statement_timestamp() AND t.kind = ANY($1::text[])
           AND NOT EXISTS (SELECT 1 FROM ${this.s}.timer_keys k WHERE k.kind = t.kind AND k.key = t.key)
         ORDER BY t.due_at LIMIT $2 FOR UPDATE SKIP LOCKED`,
        [kinds, limit],
      );
      if (due.length === 0) return 0;
      const groups = new Map<string, { kind: string; key: string; jobId: string }>();
      for (const r of due) {
        const g = `${r.kind}\u0000${r.key}`;
        if (!groups.has(g)) groups.set(g, { kind: r.kind, key: r.key, jobId: randomUUID() });
      }
      // The key is the lock: a key inserted by another server meanwhile conflicts, and its rows stay pending.
      const won = await tx.query<{ kind: string; key: string; job_id: string }>(
        `INSERT INTO ${this.s}.timer_keys (kind, key, job_id)
         SELECT x.kind, x.key, x.job_id
         FROM jsonb_to_recordset($1::jsonb) AS x(kind text, key text, job_id uuid)
         ORDER BY x.kind, x.key
         ON CONFLICT DO NOTHING RETURNING kind, key, job_id`,
        [JSON.stringify([...groups.values()].map((g) => ({ kind: g.kind, key: g.key, job_id: g.jobId })))],
      );
      if (won.length === 0) return due.length;
      const wonKeys = new Map(won.map((k) => [`${k.kind}\u0000${k.key}`, k.job_id]));
      const fired = await tx.query<TimerRow>(
        `UPDATE ${this.s}.timers SET status = 'fired', fired_at = clock_timestamp(), fired_by = $2
         WHERE id = ANY($1::uuid[]) RETURNING ${timerCols}`,
        [due.filter((r) => wonKeys.has(`${r.kind}\u0000${r.key}`)).map((r) => r.id), this.o.node],
      );
      const skip = new Set<string>();
      const byKind = new Map<string, FiredTimer[]>();
      for (const r of fired) {
        const list = byKind.get(r.kind) ?? [];
        list.push(toFired(r));
        byKind.set(r.kind, list);
      }
      for (const [kind, timers] of byKind) {
        const outcome = await this.handlers.get(kind)!.onFire?.(tx, timers);
        for (const id of outcome?.skip ?? []) skip.add(id);
        if (outcome?.afterCommit) after.push(outcome.afterCommit);
      }
      if (skip.size > 0) {
        await tx.query(
          `UPDATE ${this.s}.timers SET status = 'skipped', finished_at = clock_timestamp() WHERE id = ANY($1::uuid[])`,
          [[...skip]],
        );
      }
      const toRun = new Map<string, KeyJob & { jobId: string }>();
      for (const r of fired) {
        if (skip.has(r.id)) continue;
        const g = `${r.kind}\u0000${r.key}`;
        toRun.set(g, { kind: r.kind, key: r.key, jobId: wonKeys.get(g)! });
      }
      const idle = won.filter((k) => !toRun.has(`${k.kind}\u0000${k.key}`)).map((k) => k.job_id);
      if (idle.length > 0) {
        await tx.query(`DELETE FROM ${this.s}.timer_keys WHERE job_id = ANY($1::uuid[])`, [idle]);
      }
      await this.sendKeyJobs(
        tx,
        [...toRun.values()].map((j) => ({ kind: j.kind, key: j.key, job_id: j.jobId })),
      );
      sent = toRun.size;
      return due.length;
    });
    for (const f of after) {
      try {
        f();
      } catch (error) {
        this.o.logger.error({ err: error }, 'timers: after-claim step failed');
      }
    }
    if (sent > 0) this.workSignal.notify();
    return looked;
  }

  /** One pg-boss job per key, under the job id its `timer_keys` row names, in the caller's transaction. */
  private async sendKeyJobs(
    tx: DbTx,
    keys: ReadonlyArray<{ kind: string; key: string; job_id: string }>,
  ): Promise<void> {
    if (keys.length === 0) return;
    await this.o.boss.insert(
      TIMER_QUEUE,
      keys.map((k) => ({
        id: k.job_id,
        data: { kind: k.kind, key: k.key } satisfies KeyJob,
        ...this.jobOptions(k.kind),
      })),
      { db: tx.bossDb },
    );
  }

  private jobOptions(kind: string) {
    const r = { ...DEFAULT_RETRY, ...this.handlers.get(kind)?.retry };
    return {
      retryLimit: r.limit,
      retryDelay: r.delaySeconds,
      retryBackoff: r.backoff,
      retryDelayMax: r.maxDelaySeconds,
      expireInSeconds: JOB_EXPIRE_SECONDS,
    };
  }

  private arm(next: Date | null, floorMs = 0): void {
    if (this.stopped || next === null) return;
    const at = next.getTime();
    if (this.armedFor === at && this.timer) return;
    if (this.timer) clearTimeout(this.timer);
    const delay = Math.max(floorMs, at - this.now().getTime());
    // Long sleeps are cut by the periodic poll anyway; a timer is only needed within the next poll interval.
    if (delay > 2 * this.pollMs) {
      this.armedFor = undefined;
      this.timer = undefined;
      return;
    }
    this.armedFor = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.armedFor = undefined;
      this.wake();
    }, delay);
    this.timer.unref();
  }

  // ---- the workers ------------------------------------------------------------------------------------------------

  /**
   * Fetches jobs while there is room in the pool, runs each on its own (a slow key never holds up the fetch of
   * others), and sleeps only when the queue is empty or the pool full, until this process sends a job, a run
   * ends, or the poll interval passes (jobs sent by other servers, retries).
   */
  private async workLoop(): Promise<void> {
    const concurrency = this.o.concurrency ?? 25;
    while (!this.stopped) {
      const room = concurrency - this.running.size;
      const leaseLost = !this.o.takeBackAtStart && performance.now() > this.leaseHeldUntil;
      if (room <= 0 || leaseLost) {
        // Full, or this server could not renew its lease in time: the others may be taking its work over, so it
        // takes no new work until its lease holds again.
        await this.workSignal.wait(this.pollMs);
        continue;
      }
      let jobs: JobWithMetadata<KeyJob>[] = [];
      try {
        jobs = await this.o.boss.fetch<KeyJob>(TIMER_QUEUE, { batchSize: room, includeMetadata: true });
      } catch (error) {
        this.o.logger.error({ err: error }, 'timers: fetch failed');
      }
      if (jobs.length === 0) {
        await this.workSignal.wait(this.pollMs);
        continue;
      }
      let begun: Map<string, { key: KeyRow; rows: TimerRow[] }> | null;
      try {
        begun = await this.begin(jobs);
      } catch (error) {
        this.o.logger.error({ err: error }, 'timers: could not begin jobs');
        for (const job of jobs) await this.o.boss.fail(TIMER_QUEUE, attemptOf(job)).catch(() => {});
        continue;
      }
      if (begun === null) {
        // This server's lease ran out while it fetched (its check above came just before): the others may have
        // taken its keys over already — these very jobs may be the takeover's. Run none; hand them back as
        // they are, and take nothing more until the lease is renewed.
        this.leaseHeldUntil = 0;
        const n = await this.handBack(jobs).catch((error) => {
          this.o.logger.error({ err: error }, 'timers: could not hand back jobs fetched without a lease');
          return 0;
        });
        this.o.logger.warn(
          { jobs: jobs.length, handedBack: n },
          'timers: lease ran out; jobs fetched handed back',
        );
        continue;
      }
      for (const job of jobs) {
        const b = begun.get(job.id);
        if (!b) {
          // Its key was released or given another job (taken over): nothing of this job is left to run.
          await this.o.boss.complete(TIMER_QUEUE, attemptOf(job)).catch(() => {});
          continue;
        }
        const abort = new AbortController();
        const entry = { abort, kind: b.key.kind, key: b.key.key, job } as Running;
        entry.done = this.runJob(job, b.key, b.rows, abort.signal).finally(() => {
          this.running.delete(job.id);
          this.workSignal.notify();
        });
        this.running.set(job.id, entry);
      }
    }
  }

  /**
   * Marks the jobs' keys as run by this server and reads their fired rows, in one statement — only while this
   * server's lease holds in the database (not on the embedded database, where nobody takes over on a lease).
   * Null when it does not: a server whose lease ran out between its own check and the fetch could otherwise
   * begin the very job another server just sent for its keys, and run a key twice at once.
   */
  private async begin(
    jobs: JobWithMetadata<KeyJob>[],
  ): Promise<Map<string, { key: KeyRow; rows: TimerRow[] }> | null> {
    const found = await this.o.db.query<
      { live: boolean } & (
        | (KeyRow & { rows: Array<TimerRow & { due_at: string; fired_at: string }> })
        | { job_id: null }
      )
    >(
      `WITH lease AS (
         SELECT $3 OR EXISTS (SELECT 1 FROM ${this.s}.nodes n
                              WHERE n.node = $1 AND n.lease_until > clock_timestamp()) AS live),
       k AS (
         UPDATE ${this.s}.timer_keys k SET node = $1, attempt = x.attempt, started_at = clock_timestamp()
         FROM jsonb_to_recordset($2::jsonb) AS x(job_id uuid, attempt integer)
         WHERE k.job_id = x.job_id AND (SELECT live FROM lease)
         RETURNING k.kind, k.key, k.job_id, k.takeovers)
       SELECT l.live, k.*, coalesce((
         SELECT jsonb_agg(jsonb_build_object('id', t.id, 'kind', t.kind, 'key', t.key, 'due_at', t.due_at,
                  'fired_at', t.fired_at, 'payload', t.payload, 'dedupe', t.dedupe) ORDER BY t.due_at, t.id)
         FROM ${this.s}.timers t WHERE t.kind = k.kind AND t.key = k.key AND t.status = 'fired'), '[]'::jsonb) AS rows
       FROM lease l LEFT JOIN k ON true`,
      [
        this.o.node,
        JSON.stringify(jobs.map((j) => ({ job_id: j.id, attempt: j.retryCount }))),
        this.o.takeBackAtStart === true,
      ],
    );
    if (found[0]?.live !== true) return null;
    const rows = found.filter(
      (r): r is typeof r & KeyRow & { rows: Array<TimerRow & { due_at: string; fired_at: string }> } =>
        r.job_id !== null,
    );
    return new Map(
      rows.map((r) => [
        r.job_id,
        {
          key: { kind: r.kind, key: r.key, job_id: r.job_id, takeovers: r.takeovers },
          rows: r.rows.map((t) => ({
            ...t,
            due_at: new Date(t.due_at),
            fired_at: t.fired_at ? new Date(t.fired_at) : null,
          })),
        },
      ]),
    );
  }

  private async runJob(
    job: JobWithMetadata<KeyJob>,
    key: KeyRow,
    rows: TimerRow[],
    signal: AbortSignal,
  ): Promise<void> {
    const handler = this.handlers.get(key.kind);
    const willRetry = job.retryCount < job.retryLimit;
    const ids = rows.map((r) => r.id);
    let settled = false;
    const ctx: TimerRunContext = {
      node: this.o.node,
      kind: key.kind,
      key: key.key,
      attempt: job.retryCount + key.takeovers,
      resumed: key.takeovers > 0,
      willRetry,
      signal,
      settle: async (tx) => {
        if (settled) return;
        // Handed back (stop) or lease lost: the key is another job's now, or about to be.
        if (signal.aborted) throw new LostClaimError(`timers: ${key.kind} ${key.key} was handed back`);
        await this.settleIn(tx, job, key, ids);
        settled = true;
      },
    };
    try {
      if (!handler) throw new Error(`no handler for timer kind ${key.kind} in this server`);
      if (rows.length > 0)
        await handler.run(
          rows.map((r) => toFired(r)),
          ctx,
        );
      if (!settled) await this.o.db.transaction((tx) => ctx.settle(tx));
    } catch (error) {
      if (error instanceof LostClaimError) {
        this.o.logger.warn({ kind: key.kind, key: key.key, job: job.id }, error.message);
        return;
      }
      await this.failJob(job, key, ids, error, willRetry).catch((e) =>
        this.o.logger.error(
          { err: e, kind: key.kind, key: key.key },
          'timers: could not record a failed run',
        ),
      );
    }
  }

  /** The rows' end, the key's release and the job's completion, in the caller's transaction. */
  private async settleIn(tx: DbTx, job: JobWithMetadata<KeyJob>, key: KeyRow, ids: string[]): Promise<void> {
    const rows = await tx.query<{ n: number; more: boolean }>(
      `WITH d AS (DELETE FROM ${this.s}.timer_keys WHERE kind = $1 AND key = $2 AND job_id = $3 RETURNING 1),
       u AS (UPDATE ${this.s}.timers SET status = 'done', finished_at = clock_timestamp()
             WHERE id = ANY($4::uuid[]) AND status = 'fired' AND EXISTS (SELECT 1 FROM d) RETURNING 1)
       SELECT (SELECT count(*) FROM d)::int AS n,
              EXISTS (SELECT 1 FROM ${this.s}.timers p WHERE p.kind = $1 AND p.key = $2 AND p.status = 'pending'
                        AND p.due_at <= statement_timestamp() + $5 * interval '1 millisecond') AS more`,
      [key.kind, key.key, key.job_id, ids, 2 * this.pollMs],
    );
    if (rows[0]?.n !== 1) {
      throw new LostClaimError(
        `timers: ${key.kind} ${key.key} was taken over by another server; this run's outcome is dropped`,
      );
    }
    await this.o.boss.complete(TIMER_QUEUE, attemptOf(job), null, { db: tx.bossDb });
    // The key is free again: its next row may be due (it waited while the key was busy).
    if (rows[0].more) queueMicrotask(() => this.wake());
  }

  private async failJob(
    job: JobWithMetadata<KeyJob>,
    key: KeyRow,
    ids: string[],
    error: unknown,
    willRetry: boolean,
  ): Promise<void> {
    const message = error instanceof Error ? error.message : String(error);
    if (willRetry) {
      // pg-boss runs it again after its backoff; meanwhile the key stays busy and no server runs it.
      await this.o.db.query(
        `UPDATE ${this.s}.timer_keys SET node = NULL, attempt = NULL WHERE job_id = $1 AND node = $2`,
        [key.job_id, this.o.node],
      );
      await this.o.boss.fail(TIMER_QUEUE, attemptOf(job), { message });
      return;
    }
    this.o.logger.error(
      { kind: key.kind, key: key.key, error: message },
      'timers: giving up after the last attempt',
    );
    await this.o.db.transaction(async (tx) => {
      const released = await tx.query(
        `DELETE FROM ${this.s}.timer_keys WHERE kind = $1 AND key = $2 AND job_id = $3 RETURNING 1`,
        [key.kind, key.key, key.job_id],
      );
      if (released.length === 0) return;
      await tx.query(
        `UPDATE ${this.s}.timers SET status = 'failed', finished_at = clock_timestamp(), error = $2
         WHERE id = ANY($1::uuid[]) AND status = 'fired'`,
        [ids, message.slice(0, 2000)],
      );
      await this.o.boss.fail(TIMER_QUEUE, attemptOf(job), { message }, { db: tx.bossDb });
    });
    this.wake();
  }
}

function attemptOf(job: { id: string; retryCount: number }) {
  return { id: job.id, retryCount: job.retryCount };
}
