import { randomUUID } from 'node:crypto';
import type { CloudCall } from '../../aws/gateway.ts';
import { ConflictError, NotFoundError } from '../../kernel/errors.ts';
import type { Db, DbTx } from '../../store/db.ts';
import type { FiredTimer, Queryable } from '../../timers/port.ts';
import { TimerRows } from '../../timers/rows.ts';
import type {
  CapacityWindow,
  Hold,
  ResourceKind,
  Transition,
  TransitionKind,
  TransitionStatus,
  WindowStatus,
} from './model.ts';
import type { PlannedHold } from './plan.ts';

export interface AuditEntry {
  actor: string;
  source: string;
  action: string;
  target?: string | null;
  outcome: string;
  executionId?: string | null;
  details?: Record<string, unknown> | null;
}

export interface AuditRecord extends AuditEntry {
  id: number;
  at: Date;
}

export interface Execution {
  id: string;
  transitionId: string;
  resource: string;
  node: string;
  dryRun: boolean;
  status: 'running' | 'done' | 'failed';
  target: number | null;
  fromState: string | null;
  toState: string | null;
  changed: boolean | null;
  error: string | null;
  details: Record<string, unknown> | null;
  startedAt: Date;
  finishedAt: Date | null;
}

export interface ReaderRecord {
  instanceId: string;
  resource: string;
  windowId: string | null;
  transitionId: string | null;
  requestedAt: Date;
  status: string;
  checks: number;
  availableAt: Date | null;
}

export interface ExecutionRecord {
  id: string;
  transition: Transition;
  node: string;
  dryRun: boolean;
  startedAt: Date;
  /** Audit records of its cloud calls not written yet. */
  calls: AuditEntry[];
}

export type ExecutionResult =
  | {
      status: 'done';
      target: number | null;
      from: string;
      to: string;
      changed: boolean;
      details?: Record<string, unknown>;
    }
  | { status: 'failed'; target: number | null; error: string; final?: boolean };

export interface RecordedExecution {
  /** The transitions it finished, its own first. */
  finished: Transition[];
  /** Transitions of the resource still fired or failed after it. */
  remaining: number;
  /** Another server took the work over: nothing was recorded. */
  lost: boolean;
}

export interface NewTransition {
  resource: string;
  kind: TransitionKind;
  dueAt: Date;
}

/** A transition with how late it was claimed. */
export interface FiredTransition extends Transition {
  latenessMs: number;
}

const windowCols = `id, name, status, dry_run, created_by, created_at, cancelled_at, origin`;

/** The timer kinds of capacity windows: converge a resource (key: its name), follow a new reader (key: its id). */
export const TimerKinds = { converge: 'capacity.converge', reader: 'capacity.reader' } as const;
const transitionCols = `id, window_id, resource, kind, due_at, status, dry_run, fired_at, finished_at, error, covered_by`;

/**
 * Every read and write of chronops' own tables. SQL lives here and nowhere else; the schema name is a
 * parameter so that tests get a fresh schema each.
 */
export class Store {
  readonly db: Db;
  readonly schema: string;
  /** Each pending transition has a due row in the timer loop's table, with the same id, keyed by resource. */
  private readonly timers: TimerRows;

  constructor(db: Db, schema = 'chronops') {
    this.db = db;
    this.schema = schema;
    this.timers = new TimerRows(schema);
  }

  private get s(): string {
    return this.schema;
  }

  // ---- windows ------------------------------------------------------------------------------------------

  /** Stores a window, its holds, its transitions and the audit record of the command, atomically. */
  async createWindow(
    window: CapacityWindow,
    transitions: NewTransition[],
    audit: AuditEntry,
  ): Promise<Transition[]> {
    const [created] = await this.createWindows([{ window, transitions, audit }]);
    return created!;
  }

