// Office-hours power's own tables (migrations.ts): exceptions, forced states, kept ECS values, the state of each
// resource and what each start or stop did. Thin: the rules are in schedule.ts, decide.ts and service.ts.
import type { Db } from '../../store/db.ts';
import type { Queryable } from '../../timers/port.ts';
import type { PowerValueStore } from './actions/port.ts';
import type { DayException, ForcedState, PowerState } from './model.ts';
import type { LocalDate } from './schedule.ts';

/** A forced state as stored: with where the command came from (to report there) and whether it was reported. */
export interface StoredForce extends ForcedState {
  schedule: string;
  origin: Record<string, unknown> | null;
  reportedAt: Date | null;
}

/** What chronops knows of one resource. */
export interface ResourceState {
  resource: string;
  /** The desired state last carried out (null: never yet). */
  applied: PowerState | null;
  appliedReason: string | null;
  appliedAt: Date | null;
  /** False while a start or stop it asked for is still under way (followed until it arrives). */
  settled: boolean;
  /** retainRunning: it was found running when its period began. */
  retained: boolean;
  /** Failed attempts in a row at the current transition. */
  failures: number;
  /** What AWS said last, and when. */
  seen: string | null;
  seenStatus: string | null;
  seenAt: Date | null;
  /** The pending due row on the timer loop, and its time. */
  nextAt: Date | null;
  nextTimer: string | null;
  lastError: string | null;
}

export interface PowerActionRecord {
  resource: string;
  at?: Date;
  want: PowerState;
  reason: string;
  from: string | null;
  to: string | null;
  changed: boolean;
  error: string | null;
  executionId: string | null;
  dryRun: boolean;
  details?: Record<string, unknown> | null;
}

interface StateRow {
  resource: string;
  applied: PowerState | null;
  applied_reason: string | null;
  applied_at: Date | null;
  settled: boolean;
  retained: boolean;
  failures: number;
  seen: string | null;
  seen_status: string | null;
  seen_at: Date | null;
  next_at: Date | null;
  next_timer: string | null;
  last_error: string | null;
}

function toState(r: StateRow): ResourceState {
  return {
    resource: r.resource,
    applied: r.applied,
    appliedReason: r.applied_reason,
    appliedAt: r.applied_at,
    settled: r.settled,
    retained: r.retained,
    failures: r.failures,
    seen: r.seen,
    seenStatus: r.seen_status,
    seenAt: r.seen_at,
    nextAt: r.next_at,
    nextTimer: r.next_timer,
    lastError: r.last_error,
  };
}

/** A resource nobody has acted on yet. */
export function freshState(resource: string): ResourceState {
  return {
    resource,
    applied: null,
    appliedReason: null,
    appliedAt: null,
    settled: true,
    retained: false,
    failures: 0,
    seen: null,
    seenStatus: null,
    seenAt: null,
    nextAt: null,
    nextTimer: null,
    lastError: null,
  };
}

export class PowerStore {
  readonly db: Db;
  private readonly s: string;

  constructor(db: Db, schema: string) {
    if (!/^[a-z_][a-z0-9_]{0,50}$/.test(schema)) throw new Error(`bad schema name ${schema}`);
    this.db = db;
    this.s = schema;
  }

  // ---- exceptions --------------------------------------------------------------------------------------------

  /** Exceptions by schedule, then by date. */
  async exceptions(schedules?: readonly string[]): Promise<Map<string, Map<LocalDate, DayException>>> {
    const rows = await this.db.query<{
      schedule: string;
      day: string;
      start_minute: number | null;
      stop_minute: number | null;
    }>(
      `SELECT schedule, to_char(day, 'YYYY-MM-DD') AS day, start_minute, stop_minute
       FROM ${this.s}.power_exceptions WHERE ($1::text[] IS NULL OR schedule = ANY($1::text[]))
       ORDER BY schedule, day`,
      [schedules ?? null],
    );
    const out = new Map<string, Map<LocalDate, DayException>>();
    for (const r of rows) {
      let m = out.get(r.schedule);
      if (!m) {
        m = new Map();
        out.set(r.schedule, m);
      }
      m.set(r.day, {
        date: r.day,
        ...(r.start_minute === null ? {} : { start: r.start_minute }),
        ...(r.stop_minute === null ? {} : { stop: r.stop_minute }),
      });
    }
    return out;
  }

  async setException(
    schedule: string,
    date: LocalDate,
    field: 'start' | 'stop',
    minutes: number,
    by: string,
  ): Promise<void> {
    const col = field === 'start' ? 'start_minute' : 'stop_minute';
    await this.db.query(
      `INSERT INTO ${this.s}.power_exceptions (schedule, day, ${col}, set_by) VALUES ($1, $2::date, $3, $4)
       ON CONFLICT (schedule, day) DO UPDATE SET ${col} = EXCLUDED.${col}, set_by = EXCLUDED.set_by,
         set_at = clock_timestamp()`,
      [schedule, date, minutes, by],
    );
  }

