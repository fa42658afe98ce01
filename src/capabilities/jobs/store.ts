// The SQL of HTTP jobs (tables: migrations.ts).

import type { JobResult } from '../../services/contract.ts';
import type { Db } from '../../store/db.ts';
import { GroupCommit, WriteHold } from '../../store/group-commit.ts';
import type { Queryable } from '../../timers/port.ts';
import { type JobSpec, OPEN_STATUSES, type RunStatus, type Trigger } from './model.ts';

export interface JobRow {
  name: string;
  spec: JobSpec;
  origin: 'config' | 'api';
  paused: boolean;
  nextDueAt: Date | null;
}

export interface AttemptRecord {
  attempt: number;
  at: string;
  summary: string;
  status?: number;
}

export interface RunRecord {
  id: string;
  job: string;
  dueAt: Date;
  trigger: Trigger;
  actor: string | null;
  status: RunStatus;
  attempt: number;
  tick: string | null;
  node: string | null;
  createdAt: Date;
  startedAt: Date | null;
  sentAt: Date | null;
  finishedAt: Date | null;
  nextAttemptAt: Date | null;
  durationMs: number | null;
  httpStatus: number | null;
  summary: string | null;
  result: JobResult | null;
  body: string | null;
  attempts: AttemptRecord[];
  deadlineAt: Date | null;
  progress: number | null;
  progressMessage: string | null;
}

export interface NewRun {
  id: string;
  job: string;
  dueAt: Date;
  trigger: Trigger;
  actor?: string | null;
  status: RunStatus;
  attempt?: number;
  tick?: string | null;
  node?: string | null;
  summary?: string | null;
  finished?: boolean;
}

/** A run's end (or a step of it), written by `finish` (many at once under load). */
export interface RunUpdate {
  id: string;
  status: RunStatus;
  sentAt?: Date | null;
  durationMs?: number | null;
  httpStatus?: number | null;
  summary?: string | null;
  result?: JobResult | null;
  body?: string | null;
  nextAttemptAt?: Date | null;
  attempt?: AttemptRecord;
  final: boolean;
}

const RUN_COLS = `id, job, due_at, trigger, actor, status, attempt, tick, node, created_at, started_at, sent_at,
  finished_at, next_attempt_at, duration_ms, http_status, summary, result, body, attempts, deadline_at, progress,
  progress_message`;

function toRun(r: Record<string, unknown>): RunRecord {
  return {
    id: r.id as string,
    job: r.job as string,
    dueAt: new Date(r.due_at as Date),
    trigger: r.trigger as Trigger,
    actor: (r.actor as string | null) ?? null,
    status: r.status as RunStatus,
    attempt: r.attempt as number,
    tick: (r.tick as string | null) ?? null,
    node: (r.node as string | null) ?? null,
    createdAt: new Date(r.created_at as Date),
    startedAt: r.started_at ? new Date(r.started_at as Date) : null,
    sentAt: r.sent_at ? new Date(r.sent_at as Date) : null,
    finishedAt: r.finished_at ? new Date(r.finished_at as Date) : null,
    nextAttemptAt: r.next_attempt_at ? new Date(r.next_attempt_at as Date) : null,
    durationMs: (r.duration_ms as number | null) ?? null,
    httpStatus: (r.http_status as number | null) ?? null,
    summary: (r.summary as string | null) ?? null,
    result: (r.result as JobResult | null) ?? null,
    body: (r.body as string | null) ?? null,
    attempts: (r.attempts as AttemptRecord[] | null) ?? [],
    deadlineAt: r.deadline_at ? new Date(r.deadline_at as Date) : null,
    progress: (r.progress as number | null) ?? null,
    progressMessage: (r.progress_message as string | null) ?? null,
  };
}

function toJob(r: Record<string, unknown>): JobRow {
  return {
    name: r.name as string,
    spec: r.spec as JobSpec,
    origin: r.origin as 'config' | 'api',
    paused: r.paused as boolean,
    nextDueAt: r.next_due_at ? new Date(r.next_due_at as Date) : null,
  };
}

export class JobsStore {
  readonly db: Db;
  readonly s: string;
  readonly #finish: GroupCommit<RunUpdate, void>;
  readonly #hold = new WriteHold();