  /**
   * Stores several windows with their holds, transitions and audit records in ONE statement (data-modifying
   * CTEs over JSON arrays): atomic, and one round trip whatever the count. Concurrent creations are grouped
   * into one call (see CapacityService), which is what makes thousands of windows a second possible on the
   * single-connection embedded database. Each transition's due row for the timer loop is in the same statement.
   */
  async createWindows(
    items: Array<{ window: CapacityWindow; transitions: NewTransition[]; audit: AuditEntry }>,
  ): Promise<Transition[][]> {
    const created = items.map(({ window, transitions }) =>
      transitions.map(
        (t): Transition => ({
          id: randomUUID(),
          windowId: window.id,
          resource: t.resource,
          kind: t.kind,
          dueAt: t.dueAt,
          status: 'pending',
          dryRun: window.dryRun,
        }),
      ),
    );
    const windows = items.map(({ window: w }) => ({
      id: w.id,
      name: w.name,
      dry_run: w.dryRun,
      created_by: w.createdBy,
      created_at: w.createdAt.toISOString(),
      origin: w.origin ?? null,
    }));
    const holds = items.flatMap(({ window: w }) =>
      w.holds.map((h) => ({
        window_id: w.id,
        resource: h.resource,
        kind: h.kind,
        amount: h.amount,
        starts_at: h.from.toISOString(),
        ends_at: h.until.toISOString(),
      })),
    );
    const transitions = created.flat().map((t) => ({
      id: t.id,
      window_id: t.windowId,
      resource: t.resource,
      kind: t.kind,
      due_at: t.dueAt.toISOString(),
      dry_run: t.dryRun,
    }));
    const audits = items.map(({ window: w, audit: a }) => ({
      actor: a.actor,
      source: a.source,
      action: a.action,
      target: w.id,
      outcome: a.outcome,
      details: a.details ?? null,
    }));
    await this.db.query(
      `WITH w AS (
         INSERT INTO ${this.s}.windows (id, name, status, dry_run, created_by, created_at, origin)
         SELECT x.id, x.name, 'scheduled', x.dry_run, x.created_by, x.created_at, x.origin
         FROM jsonb_to_recordset($1::jsonb) AS x(id text, name text, dry_run boolean, created_by text, created_at timestamptz, origin jsonb)
         RETURNING id),
       h AS (
         INSERT INTO ${this.s}.holds (window_id, resource, kind, amount, starts_at, ends_at)
         SELECT x.window_id, x.resource, x.kind, x.amount, x.starts_at, x.ends_at
         FROM jsonb_to_recordset($2::jsonb) AS x(window_id text, resource text, kind text, amount integer, starts_at timestamptz, ends_at timestamptz)),
       t AS (
         INSERT INTO ${this.s}.transitions (id, window_id, resource, kind, due_at, status, dry_run)
         SELECT x.id, x.window_id, x.resource, x.kind, x.due_at, 'pending', x.dry_run
         FROM jsonb_to_recordset($3::jsonb) AS x(id uuid, window_id text, resource text, kind text, due_at timestamptz, dry_run boolean)),
       a AS (
         INSERT INTO ${this.s}.audit (actor, source, action, target, outcome, details)
         SELECT x.actor, x.source, x.action, x.target, x.outcome, x.details
         FROM jsonb_to_recordset($4::jsonb) AS x(actor text, source text, action text, target text, outcome text, details jsonb)),
       d AS (${this.timers.insertCte('$5')})
       SELECT count(*) FROM w`,
      [
        JSON.stringify(windows),
        JSON.stringify(holds),
        JSON.stringify(transitions),
        JSON.stringify(audits),
        this.timers.json(created.flat().map(dueRow)),
      ],
    );
    return created;
  }

  /** A window; with `q`, read inside that transaction. */
  async getWindow(id: string, q: Queryable = this.db): Promise<CapacityWindow> {
    const rows = await q.query<WindowRow>(`SELECT ${windowCols} FROM ${this.s}.windows WHERE id = $1`, [id]);
    if (!rows[0]) throw new NotFoundError(`no window ${id}`);
    const holds = await q.query<HoldRow>(
      `SELECT window_id, resource, kind, amount, starts_at, ends_at FROM ${this.s}.holds WHERE window_id = $1 ORDER BY starts_at, resource`,
      [id],
    );
    return toWindow(rows[0], holds);
  }

  /** The window a chat event created, if any (origin.chat.eventKey is unique). */
  async windowIdForEvent(eventKey: string): Promise<string | null> {
    const rows = await this.db.query<{ id: string }>(
      `SELECT id FROM ${this.s}.windows WHERE origin #>> '{chat,eventKey}' = $1`,
      [eventKey],
    );
    return rows[0]?.id ?? null;
  }

  /** Windows by status (all when none given) and/or id, newest first. */
  async listWindows(
    options: { statuses?: WindowStatus[]; ids?: string[]; limit?: number } = {},
  ): Promise<CapacityWindow[]> {
    const statuses = options.statuses?.length ? options.statuses : null;
    if (options.ids?.length === 0) return [];
    const rows = await this.db.query<WindowRow>(
      `SELECT ${windowCols} FROM ${this.s}.windows
       WHERE ($1::text[] IS NULL OR status = ANY($1::text[]))
         AND ($3::text[] IS NULL OR id = ANY($3::text[]))
       ORDER BY created_at DESC, id LIMIT $2`,
      [statuses, options.limit ?? 200, options.ids ?? null],
    );
    if (rows.length === 0) return [];
    const holds = await this.db.query<HoldRow>(
      `SELECT window_id, resource, kind, amount, starts_at, ends_at FROM ${this.s}.holds WHERE window_id = ANY($1::text[]) ORDER BY starts_at, resource`,
      [rows.map((r) => r.id)],
    );
    return rows.map((r) =>
      toWindow(
        r,
        holds.filter((h) => h.window_id === r.id),
      ),
    );
  }

