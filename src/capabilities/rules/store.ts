// Every read and write of the rules capability's table (rule_runs). SQL lives here only.

import type { Db } from '../../store/db.ts';
import type { ActionKind } from './model.ts';
import type { ChatOrigin } from './ports.ts';

export const RUN_STATUSES = ['starting', 'running', 'stopped', 'done', 'failed', 'dry-run'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
/** `ok`; `alert` (a task exited non-zero, failed to start); `failed` (the action itself failed). */
export type RunOutcome = 'ok' | 'alert' | 'failed';

export interface ContainerExit {
  name: string;
  exitCode?: number;
  reason?: string;
}

export interface RunRecord {
  id: string;
  rule: string;
  actionIndex: number;
  kind: ActionKind;
  deliveryKey: string;
  source: string;
  eventSummary: string;
  event: Record<string, unknown> | null;
  origin: ChatOrigin | null;
  dryRun: boolean;
  status: RunStatus;
  outcome: RunOutcome | null;
  attempts: number;
  cluster: string | null;
  region: string | null;
  taskArn: string | null;
  taskDefinitionArn: string | null;
  reportTo: string | null;
  createdAt: Date;
  startedAt: Date | null;
  taskStartedAt: Date | null;
  stoppedAt: Date | null;
  finishedAt: Date | null;
  containers: ContainerExit[] | null;
  stopCode: string | null;
  stoppedReason: string | null;
  error: string | null;
  details: Record<string, unknown> | null;
}

export interface NewRun {
  id: string;
  rule: string;
  actionIndex: number;
  kind: ActionKind;
  deliveryKey: string;
  source: string;
  eventSummary: string;
  event: Record<string, unknown>;
  origin?: ChatOrigin | null;
  dryRun: boolean;
  reportTo?: string | null;
}

/** What finishing an action records (all optional: only what the action knows). */
export interface RunUpdate {
  status: RunStatus;
  outcome?: RunOutcome | null;
  cluster?: string;
  region?: string;
  taskArn?: string;
  taskDefinitionArn?: string;
  error?: string | null;
  details?: Record<string, unknown>;
}

export interface StopRecord {
  outcome: RunOutcome;
  taskStartedAt: Date | null;
  stoppedAt: Date;
  containers: ContainerExit[];
  stopCode: string | null;
  stoppedReason: string | null;
}

const COLS = `id, rule, action_index, kind, delivery_key, source, event_summary, event, origin, dry_run, status,
  outcome, attempts, cluster, region, task_arn, task_definition_arn, report_to, created_at, started_at,
  task_started_at, stopped_at, finished_at, containers, stop_code, stopped_reason, error, details`;

export class RulesStore {
  readonly #db: Db;
  readonly #s: string;

  constructor(db: Db, schema = 'chronops') {
    this.#db = db;
    this.#s = schema;
  }

  /**
   * Records that a run begins, or finds it when this delivery already ran it: `fresh` is true only for the first
   * attempt. A later attempt of an unfinished run (status `starting`) counts one more attempt.
   */
  async begin(run: NewRun): Promise<{ run: RunRecord; fresh: boolean }> {
    const rows = await this.#db.query<Row & { fresh: boolean }>(
      `INSERT INTO ${this.#s}.rule_runs (id, rule, action_index, kind, delivery_key, source, event_summary, event,
         origin, dry_run, status, report_to, started_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9::jsonb, $10, 'starting', $11, clock_timestamp())
       ON CONFLICT (id) DO UPDATE SET attempts = ${this.#s}.rule_runs.attempts +
         CASE WHEN ${this.#s}.rule_runs.status = 'starting' THEN 1 ELSE 0 END
       RETURNING ${COLS}, (xmax = 0) AS fresh`,
      [
        run.id,
        run.rule,
        run.actionIndex,
        run.kind,
        run.deliveryKey,
        run.source,
        run.eventSummary,
        JSON.stringify(run.event),
        run.origin ? JSON.stringify(run.origin) : null,
        run.dryRun,
        run.reportTo ?? null,
      ],
    );
    const row = rows[0]!;
    return { run: toRun(row), fresh: row.fresh };
  }

  /** Records how an action ended (or that its task is now running). */
  async finish(id: string, update: RunUpdate): Promise<RunRecord> {
    const final = update.status !== 'running' && update.status !== 'starting';
    const rows = await this.#db.query<Row>(
      `UPDATE ${this.#s}.rule_runs SET status = $2, outcome = COALESCE($3, outcome), cluster = COALESCE($4, cluster),
         region = COALESCE($5, region), task_arn = COALESCE($6, task_arn),
         task_definition_arn = COALESCE($7, task_definition_arn), error = $8,
         details = COALESCE(details, '{}'::jsonb) || COALESCE($9::jsonb, '{}'::jsonb),
         finished_at = CASE WHEN $10 THEN clock_timestamp() ELSE finished_at END
       WHERE id = $1 RETURNING ${COLS}`,
      [
        id,
        update.status,
        update.outcome ?? null,
        update.cluster ?? null,
        update.region ?? null,
        update.taskArn ?? null,
        update.taskDefinitionArn ?? null,
        update.error ?? null,
        update.details ? JSON.stringify(update.details) : null,
        final,
      ],
    );
    if (!rows[0]) throw new Error(`rule run ${id} not found`);
    return toRun(rows[0]);
  }

  async byTaskArn(taskArn: string): Promise<RunRecord | undefined> {
    const rows = await this.#db.query<Row>(`SELECT ${COLS} FROM ${this.#s}.rule_runs WHERE task_arn = $1`, [
      taskArn,
    ]);
    return rows[0] ? toRun(rows[0]) : undefined;
  }

  async get(id: string): Promise<RunRecord | undefined> {
    const rows = await this.#db.query<Row>(`SELECT ${COLS} FROM ${this.#s}.rule_runs WHERE id = $1`, [id]);
    return rows[0] ? toRun(rows[0]) : undefined;
  }

  /**
   * Records the task's STOPPED event on its run. Returns the run only the first time (a STOPPED event can come
   * more than once): the caller reports exactly when it gets one back.
   */
  async stopped(id: string, stop: StopRecord): Promise<RunRecord | undefined> {
    const rows = await this.#db.query<Row>(
      `UPDATE ${this.#s}.rule_runs SET status = 'stopped', outcome = $2, task_started_at = $3, stopped_at = $4,
         containers = $5::jsonb, stop_code = $6, stopped_reason = $7, finished_at = clock_timestamp()
       WHERE id = $1 AND stopped_at IS NULL RETURNING ${COLS}`,
      [
        id,
        stop.outcome,
        stop.taskStartedAt?.toISOString() ?? null,
        stop.stoppedAt.toISOString(),
        JSON.stringify(stop.containers),
        stop.stopCode,
        stop.stoppedReason,
      ],
    );
    return rows[0] ? toRun(rows[0]) : undefined;
  }

  /** Newest first. */
  async list(options: { rule?: string; limit?: number } = {}): Promise<RunRecord[]> {
    const limit = Math.min(Math.max(options.limit ?? 50, 1), 500);
    const rows = options.rule
      ? await this.#db.query<Row>(
          `SELECT ${COLS} FROM ${this.#s}.rule_runs WHERE rule = $1 ORDER BY created_at DESC, id LIMIT $2`,
          [options.rule, limit],
        )
      : await this.#db.query<Row>(
          `SELECT ${COLS} FROM ${this.#s}.rule_runs ORDER BY created_at DESC, id LIMIT $1`,
          [limit],
        );
    return rows.map(toRun);
  }
}