  constructor(db: Db, schema: string) {
    if (!/^[a-z_][a-z0-9_]{0,50}$/.test(schema)) throw new Error(`bad schema name ${schema}`);
    this.db = db;
    this.s = schema;
    this.#finish = new GroupCommit<RunUpdate, void>(
      async (items) => {
        await this.#writeUpdates(items);
        return items.map(() => undefined);
      },
      { maxBatch: 500, gather: 'io' },
    );
  }

  // ---- jobs ---------------------------------------------------------------------------------------------------

  /**
   * The config file's jobs as rows: new ones inserted, changed ones updated (their next due time recomputed when
   * their schedule changed), ones gone from the file deleted. Paused stays as a person left it (the file can
   * only pause). Returns the rows after.
   */
  async syncConfigJobs(specs: JobSpec[], nextOf: (spec: JobSpec) => Date | null): Promise<JobRow[]> {
    return this.db.transaction(async (tx) => {
      await tx.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [`chronops-jobs-sync:${this.s}`]);
      const existing = new Map(
        (await tx.query(`SELECT name, spec, origin, paused, next_due_at FROM ${this.s}.jobs`)).map((r) => {
          const j = toJob(r);
          return [j.name, j] as const;
        }),
      );
      const rows = specs.map((spec) => {
        const old = existing.get(spec.name);
        const sameTime =
          old !== undefined &&
          old.spec.schedule === spec.schedule &&
          old.spec.at === spec.at &&
          old.spec.timezone === spec.timezone &&
          old.nextDueAt !== null;
        return {
          name: spec.name,
          spec,
          paused: (old?.paused ?? false) || spec.paused,
          next_due_at: sameTime ? old!.nextDueAt!.toISOString() : (nextOf(spec)?.toISOString() ?? null),
        };
      });
      await tx.query(
        `INSERT INTO ${this.s}.jobs (name, spec, origin, paused, next_due_at)
         SELECT x.name, x.spec, 'config', x.paused, x.next_due_at
         FROM jsonb_to_recordset($1::jsonb) AS x(name text, spec jsonb, paused boolean, next_due_at timestamptz)
         ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, origin = 'config', paused = excluded.paused,
           next_due_at = excluded.next_due_at, updated_at = clock_timestamp()`,
        [JSON.stringify(rows)],
      );
      await tx.query(`DELETE FROM ${this.s}.jobs WHERE origin = 'config' AND NOT (name = ANY($1::text[]))`, [
        specs.map((s) => s.name),
      ]);
      return (
        await tx.query(`SELECT name, spec, origin, paused, next_due_at FROM ${this.s}.jobs ORDER BY name`)
      ).map(toJob);
    });
  }

  async jobs(): Promise<JobRow[]> {
    return (
      await this.db.query(`SELECT name, spec, origin, paused, next_due_at FROM ${this.s}.jobs ORDER BY name`)
    ).map(toJob);
  }

  async job(name: string, q: Queryable = this.db): Promise<JobRow | undefined> {
    const rows = await q.query(
      `SELECT name, spec, origin, paused, next_due_at FROM ${this.s}.jobs WHERE name = $1`,
      [name],
    );
    return rows[0] ? toJob(rows[0]) : undefined;
  }

  async insertJob(spec: JobSpec, nextDueAt: Date | null, q: Queryable = this.db): Promise<boolean> {
    const rows = await q.query(
      `INSERT INTO ${this.s}.jobs (name, spec, origin, paused, next_due_at) VALUES ($1, $2, 'api', $3, $4)
       ON CONFLICT (name) DO NOTHING RETURNING name`,
      [spec.name, JSON.stringify(spec), spec.paused, nextDueAt],
    );
    return rows.length === 1;
  }

  async deleteJob(name: string): Promise<boolean> {
    const rows = await this.db.query(
      `DELETE FROM ${this.s}.jobs WHERE name = $1 AND origin = 'api' RETURNING name`,
      [name],
    );
    return rows.length === 1;
  }

  async setPaused(
    name: string,
    paused: boolean,
    nextDueAt: Date | null,
    q: Queryable = this.db,
  ): Promise<void> {
    await q.query(
      `UPDATE ${this.s}.jobs SET paused = $2, next_due_at = coalesce($3, next_due_at), updated_at = clock_timestamp()
       WHERE name = $1`,
      [name, paused, nextDueAt],
    );
  }

  /**
   * The jobs due by `now`, locked for this transaction. A job another transaction holds (another server's fire,
   * a run now, a queued run's start or turn — each holds it for a few statements) is waited for, not skipped:
   * skipped, a job held by a run now at its due time would be left for the sweep (30 s later). When the holder
   * was another fire, the job's next due time has moved past `now` and it is not returned.
   */
  async lockDue(tx: Queryable, now: Date): Promise<JobRow[]> {
    return (
      await tx.query(
        `SELECT name, spec, origin, paused, next_due_at FROM ${this.s}.jobs
         WHERE NOT paused AND next_due_at <= $1 ORDER BY next_due_at, name FOR UPDATE`,
        [now],
      )
    ).map(toJob);
  }

  /**
   * The job's row, locked until the end of `tx`. Every decision that a run of a job with overlap `skip` or
   * `queue` may go (a run now, a scheduled fire, a queued run's start, the turn of the next queued run) is made
   * under this lock, so two of them — on two servers, or two requests at once — cannot both see the job idle.
   */
  async lockJob(tx: Queryable, name: string): Promise<JobRow | undefined> {
    const rows = await tx.query(
      `SELECT name, spec, origin, paused, next_due_at FROM ${this.s}.jobs WHERE name = $1 FOR UPDATE`,
      [name],
    );
    return rows[0] ? toJob(rows[0]) : undefined;
  }

  async setNextDue(tx: Queryable, items: Array<{ name: string; next: Date | null }>): Promise<void> {
    if (items.length === 0) return;
    await tx.query(
      `UPDATE ${this.s}.jobs j SET next_due_at = x.next
       FROM jsonb_to_recordset($1::jsonb) AS x(name text, next timestamptz) WHERE j.name = x.name`,
      [JSON.stringify(items.map((i) => ({ name: i.name, next: i.next?.toISOString() ?? null })))],
    );
  }

  // ---- runs ---------------------------------------------------------------------------------------------------

  /** Jobs among `names` with a run still going (queued, running, retrying, waiting for its callback). */
  async busyJobs(q: Queryable, names: string[]): Promise<Set<string>> {
    if (names.length === 0) return new Set();
    const rows = await q.query<{ job: string }>(
      `SELECT DISTINCT job FROM ${this.s}.job_runs WHERE job = ANY($1::text[]) AND status = ANY($2::text[])`,
      [names, OPEN_STATUSES],
    );
    return new Set(rows.map((r) => r.job));
  }

  /** Inserts runs (an existing id is kept as it is); returns the ids inserted. */
  async insertRuns(q: Queryable, runs: NewRun[]): Promise<Set<string>> {
    if (runs.length === 0) return new Set();
    const rows = await q.query<{ id: string }>(
      `INSERT INTO ${this.s}.job_runs (id, job, due_at, trigger, actor, status, attempt, tick, node, summary,
         started_at, finished_at)
       SELECT x.id, x.job, x.due_at, x.trigger, x.actor, x.status, x.attempt, x.tick, x.node, x.summary,
         CASE WHEN x.status = 'running' THEN clock_timestamp() END,
         CASE WHEN x.finished THEN clock_timestamp() END
       FROM jsonb_to_recordset($1::jsonb) AS x(id uuid, job text, due_at timestamptz, trigger text, actor text,
         status text, attempt integer, tick uuid, node text, summary text, finished boolean)
       ON CONFLICT (id) DO NOTHING RETURNING id`,
      [
        JSON.stringify(
          runs.map((r) => ({
            id: r.id,
            job: r.job,
            due_at: r.dueAt.toISOString(),
            trigger: r.trigger,
            actor: r.actor ?? null,
            status: r.status,
            attempt: r.attempt ?? 0,
            tick: r.tick ?? null,
            node: r.node ?? null,
            summary: r.summary ?? null,
            finished: r.finished ?? false,
          })),
        ),
      ],
    );
    return new Set(rows.map((r) => r.id));
  }

  /** Runs a fire of `tick` began and did not finish (the server running them died or stopped). */
  async unfinishedOfTick(tick: string): Promise<RunRecord[]> {
    return (
      await this.db.query(
        `SELECT ${RUN_COLS} FROM ${this.s}.job_runs WHERE tick = $1 AND status = 'running'`,
        [tick],
      )
    ).map(toRun);
  }

  async run(id: string, q: Queryable = this.db): Promise<RunRecord | undefined> {
    const rows = await q.query(`SELECT ${RUN_COLS} FROM ${this.s}.job_runs WHERE id = $1`, [id]);
    return rows[0] ? toRun(rows[0]) : undefined;
  }

  /** Marks a run as being attempted again by this server; undefined if it is not in `from`. */
  async begin(
    id: string,
    from: RunStatus[],
    node: string,
    q: Queryable = this.db,
  ): Promise<RunRecord | undefined> {
    const rows = await q.query(
      `UPDATE ${this.s}.job_runs SET status = 'running', attempt = attempt + 1, node = $3,
         started_at = coalesce(started_at, clock_timestamp()), next_attempt_at = NULL
       WHERE id = $1 AND status = ANY($2::text[]) RETURNING ${RUN_COLS}`,
      [id, from, node],
    );
    return rows[0] ? toRun(rows[0]) : undefined;
  }

  /** Writes a run's outcome (batched with others finishing at the same time; after a hold is released). */
  async update(u: RunUpdate): Promise<void> {
    await this.#hold.pass();
    return this.#finish.submit(u);
  }

  /** Outcomes wait until the returned function is called (a burst of requests being sent). */
  holdWrites(): () => void {
    return this.#hold.hold();
  }

  /** Runs `fn` now, or once the writes held back (`holdWrites`) may go: a burst's metrics wait with its records. */
  afterHold(fn: () => void): void {
    const wait = this.#hold.pass();
    if (wait === undefined) fn();
    else void wait.then(fn);
  }

  async #writeUpdates(items: RunUpdate[]): Promise<void> {
    await this.db.query(
      `UPDATE ${this.s}.job_runs r SET status = x.status,
         sent_at = coalesce(x.sent_at, r.sent_at),
         duration_ms = coalesce(x.duration_ms, r.duration_ms),
         http_status = coalesce(x.http_status, r.http_status),
         summary = coalesce(x.summary, r.summary),
         result = coalesce(x.result, r.result),
         body = coalesce(x.body, r.body),
         next_attempt_at = x.next_attempt_at,
         attempts = CASE WHEN x.attempt IS NULL THEN r.attempts ELSE r.attempts || jsonb_build_array(x.attempt) END,
         finished_at = CASE WHEN x.final THEN clock_timestamp() ELSE r.finished_at END
       FROM jsonb_to_recordset($1::jsonb) AS x(id uuid, status text, sent_at timestamptz, duration_ms integer,
         http_status integer, summary text, result jsonb, body text, next_attempt_at timestamptz, attempt jsonb,
         final boolean)
       WHERE r.id = x.id`,
      [
        JSON.stringify(
          items.map((u) => ({
            id: u.id,
            status: u.status,
            sent_at: u.sentAt?.toISOString() ?? null,
            duration_ms: u.durationMs ?? null,
            http_status: u.httpStatus ?? null,
            summary: u.summary ?? null,
            result: u.result ?? null,
            body: u.body ?? null,
            next_attempt_at: u.nextAttemptAt?.toISOString() ?? null,
            attempt: u.attempt ?? null,
            final: u.final,
          })),
        ),
      ],
    );
  }

  /** Callback mode: the run's one-run token (hashed) and its deadline, before the call. */
  /** Each run's callback token (hashed) and deadline, in one statement (a fire's burst sets them all at once). */
  async setCallbacks(items: Array<{ id: string; tokenHash: string; deadline: Date }>): Promise<void> {
    if (items.length === 0) return;
    await this.db.query(
      `UPDATE ${this.s}.job_runs r SET token_hash = x.token_hash, deadline_at = x.deadline_at
       FROM jsonb_to_recordset($1::jsonb) AS x(id uuid, token_hash text, deadline_at timestamptz)
       WHERE r.id = x.id`,
      [
        JSON.stringify(
          items.map((i) => ({ id: i.id, token_hash: i.tokenHash, deadline_at: i.deadline.toISOString() })),
        ),
      ],
    );
  }

  async tokenHash(id: string): Promise<string | null> {
    const rows = await this.db.query<{ token_hash: string | null }>(
      `SELECT token_hash FROM ${this.s}.job_runs WHERE id = $1`,
      [id],
    );
    return rows[0]?.token_hash ?? null;
  }

  /** The service accepted the call (202): the run waits for its callback, unless that came first. */
  async waiting(
    id: string,
    u: { sentAt: Date; httpStatus: number | null; summary: string; attempt: AttemptRecord },
  ): Promise<void> {
    await this.db.query(
      `UPDATE ${this.s}.job_runs SET status = 'waiting', sent_at = $2, http_status = $3, summary = $4,
         attempts = attempts || jsonb_build_array($5::jsonb)
       WHERE id = $1 AND status = 'running'`,
      [id, u.sentAt, u.httpStatus, u.summary, JSON.stringify(u.attempt)],
    );
  }

  /** Ends a run still in one of `from` (one statement: a callback and the deadline cannot both end it). */
  async endIfOpen(
    id: string,
    from: RunStatus[],
    u: { status: RunStatus; summary: string; result?: JobResult },
  ): Promise<RunRecord | undefined> {
    const rows = await this.db.query(
      `UPDATE ${this.s}.job_runs SET status = $3, summary = $4, result = coalesce($5::jsonb, result),
         finished_at = clock_timestamp(),
         duration_ms = CASE WHEN sent_at IS NULL THEN duration_ms
                       ELSE (extract(epoch FROM clock_timestamp() - sent_at) * 1000)::int END
       WHERE id = $1 AND status = ANY($2::text[]) RETURNING ${RUN_COLS}`,
      [id, from, u.status, u.summary, u.result ? JSON.stringify(u.result) : null],
    );
    return rows[0] ? toRun(rows[0]) : undefined;
  }

  /** A progress callback; false when the run has ended. */
  async progress(id: string, progress: number, message: string | null): Promise<boolean> {
    const rows = await this.db.query(
      `UPDATE ${this.s}.job_runs SET progress = $2, progress_message = $3
       WHERE id = $1 AND status IN ('running', 'waiting') RETURNING id`,
      [id, progress, message],
    );
    return rows.length === 1;
  }

  /** The status of the job's last finished run before `before` (for `notify.when: change`). */
  async previousStatus(job: string, before: string): Promise<RunStatus | undefined> {
    const rows = await this.db.query<{ status: RunStatus }>(
      `SELECT status FROM ${this.s}.job_runs WHERE job = $1 AND id <> $2 AND finished_at IS NOT NULL
         AND status IN ('success', 'partial', 'failed')
       ORDER BY finished_at DESC LIMIT 1`,
      [job, before],
    );
    return rows[0]?.status;
  }

  /** Is a run of `job` other than `except` going (running, retrying, waiting for its callback)? */
  async otherGoing(q: Queryable, job: string, except: string): Promise<boolean> {
    const rows = await q.query(
      `SELECT 1 FROM ${this.s}.job_runs WHERE job = $1 AND id <> $2
         AND status IN ('running', 'retrying', 'waiting') LIMIT 1`,
      [job, except],
    );
    return rows.length > 0;
  }

  /** The oldest queued run of a job, if no other run of it is going. */
  async nextQueued(job: string, q: Queryable = this.db): Promise<string | undefined> {
    const rows = await q.query<{ id: string }>(
      `SELECT id FROM ${this.s}.job_runs q WHERE q.job = $1 AND q.status = 'queued'
         AND NOT EXISTS (SELECT 1 FROM ${this.s}.job_runs o WHERE o.job = $1
                         AND o.status IN ('running', 'retrying', 'waiting'))
       ORDER BY q.due_at, q.created_at LIMIT 1`,
      [job],
    );
    return rows[0]?.id;
  }

  async history(options: { job?: string; limit: number }): Promise<RunRecord[]> {
    return (
      await this.db.query(
        `SELECT ${RUN_COLS} FROM ${this.s}.job_runs WHERE ($1::text IS NULL OR job = $1)
         ORDER BY due_at DESC, created_at DESC LIMIT $2`,
        [options.job ?? null, options.limit],
      )
    ).map(toRun);
  }

  /** The last finished run of each job. */
  async lastRuns(): Promise<Map<string, RunRecord>> {
    const rows = await this.db.query(
      `SELECT DISTINCT ON (job) ${RUN_COLS} FROM ${this.s}.job_runs
       WHERE status IN ('success', 'partial', 'failed', 'missed') ORDER BY job, finished_at DESC NULLS LAST`,
    );
    return new Map(rows.map((r) => [r.job as string, toRun(r)]));
  }

  async idle(): Promise<void> {
    await this.#finish.idle();
  }
}