  /**
   * Cancels a window that has not ended. Its pending transitions are cancelled; every resource on which it is
   * active right now gets a reconcile transition due at once, so the resource goes back to what the plan
   * says without this window.
   */
  async cancelWindow(
    id: string,
    audit: AuditEntry,
    /** Runs last in the cancel's transaction, with the cancelled window (e.g. to queue its chat messages). */
    inTransaction?: (tx: Queryable, window: CapacityWindow) => Promise<void>,
  ): Promise<{ window: CapacityWindow; reconcile: Transition[] }> {
    const reconcile = await this.db.transaction(async (tx) => {
      const rows = await tx.query<WindowRow>(
        `SELECT ${windowCols} FROM ${this.s}.windows WHERE id = $1 FOR UPDATE`,
        [id],
      );
      const row = rows[0];
      if (!row) throw new NotFoundError(`no window ${id}`);
      if (row.status === 'cancelled') throw new ConflictError(`window ${id} is already cancelled`);
      if (row.status === 'done') throw new ConflictError(`window ${id} has already ended`);
      await tx.query(
        `UPDATE ${this.s}.windows SET status = 'cancelled', cancelled_at = now() WHERE id = $1`,
        [id],
      );
      // Due rows first, then transitions: the order the timer loop's claim locks them in (its due rows, then
      // their transitions in onFire). The other order deadlocked with a claim of the same transitions under way.
      // A transition claimed meanwhile is fired, not pending: it is neither cancelled here nor its row.
      const pending = await tx.query<{ id: string }>(
        `SELECT id FROM ${this.s}.transitions WHERE window_id = $1 AND status = 'pending'`,
        [id],
      );
      if (pending.length > 0) {
        await this.timers.cancel(tx, { kind: TimerKinds.converge, ids: pending.map((t) => t.id) });
        await tx.query(
          `UPDATE ${this.s}.transitions SET status = 'cancelled', finished_at = now()
           WHERE id = ANY($1::uuid[]) AND status = 'pending'`,
          [pending.map((t) => t.id)],
        );
      }
      // Resources that may hold capacity for this window now: where its start has fired, and where its hold
      // has begun even if its start is still waiting to be claimed (a converge of the resource for another
      // window reads every hold that has begun, so it may already have applied this one).
      const started = await tx.query<{ resource: string }>(
        `SELECT resource FROM ${this.s}.transitions
         WHERE window_id = $1 AND kind = 'start' AND status IN ('fired', 'done', 'failed')
         UNION
         SELECT resource FROM ${this.s}.holds WHERE window_id = $1 AND starts_at <= now()`,
        [id],
      );
      const created: Transition[] = [];
      for (const { resource } of started) {
        const t: Transition = {
          id: randomUUID(),
          windowId: id,
          resource,
          kind: 'reconcile',
          dueAt: new Date(),
          status: 'pending',
          dryRun: row.dry_run,
        };
        await tx.query(
          `INSERT INTO ${this.s}.transitions (id, window_id, resource, kind, due_at, status, dry_run)
           VALUES ($1, $2, $3, 'reconcile', now(), 'pending', $4)`,
          [t.id, id, resource, row.dry_run],
        );
        created.push(t);
      }
      await this.timers.schedule(tx, created.map(dueRow));
      await this.insertAudit(tx, { ...audit, target: id });
      if (inTransaction) await inTransaction(tx, await this.getWindow(id, tx));
      return created;
    });
    return { window: await this.getWindow(id), reconcile };
  }

  // ---- the plan -----------------------------------------------------------------------------------------

  /**
   * Holds that count for a resource's plan: of windows not cancelled, not missed. `includeDryRun` adds
   * dry-run windows (a dry-run converge shows what would happen with them; a real one ignores them).
   */
  async plannedHolds(options: {
    resource?: string;
    from?: Date;
    to?: Date;
    includeDryRun: boolean;
  }): Promise<PlannedHold[]> {
    const rows = await this.db.query<HoldRow & { created_at: Date; dry_run: boolean }>(
      `SELECT h.window_id, h.resource, h.kind, h.amount, h.starts_at, h.ends_at, w.created_at, w.dry_run
       FROM ${this.s}.holds h JOIN ${this.s}.windows w ON w.id = h.window_id
       WHERE w.status <> 'cancelled' AND NOT h.missed
         AND ($1::text IS NULL OR h.resource = $1)
         AND ($2::timestamptz IS NULL OR h.ends_at > $2)
         AND ($3::timestamptz IS NULL OR h.starts_at < $3)
         AND ($4 OR NOT w.dry_run)`,
      [options.resource ?? null, options.from ?? null, options.to ?? null, options.includeDryRun],
    );
    return rows.map((r) => ({
      ...toHold(r),
      windowId: r.window_id,
      windowCreatedAt: r.created_at,
      dryRun: r.dry_run,
    }));
  }

  /**
   * Holds of real (not dry-run) windows, not cancelled or missed, on `resources` overlapping [from, to), with the
   * window's name: what office-hours power keeps running (src/hosts/links.ts).
   */
  async holdsOn(
    resources: readonly string[],
    from: Date,
    to: Date,
  ): Promise<Array<{ resource: string; windowId: string; name: string; from: Date; until: Date }>> {
    if (resources.length === 0) return [];
    const rows = await this.db.query<{
      resource: string;
      window_id: string;
      name: string;
      starts_at: Date;
      ends_at: Date;
    }>(
      `SELECT h.resource, h.window_id, w.name, h.starts_at, h.ends_at
       FROM ${this.s}.holds h JOIN ${this.s}.windows w ON w.id = h.window_id
       WHERE h.resource = ANY($1::text[]) AND w.status <> 'cancelled' AND NOT h.missed AND NOT w.dry_run
         AND h.ends_at > $2 AND h.starts_at < $3
       ORDER BY h.starts_at`,
      [resources, from, to],
    );
    return rows.map((r) => ({
      resource: r.resource,
      windowId: r.window_id,
      name: r.name,
      from: new Date(r.starts_at),
      until: new Date(r.ends_at),
    }));
  }

