import type { MigrationModule } from '../../store/migrations.ts';

/**
 * Office-hours power's tables:
 * - `power_exceptions`: dated exceptions (`exception set <date> <start|stop> <h:m>`), one row per schedule and day;
 * - `power_forced`: `force_start` / `force_stop` of a schedule until its next transition, with where to report;
 * - `power_values`: what a stopped ECS service is started with again (desired count, scalable target min/max);
 * - `power_state`: per resource, the desired state chronops last carried out, what AWS said last, and the id of
 *   its pending due row on the timer loop;
 * - `power_actions`: what each start or stop did (the page, `status`, the report of a force).
 */
export const powerMigrations: MigrationModule = {
  module: 'power',
  steps: [
    (s) => `
    CREATE TABLE ${s}.power_exceptions (
      schedule text NOT NULL,
      day date NOT NULL,
      start_minute integer,
      stop_minute integer,
      set_by text NOT NULL,
      set_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      PRIMARY KEY (schedule, day)
    );
    CREATE TABLE ${s}.power_forced (
      schedule text PRIMARY KEY,
      state text NOT NULL,
      at timestamptz NOT NULL,
      until timestamptz,
      forced_by text NOT NULL,
      origin jsonb,
      reported_at timestamptz
    );
    CREATE TABLE ${s}.power_values (
      resource text PRIMARY KEY,
      value jsonb NOT NULL,
      kept_at timestamptz NOT NULL DEFAULT clock_timestamp()
    );
    CREATE TABLE ${s}.power_state (
      resource text PRIMARY KEY,
      applied text,
      applied_reason text,
      applied_at timestamptz,
      settled boolean NOT NULL DEFAULT true,
      retained boolean NOT NULL DEFAULT false,
      failures integer NOT NULL DEFAULT 0,
      seen text,
      seen_status text,
      seen_at timestamptz,
      next_at timestamptz,
      next_timer uuid,
      last_error text,
      updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
    );
    CREATE TABLE ${s}.power_actions (
      id bigserial PRIMARY KEY,
      resource text NOT NULL,
      at timestamptz NOT NULL DEFAULT clock_timestamp(),
      want text NOT NULL,
      reason text NOT NULL,
      from_status text,
      to_status text,
      changed boolean NOT NULL,
      error text,
      execution_id uuid,
      dry_run boolean NOT NULL DEFAULT false,
      details jsonb
    );
    CREATE INDEX power_actions_resource ON ${s}.power_actions (resource, at DESC);
  `,
  ],
};