interface Row {
  id: string;
  rule: string;
  action_index: number;
  kind: ActionKind;
  delivery_key: string;
  source: string;
  event_summary: string;
  event: Record<string, unknown> | null;
  origin: ChatOrigin | null;
  dry_run: boolean;
  status: RunStatus;
  outcome: RunOutcome | null;
  attempts: number;
  cluster: string | null;
  region: string | null;
  task_arn: string | null;
  task_definition_arn: string | null;
  report_to: string | null;
  created_at: Date | string;
  started_at: Date | string | null;
  task_started_at: Date | string | null;
  stopped_at: Date | string | null;
  finished_at: Date | string | null;
  containers: ContainerExit[] | null;
  stop_code: string | null;
  stopped_reason: string | null;
  error: string | null;
  details: Record<string, unknown> | null;
}

const date = (v: Date | string | null): Date | null => (v === null ? null : new Date(v));

function toRun(r: Row): RunRecord {
  return {
    id: r.id,
    rule: r.rule,
    actionIndex: r.action_index,
    kind: r.kind,
    deliveryKey: r.delivery_key,
    source: r.source,
    eventSummary: r.event_summary,
    event: r.event,
    origin: r.origin,
    dryRun: r.dry_run,
    status: r.status,
    outcome: r.outcome,
    attempts: r.attempts,
    cluster: r.cluster,
    region: r.region,
    taskArn: r.task_arn,
    taskDefinitionArn: r.task_definition_arn,
    reportTo: r.report_to,
    createdAt: new Date(r.created_at),
    startedAt: date(r.started_at),
    taskStartedAt: date(r.task_started_at),
    stoppedAt: date(r.stopped_at),
    finishedAt: date(r.finished_at),
    containers: r.containers,
    stopCode: r.stop_code,
    stoppedReason: r.stopped_reason,
    error: r.error,
    details: r.details,
  };
}