  /**
   * Of `resources`, those capacity is still changing at `at`: a real window holds it then, or one of its real
   * transitions is due by then and not finished (the scale-in at a window's end, until it is carried out).
   */
  async busyResources(resources: readonly string[], at: Date): Promise<Set<string>> {
    if (resources.length === 0) return new Set();
    const rows = await this.db.query<{ resource: string }>(
      `SELECT h.resource FROM ${this.s}.holds h JOIN ${this.s}.windows w ON w.id = h.window_id
       WHERE h.resource = ANY($1::text[]) AND w.status <> 'cancelled' AND NOT h.missed AND NOT w.dry_run
         AND h.starts_at <= $2 AND h.ends_at > $2
       UNION
       SELECT resource FROM ${this.s}.transitions
       WHERE resource = ANY($1::text[]) AND status IN ('pending', 'fired') AND due_at <= $2 AND NOT dry_run`,
      [resources, at],
    );
    return new Set(rows.map((r) => r.resource));
  }

  // ---- transitions ---------------------------------------------------------------------------------------

  /**
   * The timer loop claimed these transitions' due rows (one server, once): each becomes fired, or — a start later
   * than `graceMs` (the server was down) — missed, its hold then no longer counting in the plan. Runs in the
   * claim's transaction.
   */
  async fireTransitions(
    tx: Queryable,
    timers: readonly FiredTimer[],
    node: string,
    graceMs: number,
  ): Promise<{ fired: FiredTransition[]; missed: FiredTransition[] }> {
    if (timers.length === 0) return { fired: [], missed: [] };
    const rows = await tx.query<TransitionRow & { lateness_ms: number }>(
      `UPDATE ${this.s}.transitions t
       SET status = CASE WHEN t.kind = 'start' AND x.fired_at - t.due_at > $2 * interval '1 millisecond'
                         THEN 'missed' ELSE 'fired' END,
           fired_at = x.fired_at, fired_by = $1
       FROM jsonb_to_recordset($3::jsonb) AS x(id uuid, fired_at timestamptz)
       WHERE t.id = x.id AND t.status = 'pending'
       RETURNING t.id, t.window_id, t.resource, t.kind, t.due_at, t.status, t.dry_run, t.fired_at, t.finished_at,
                 t.error, t.covered_by, (extract(epoch FROM (t.fired_at - t.due_at)) * 1000)::float8 AS lateness_ms`,
      [node, graceMs, JSON.stringify(timers.map((t) => ({ id: t.id, fired_at: t.firedAt.toISOString() })))],
    );
    const all = rows.map((r) => ({ ...toTransition(r), latenessMs: r.lateness_ms }));
    const fired = all.filter((t) => t.status === 'fired');
    const missed = all.filter((t) => t.status === 'missed');
    for (const t of missed) {
      await tx.query(`UPDATE ${this.s}.holds SET missed = true WHERE window_id = $1 AND resource = $2`, [
        t.windowId,
        t.resource,
      ]);
      await tx.query(`UPDATE ${this.s}.transitions SET finished_at = now(), error = $2 WHERE id = $1`, [
        t.id,
        `missed: due ${t.dueAt.toISOString()}, ${Math.round(t.latenessMs / 1000)} s late (grace ${Math.round(graceMs / 1000)} s)`,
      ]);
      await this.insertAudit(tx, {
        actor: node,
        source: 'scheduler',
        action: 'transition.missed',
        target: t.id,
        outcome: 'missed',
        details: { window: t.windowId, resource: t.resource, dueAt: t.dueAt, latenessMs: t.latenessMs },
      });
    }
    return { fired, missed };
  }

  /**
   * Due rows for transitions that have none: pending ones, and resources with fired transitions but no due row
   * pending or running (a database from before the timer loop, whose jobs were in another queue). Idempotent.
   */
  async scheduleOrphans(): Promise<number> {
    const rows = await this.db.query<{ n: number }>(
      `WITH p AS (
         INSERT INTO ${this.s}.timers (id, kind, key, due_at, payload)
         SELECT t.id, $1, t.resource, t.due_at, '{}'::jsonb FROM ${this.s}.transitions t
         WHERE t.status = 'pending' AND NOT EXISTS (SELECT 1 FROM ${this.s}.timers x WHERE x.id = t.id)
         ON CONFLICT DO NOTHING RETURNING 1),
       f AS (
         INSERT INTO ${this.s}.timers (id, kind, key, due_at, payload, dedupe)
         SELECT gen_random_uuid(), $1, r.resource, now(), '{}'::jsonb, 'orphan:' || r.first
         FROM (SELECT resource, min(id::text) AS first FROM ${this.s}.transitions WHERE status = 'fired' GROUP BY resource) r
         WHERE NOT EXISTS (SELECT 1 FROM ${this.s}.timers x
                           WHERE x.kind = $1 AND x.key = r.resource AND x.status IN ('pending', 'fired'))
         ON CONFLICT DO NOTHING RETURNING 1)
       SELECT (SELECT count(*) FROM p)::int + (SELECT count(*) FROM f)::int AS n`,
      [TimerKinds.converge],
    );
    return rows[0]?.n ?? 0;
  }