  /** Removes the start or stop of a day's exception; false when there was none. */
  async deleteException(schedule: string, date: LocalDate, field: 'start' | 'stop'): Promise<boolean> {
    const col = field === 'start' ? 'start_minute' : 'stop_minute';
    return this.db.transaction(async (tx) => {
      const rows = await tx.query(
        `UPDATE ${this.s}.power_exceptions SET ${col} = NULL
         WHERE schedule = $1 AND day = $2::date AND ${col} IS NOT NULL RETURNING 1`,
        [schedule, date],
      );
      await tx.query(
        `DELETE FROM ${this.s}.power_exceptions
         WHERE schedule = $1 AND day = $2::date AND start_minute IS NULL AND stop_minute IS NULL`,
        [schedule, date],
      );
      return rows.length > 0;
    });
  }

  // ---- forced states -----------------------------------------------------------------------------------------

  async forced(schedules?: readonly string[]): Promise<Map<string, StoredForce>> {
    const rows = await this.db.query<{
      schedule: string;
      state: PowerState;
      at: Date;
      until: Date | null;
      forced_by: string;
      origin: Record<string, unknown> | null;
      reported_at: Date | null;
    }>(
      `SELECT schedule, state, at, until, forced_by, origin, reported_at FROM ${this.s}.power_forced
       WHERE ($1::text[] IS NULL OR schedule = ANY($1::text[]))`,
      [schedules ?? null],
    );
    return new Map(
      rows.map((r) => [
        r.schedule,
        {
          schedule: r.schedule,
          state: r.state,
          at: r.at,
          until: r.until,
          by: r.forced_by,
          origin: r.origin,
          reportedAt: r.reported_at,
        },
      ]),
    );
  }

  async setForced(
    schedule: string,
    force: ForcedState,
    origin: Record<string, unknown> | null,
  ): Promise<void> {
    await this.db.query(
      `INSERT INTO ${this.s}.power_forced (schedule, state, at, until, forced_by, origin)
       VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (schedule) DO UPDATE SET state = EXCLUDED.state, at = EXCLUDED.at, until = EXCLUDED.until,
         forced_by = EXCLUDED.forced_by, origin = EXCLUDED.origin, reported_at = NULL`,
      [schedule, force.state, force.at, force.until, force.by, origin],
    );
  }

  /** Marks a force reported; false when it was already (another server did it) or replaced since. */
  async markForceReported(schedule: string, at: Date): Promise<boolean> {
    const rows = await this.db.query(
      `UPDATE ${this.s}.power_forced SET reported_at = clock_timestamp()
       WHERE schedule = $1 AND at = $2 AND reported_at IS NULL RETURNING 1`,
      [schedule, at],
    );
    return rows.length > 0;
  }

  // ---- kept ECS values (the PowerValueStore port) ---------------------------------------------------------------

  readonly values: PowerValueStore = {
    get: async (resource) => {
      const rows = await this.db.query<{ value: Record<string, unknown> }>(
        `SELECT value FROM ${this.s}.power_values WHERE resource = $1`,
        [resource],
      );
      return rows[0]?.value ?? null;
    },
    put: async (resource, value) => {
      await this.db.query(
        `INSERT INTO ${this.s}.power_values (resource, value) VALUES ($1, $2)
         ON CONFLICT (resource) DO UPDATE SET value = EXCLUDED.value, kept_at = clock_timestamp()`,
        [resource, value],
      );
    },
    clear: async (resource) => {
      await this.db.query(`DELETE FROM ${this.s}.power_values WHERE resource = $1`, [resource]);
    },
  };

  // ---- resource state ----------------------------------------------------------------------------------------

  async states(resources?: readonly string[]): Promise<Map<string, ResourceState>> {
    const rows = await this.db.query<StateRow>(
      `SELECT resource, applied, applied_reason, applied_at, settled, retained, failures, seen, seen_status,
              seen_at, next_at, next_timer, last_error
       FROM ${this.s}.power_state WHERE ($1::text[] IS NULL OR resource = ANY($1::text[]))`,
      [resources ?? null],
    );
    return new Map(rows.map((r) => [r.resource, toState(r)]));
  }

