import type { MigrationModule } from '../../store/migrations.ts';

/**
 * Event rules' table: one row per action a rule ran for one delivery (its id is derived from the delivery, the
 * rule and the action, so a redelivery finds the row instead of acting twice).
 */
export const rulesMigrations: MigrationModule = {
  module: 'rules',
  steps: [
    (s) => `
    CREATE TABLE ${s}.rule_runs (
      id text PRIMARY KEY,
      rule text NOT NULL,
      action_index integer NOT NULL,
      kind text NOT NULL,
      delivery_key text NOT NULL,
      source text NOT NULL,
      event_summary text NOT NULL,
      event jsonb,
      origin jsonb,
      dry_run boolean NOT NULL,
      status text NOT NULL,
      outcome text,
      attempts integer NOT NULL DEFAULT 1,
      cluster text,
      region text,
      task_arn text,
      task_definition_arn text,
      report_to text,
      created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      started_at timestamptz,
      task_started_at timestamptz,
      stopped_at timestamptz,
      finished_at timestamptz,
      containers jsonb,
      stop_code text,
      stopped_reason text,
      error text,
      details jsonb
    );
    CREATE UNIQUE INDEX rule_runs_task ON ${s}.rule_runs (task_arn) WHERE task_arn IS NOT NULL;
    CREATE INDEX rule_runs_created ON ${s}.rule_runs (created_at DESC);
    CREATE INDEX rule_runs_rule ON ${s}.rule_runs (rule, created_at DESC);
    CREATE INDEX rule_runs_open ON ${s}.rule_runs (status) WHERE status IN ('starting', 'running');
  `,
  ],
};