  async getTransition(id: string): Promise<Transition> {
    const rows = await this.db.query<TransitionRow>(
      `SELECT ${transitionCols} FROM ${this.s}.transitions WHERE id = $1`,
      [id],
    );
    if (!rows[0]) throw new NotFoundError(`no transition ${id}`);
    return toTransition(rows[0]);
  }

  async listTransitions(options: {
    windowId?: string;
    ids?: string[];
    statuses?: TransitionStatus[];
    from?: Date;
    to?: Date;
    limit?: number;
  }): Promise<Transition[]> {
    if (options.ids?.length === 0) return [];
    const rows = await this.db.query<TransitionRow>(
      `SELECT ${transitionCols} FROM ${this.s}.transitions
       WHERE ($1::text IS NULL OR window_id = $1)
         AND ($2::text[] IS NULL OR status = ANY($2::text[]))
         AND ($3::timestamptz IS NULL OR due_at >= $3)
         AND ($4::timestamptz IS NULL OR due_at < $4)
         AND ($6::uuid[] IS NULL OR id = ANY($6::uuid[]))
       ORDER BY due_at, resource LIMIT $5`,
      [
        options.windowId ?? null,
        options.statuses?.length ? options.statuses : null,
        options.from ?? null,
        options.to ?? null,
        options.limit ?? 1000,
        options.ids ?? null,
      ],
    );
    return rows.map(toTransition);
  }

  /**
   * What converging a resource needs, read in one statement (no write, so no commit to wait for): its earliest
   * fired (or failed, to retry) transition, which the execution is recorded against (the others will be covered
   * by it), and the holds that count for the resource right now. Null when it has none (a job delivered twice,
   * or its transitions covered already). `globalDryRun` makes every execution a dry-run.
   */
  /**
   * The state a transition's resource was first seen in by a converge for it: `state` if this is the first look,
   * else what the first look saw (kept across a crash; see ActionContext.seen).
   */
  async firstSeen(transitionId: string, state: string): Promise<string> {
    const rows = await this.db.query<{ first_seen: string | null }>(
      `UPDATE ${this.s}.transitions SET first_seen = coalesce(first_seen, $2) WHERE id = $1 RETURNING first_seen`,
      [transitionId, state],
    );
    return rows[0]?.first_seen ?? state;
  }

  async beginExecution(
    resource: string,
    globalDryRun: boolean,
  ): Promise<{ transition: Transition; dryRun: boolean; holds: PlannedHold[]; startedAt: Date } | null> {
    const rows = await this.db.query<TransitionRow & { holds: HoldJson[]; now: Date }>(
      `WITH t AS (
         SELECT ${transitionCols} FROM ${this.s}.transitions
         WHERE resource = $1 AND status IN ('fired', 'failed')
         ORDER BY due_at, id LIMIT 1)
       SELECT t.*, statement_timestamp() AS now,
         coalesce((
           SELECT jsonb_agg(jsonb_build_object('window_id', h.window_id, 'resource', h.resource, 'kind', h.kind,
                    'amount', h.amount, 'starts_at', h.starts_at, 'ends_at', h.ends_at,
                    'created_at', w.created_at, 'dry_run', w.dry_run))
           FROM ${this.s}.holds h JOIN ${this.s}.windows w ON w.id = h.window_id
           WHERE h.resource = t.resource AND w.status <> 'cancelled' AND NOT h.missed
             AND h.starts_at <= statement_timestamp() AND h.ends_at > statement_timestamp()
             AND ($2 OR t.dry_run OR NOT w.dry_run)), '[]'::jsonb) AS holds
       FROM t`,
      [resource, globalDryRun],
    );
    const row = rows[0];
    if (!row) return null;
    return {
      transition: toTransition(row),
      dryRun: globalDryRun || row.dry_run,
      startedAt: new Date(row.now),
      holds: row.holds.map((h) => ({
        windowId: h.window_id,
        resource: h.resource,
        kind: h.kind,
        amount: h.amount,
        from: new Date(h.starts_at),
        until: new Date(h.ends_at),
        windowCreatedAt: new Date(h.created_at),
        dryRun: h.dry_run,
      })),
    };
  }

  /**
   * Records an execution and its outcome in one transaction: the execution row, its transition done (or failed),
   * and on success every other fired transition of the same resource (and dry-run mode) that was already due
   * when the execution began, covered by it (the converge brought the resource to the plan they were due for).
   * Windows move along (scheduled → active → done); buffered cloud-call audits are written; `alsoInTx` settles
   * the job in the same commit. Returns the transitions it finished, this one first.
   */
  async recordExecution(
    e: ExecutionRecord,
    result: ExecutionResult,
    alsoInTx?: (tx: DbTx) => Promise<boolean>,
  ): Promise<RecordedExecution> {
    const [recorded] = await this.recordExecutions([{ e, result, alsoInTx }]);
    return recorded!;
  }