  /** Writes the states and action records of one run (inside the run's transaction). */
  async writeRun(
    q: Queryable,
    states: readonly ResourceState[],
    actions: readonly PowerActionRecord[],
  ): Promise<void> {
    if (states.length > 0) {
      await q.query(
        `INSERT INTO ${this.s}.power_state AS p (resource, applied, applied_reason, applied_at, settled, retained,
           failures, seen, seen_status, seen_at, next_at, next_timer, last_error, updated_at)
         SELECT x.resource, x.applied, x.applied_reason, x.applied_at, x.settled, x.retained, x.failures, x.seen,
                x.seen_status, x.seen_at, x.next_at, x.next_timer, x.last_error, clock_timestamp()
         FROM jsonb_to_recordset($1::jsonb) AS x(resource text, applied text, applied_reason text,
           applied_at timestamptz, settled boolean, retained boolean, failures integer, seen text, seen_status text,
           seen_at timestamptz, next_at timestamptz, next_timer uuid, last_error text)
         ON CONFLICT (resource) DO UPDATE SET applied = EXCLUDED.applied, applied_reason = EXCLUDED.applied_reason,
           applied_at = EXCLUDED.applied_at, settled = EXCLUDED.settled, retained = EXCLUDED.retained,
           failures = EXCLUDED.failures, seen = EXCLUDED.seen, seen_status = EXCLUDED.seen_status,
           seen_at = EXCLUDED.seen_at, next_at = EXCLUDED.next_at, next_timer = EXCLUDED.next_timer,
           last_error = EXCLUDED.last_error, updated_at = EXCLUDED.updated_at`,
        [
          JSON.stringify(
            states.map((s) => ({
              resource: s.resource,
              applied: s.applied,
              applied_reason: s.appliedReason,
              applied_at: s.appliedAt?.toISOString() ?? null,
              settled: s.settled,
              retained: s.retained,
              failures: s.failures,
              seen: s.seen,
              seen_status: s.seenStatus,
              seen_at: s.seenAt?.toISOString() ?? null,
              next_at: s.nextAt?.toISOString() ?? null,
              next_timer: s.nextTimer,
              last_error: s.lastError,
            })),
          ),
        ],
      );
    }
    if (actions.length > 0) {
      await q.query(
        `INSERT INTO ${this.s}.power_actions (resource, at, want, reason, from_status, to_status, changed, error,
           execution_id, dry_run, details)
         SELECT x.resource, coalesce(x.at, clock_timestamp()), x.want, x.reason, x.from_status, x.to_status,
                x.changed, x.error, x.execution_id, x.dry_run, x.details
         FROM jsonb_to_recordset($1::jsonb) AS x(resource text, at timestamptz, want text, reason text,
           from_status text, to_status text, changed boolean, error text, execution_id uuid, dry_run boolean,
           details jsonb)`,
        [
          JSON.stringify(
            actions.map((a) => ({
              resource: a.resource,
              at: a.at?.toISOString() ?? null,
              want: a.want,
              reason: a.reason,
              from_status: a.from,
              to_status: a.to,
              changed: a.changed,
              error: a.error,
              execution_id: a.executionId,
              dry_run: a.dryRun,
              details: a.details ?? null,
            })),
          ),
        ],
      );
    }
  }

  async recordActions(actions: readonly PowerActionRecord[]): Promise<void> {
    await this.writeRun(this.db, [], actions);
  }

  async actions(
    options: { resources?: readonly string[]; limit?: number } = {},
  ): Promise<PowerActionRecord[]> {
    const rows = await this.db.query<{
      resource: string;
      at: Date;
      want: PowerState;
      reason: string;
      from_status: string | null;
      to_status: string | null;
      changed: boolean;
      error: string | null;
      execution_id: string | null;
      dry_run: boolean;
      details: Record<string, unknown> | null;
    }>(
      `SELECT resource, at, want, reason, from_status, to_status, changed, error, execution_id, dry_run, details
       FROM ${this.s}.power_actions WHERE ($1::text[] IS NULL OR resource = ANY($1::text[]))
       ORDER BY id DESC LIMIT $2`,
      [options.resources ?? null, options.limit ?? 100],
    );
    return rows.map((r) => ({
      resource: r.resource,
      at: r.at,
      want: r.want,
      reason: r.reason,
      from: r.from_status,
      to: r.to_status,
      changed: r.changed,
      error: r.error,
      executionId: r.execution_id,
      dryRun: r.dry_run,
      details: r.details,
    }));
  }

  /**
   * Resources (of `resources`) without a due row on the timer loop: never scheduled, or their row was lost
   * (a database restored from before). The timer table is the loop's; only read here.
   */
  async unscheduled(resources: readonly string[], kind: string): Promise<string[]> {
    const rows = await this.db.query<{ r: string }>(
      `SELECT r FROM unnest($1::text[]) AS r
       LEFT JOIN ${this.s}.power_state p ON p.resource = r
       WHERE p.next_timer IS NULL OR NOT EXISTS (
         SELECT 1 FROM ${this.s}.timers t
         WHERE t.id = p.next_timer AND t.kind = $2 AND t.status IN ('pending', 'fired'))`,
      [resources, kind],
    );
    return rows.map((x) => x.r);
  }
}