  /** Several executions recorded in one transaction: one commit (one WAL flush) for all of them. */
  async recordExecutions(
    items: Array<{
      e: ExecutionRecord;
      result: ExecutionResult;
      /** Runs first; false: the work was taken over elsewhere, record nothing of this execution. */
      alsoInTx?: (tx: DbTx) => Promise<boolean>;
      /**
       * Runs after the record, in the same transaction, with what it finished: e.g. queue the thread's messages
       * about it, which then exist if and only if the record does (reported exactly once).
       */
      thenInTx?: (tx: DbTx, recorded: RecordedExecution) => Promise<void>;
    }>,
  ): Promise<RecordedExecution[]> {
    return this.db.transaction(async (tx) => {
      const out: RecordedExecution[] = [];
      for (const { e, result, alsoInTx, thenInTx } of items) {
        if (alsoInTx && !(await alsoInTx(tx))) {
          out.push({ finished: [], remaining: 0, lost: true });
          continue;
        }
        const done = result.status === 'done';
        // The last attempt failed: every fired transition it was due to carry out ends failed with it.
        const coverAll = done || (result.status === 'failed' && result.final === true);
        const rows = await tx.query<TransitionRow & { remaining: number }>(
          `WITH a AS (${auditInsertSql(this.s, '$15')}),
           e AS (
             INSERT INTO ${this.s}.executions (id, transition_id, resource, node, dry_run, status, target, from_state,
               to_state, changed, error, details, started_at, finished_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, clock_timestamp())),
           t AS (
             UPDATE ${this.s}.transitions SET status = $6, finished_at = clock_timestamp(), error = $11,
               covered_by = CASE WHEN id = $2 THEN NULL ELSE $1::uuid END
             WHERE id IN (SELECT $2::uuid UNION ALL
                          SELECT id FROM ${this.s}.transitions
                          WHERE $16 AND resource = $3 AND status IN ('fired', 'failed') AND dry_run = $14
                            AND due_at <= $13)
             RETURNING ${transitionCols}),
           w AS (${this.advanceWindows('t')})
           SELECT t.*, (SELECT count(*)::int FROM ${this.s}.transitions x
                        WHERE x.resource = $3 AND x.status IN ('fired', 'failed')
                          AND x.id NOT IN (SELECT id FROM t)) AS remaining
           FROM t ORDER BY (id = $2) DESC, due_at`,
          [
            e.id,
            e.transition.id,
            e.transition.resource,
            e.node,
            e.dryRun,
            result.status,
            result.target,
            done ? result.from : null,
            done ? result.to : null,
            done ? result.changed : null,
            done ? null : result.error,
            done ? (result.details ?? null) : null,
            e.startedAt,
            e.transition.dryRun,
            auditJson(e.calls),
            coverAll,
          ],
        );
        const recorded = {
          finished: rows.map(toTransition),
          remaining: rows[0]?.remaining ?? 0,
          lost: false,
        };
        if (thenInTx) await thenInTx(tx, recorded);
        out.push(recorded);
      }
      return out;
    });
  }

  /**
   * The windows of the transitions in CTE `cte` move along: active while any of their transitions is still
   * pending or fired (other than those just finished), done otherwise.
   */
  private advanceWindows(cte: string): string {
    return `UPDATE ${this.s}.windows w SET status = CASE
           WHEN EXISTS (SELECT 1 FROM ${this.s}.transitions x
                        WHERE x.window_id = w.id AND x.status IN ('pending', 'fired')
                          AND x.id NOT IN (SELECT id FROM ${cte})) THEN 'active'
           ELSE 'done' END
         WHERE w.id IN (SELECT window_id FROM ${cte}) AND w.status IN ('scheduled', 'active')`;
  }

  async listExecutions(
    options: { ids?: string[]; transitionIds?: string[]; resource?: string; limit?: number } = {},
  ): Promise<Execution[]> {
    const rows = await this.db.query<ExecutionRow>(
      `SELECT * FROM ${this.s}.executions
       WHERE ($1::uuid[] IS NULL OR transition_id = ANY($1::uuid[]))
         AND ($2::text IS NULL OR resource = $2)
         AND ($4::uuid[] IS NULL OR id = ANY($4::uuid[]))
       ORDER BY started_at DESC LIMIT $3`,
      [options.transitionIds ?? null, options.resource ?? null, options.limit ?? 200, options.ids ?? null],
    );
    return rows.map(toExecution);
  }

  // ---- audit ------------------------------------------------------------------------------------------------

  async audit(entry: AuditEntry): Promise<void> {
    await this.insertAudit(this.db, entry);
  }

  /** Cloud calls are audit records too: one per attempt, with the execution they belong to. */
  async auditCloudCall(call: CloudCall, executionId?: string): Promise<void> {
    await this.insertAudit(this.db, cloudCallAudit(call, executionId));
  }

  async listAudit(
    options: { actor?: string; action?: string; executionIds?: string[]; limit?: number } = {},
  ): Promise<AuditRecord[]> {
    const rows = await this.db.query<AuditRow>(
      `SELECT * FROM ${this.s}.audit
       WHERE ($1::text IS NULL OR actor = $1)
         AND ($2::text IS NULL OR action LIKE $2 || '%')
         AND ($3::uuid[] IS NULL OR execution_id = ANY($3::uuid[]))
       ORDER BY id DESC LIMIT $4`,
      [options.actor ?? null, options.action ?? null, options.executionIds ?? null, options.limit ?? 200],
    );
    return rows.map((r) => ({
      id: Number(r.id),
      at: r.at,
      actor: r.actor,
      source: r.source,
      action: r.action,
      target: r.target,
      outcome: r.outcome,
      executionId: r.execution_id,
      details: r.details,
    }));
  }

  private async insertAudit(q: Pick<Db, 'query'>, e: AuditEntry): Promise<void> {
    await q.query(
      `INSERT INTO ${this.s}.audit (actor, source, action, target, outcome, execution_id, details)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [e.actor, e.source, e.action, e.target ?? null, e.outcome, e.executionId ?? null, e.details ?? null],
      { prepare: true },
    );
  }

  // ---- baselines (the BaselineStore port) ----------------------------------------------------------------

  readonly baselines = {
    get: async (resource: string): Promise<Record<string, unknown> | null> => {
      const rows = await this.db.query<{ value: Record<string, unknown> }>(
        `SELECT value FROM ${this.s}.baselines WHERE resource = $1`,
        [resource],
      );
      return rows[0]?.value ?? null;
    },
    put: async (resource: string, value: Record<string, unknown>): Promise<void> => {
      await this.db.query(
        `INSERT INTO ${this.s}.baselines (resource, value) VALUES ($1, $2)
         ON CONFLICT (resource) DO UPDATE SET value = EXCLUDED.value, captured_at = now()`,
        [resource, value],
      );
    },
    clear: async (resource: string): Promise<void> => {
      await this.db.query(`DELETE FROM ${this.s}.baselines WHERE resource = $1`, [resource]);
    },
  };

  // ---- readers chronops created ------------------------------------------------------------------------------

  /** Records readers to follow; returns those that were not recorded already (the ones to start following). */
  async recordReaders(
    readers: Array<{
      instanceId: string;
      resource: string;
      windowId: string | null;
      transitionId: string;
      /** When it was asked for, if known (AWS' create time of a reader an earlier firing created). */
      requestedAt?: Date | null;
    }>,
    q: Queryable = this.db,
  ): Promise<string[]> {
    const added: string[] = [];
    for (const r of readers) {
      const rows = await q.query<{ instance_id: string }>(
        `INSERT INTO ${this.s}.readers (instance_id, resource, window_id, transition_id, requested_at, status)
         VALUES ($1, $2, $3, $4, coalesce($5, clock_timestamp()), 'creating') ON CONFLICT (instance_id) DO NOTHING
         RETURNING instance_id`,
        [r.instanceId, r.resource, r.windowId, r.transitionId, r.requestedAt ?? null],
      );
      if (rows[0]) added.push(rows[0].instance_id);
    }
    return added;
  }

  async getReader(instanceId: string): Promise<ReaderRecord | null> {
    const rows = await this.db.query<ReaderRow>(`SELECT * FROM ${this.s}.readers WHERE instance_id = $1`, [
      instanceId,
    ]);
    return rows[0] ? toReader(rows[0]) : null;
  }

  async updateReader(
    instanceId: string,
    status: string,
    available: boolean,
    q: Queryable = this.db,
  ): Promise<ReaderRecord> {
    const rows = await q.query<ReaderRow>(
      `UPDATE ${this.s}.readers SET status = $2, checks = checks + 1, last_checked_at = clock_timestamp(),
         available_at = CASE WHEN $3 THEN coalesce(available_at, clock_timestamp()) ELSE available_at END
       WHERE instance_id = $1 RETURNING *`,
      [instanceId, status, available],
    );
    if (!rows[0]) throw new NotFoundError(`no reader ${instanceId}`);
    return toReader(rows[0]);
  }

  async listReaders(limit = 100): Promise<ReaderRecord[]> {
    const rows = await this.db.query<ReaderRow>(
      `SELECT * FROM ${this.s}.readers ORDER BY requested_at DESC LIMIT $1`,
      [limit],
    );
    return rows.map(toReader);
  }

  // ---- counts for /metrics ---------------------------------------------------------------------------------

  async countWindowsByStatus(): Promise<Record<string, number>> {
    const rows = await this.db.query<{ status: string; n: number }>(
      `SELECT status, count(*)::int AS n FROM ${this.s}.windows GROUP BY status`,
    );
    return Object.fromEntries(rows.map((r) => [r.status, r.n]));
  }

  async countPendingTransitions(): Promise<number> {
    const rows = await this.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${this.s}.transitions WHERE status = 'pending'`,
    );
    return rows[0]?.n ?? 0;
  }
}

/** The audit record of one cloud call (one attempt). */
export function cloudCallAudit(call: CloudCall, executionId?: string): AuditEntry & { at: Date } {
  return {
    at: call.at,
    actor: 'chronops',
    source: 'aws',
    action: `aws:${call.service}.${call.command}`,
    target: null,
    outcome: call.dryRun ? 'dry-run' : call.ok ? 'ok' : 'error',
    executionId: executionId ?? null,
    details: {
      input: call.input,
      requestId: call.requestId ?? null,
      error: call.error ?? null,
      durationMs: call.durationMs,
      attempt: call.attempt,
    },
  };
}

/**
 * An INSERT of the audit records in JSON parameter `param` (made by auditJson), for use inside one statement: so
 * that a record is written in the transaction of what it records (a window's step, a command's answers).
 */
export function auditInsertSql(schema: string, param: string): string {
  return `INSERT INTO ${schema}.audit (at, actor, source, action, target, outcome, execution_id, details)
         SELECT coalesce(x.at, clock_timestamp()), x.actor, x.source, x.action, x.target, x.outcome, x.execution_id, x.details
         FROM jsonb_to_recordset(${param}::jsonb) AS x(at timestamptz, actor text, source text, action text, target text,
           outcome text, execution_id uuid, details jsonb)`;
}

/** The JSON parameter of auditInsertSql. */
export function auditJson(entries: Array<AuditEntry & { at?: Date }>): string {
  return JSON.stringify(
    entries.map((e) => ({
      at: e.at?.toISOString() ?? null,
      actor: e.actor,
      source: e.source,
      action: e.action,
      target: e.target ?? null,
      outcome: e.outcome,
      execution_id: e.executionId ?? null,
      details: e.details ?? null,
    })),
  );
}

/** A transition's due row for the timer loop: same id, keyed by its resource. */
function dueRow(t: Pick<Transition, 'id' | 'resource' | 'dueAt'>) {
  return { id: t.id, kind: TimerKinds.converge, key: t.resource, dueAt: t.dueAt };
}

// ---- row mapping --------------------------------------------------------------------------------------------

interface WindowRow {
  id: string;
  name: string;
  status: WindowStatus;
  dry_run: boolean;
  created_by: string;
  created_at: Date;
  cancelled_at: Date | null;
  origin: Record<string, unknown> | null;
}
interface HoldRow {
  window_id: string;
  resource: string;
  kind: ResourceKind;
  amount: number;
  starts_at: Date;
  ends_at: Date;
}
interface TransitionRow {
  id: string;
  window_id: string;
  resource: string;
  kind: TransitionKind;
  due_at: Date;
  status: TransitionStatus;
  dry_run: boolean;
  fired_at: Date | null;
  finished_at: Date | null;
  error: string | null;
  covered_by?: string | null;
}
interface HoldJson {
  window_id: string;
  resource: string;
  kind: ResourceKind;
  amount: number;
  starts_at: string;
  ends_at: string;
  created_at: string;
  dry_run: boolean;
}
interface ExecutionRow {
  id: string;
  transition_id: string;
  resource: string;
  node: string;
  dry_run: boolean;
  status: Execution['status'];
  target: number | null;
  from_state: string | null;
  to_state: string | null;
  changed: boolean | null;
  error: string | null;
  details: Record<string, unknown> | null;
  started_at: Date;
  finished_at: Date | null;
}
interface AuditRow {
  id: number;
  at: Date;
  actor: string;
  source: string;
  action: string;
  target: string | null;
  outcome: string;
  execution_id: string | null;
  details: Record<string, unknown> | null;
}
interface ReaderRow {
  instance_id: string;
  resource: string;
  window_id: string | null;
  transition_id: string | null;
  requested_at: Date;
  status: string;
  checks: number;
  available_at: Date | null;
}

function toHold(r: HoldRow): Hold {
  return { resource: r.resource, kind: r.kind, amount: r.amount, from: r.starts_at, until: r.ends_at };
}

function toWindow(r: WindowRow, holds: HoldRow[]): CapacityWindow {
  return {
    id: r.id,
    name: r.name,
    status: r.status,
    dryRun: r.dry_run,
    createdBy: r.created_by,
    createdAt: r.created_at,
    cancelledAt: r.cancelled_at,
    origin: r.origin ?? undefined,
    holds: holds.map(toHold),
  };
}

function toTransition(r: TransitionRow): Transition {
  return {
    id: r.id,
    windowId: r.window_id,
    resource: r.resource,
    kind: r.kind,
    dueAt: r.due_at,
    status: r.status,
    dryRun: r.dry_run,
    firedAt: r.fired_at,
    finishedAt: r.finished_at,
    error: r.error,
    coveredBy: r.covered_by ?? null,
  };
}

function toExecution(r: ExecutionRow): Execution {
  return {
    id: r.id,
    transitionId: r.transition_id,
    resource: r.resource,
    node: r.node,
    dryRun: r.dry_run,
    status: r.status,
    target: r.target,
    fromState: r.from_state,
    toState: r.to_state,
    changed: r.changed,
    error: r.error,
    details: r.details,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
  };
}

function toReader(r: ReaderRow): ReaderRecord {
  return {
    instanceId: r.instance_id,
    resource: r.resource,
    windowId: r.window_id,
    transitionId: r.transition_id,
    requestedAt: r.requested_at,
    status: r.status,
    checks: r.checks,
    availableAt: r.available_at,
  };
}
