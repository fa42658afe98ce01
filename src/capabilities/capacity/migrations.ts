import type { MigrationModule } from '../../store/migrations.ts';

/** Capacity windows' tables: windows, their holds and transitions, executions, baselines, readers, audit. */
export const capacityMigrations: MigrationModule = {
  module: 'capacity',
  steps: [
    (s) => `
    CREATE TABLE ${s}.windows (
      id text PRIMARY KEY,
      name text NOT NULL,
      status text NOT NULL,
      dry_run boolean NOT NULL,
      created_by text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      cancelled_at timestamptz,
      origin jsonb
    );
    CREATE INDEX windows_status ON ${s}.windows (status, created_at);
    CREATE TABLE ${s}.holds (
      window_id text NOT NULL REFERENCES ${s}.windows (id),
      resource text NOT NULL,
      kind text NOT NULL,
      amount integer NOT NULL,
      starts_at timestamptz NOT NULL,
      ends_at timestamptz NOT NULL,
      missed boolean NOT NULL DEFAULT false,
      PRIMARY KEY (window_id, resource)
    );
    CREATE INDEX holds_resource ON ${s}.holds (resource, ends_at);
    CREATE TABLE ${s}.transitions (
      id uuid PRIMARY KEY,
      window_id text NOT NULL REFERENCES ${s}.windows (id),
      resource text NOT NULL,
      kind text NOT NULL,
      due_at timestamptz NOT NULL,
      status text NOT NULL,
      dry_run boolean NOT NULL,
      fired_at timestamptz,
      fired_by text,
      finished_at timestamptz,
      error text,
      covered_by uuid
    );
    CREATE INDEX transitions_pending ON ${s}.transitions (due_at) WHERE status = 'pending';
    CREATE INDEX transitions_fired ON ${s}.transitions (resource, due_at) WHERE status IN ('fired', 'failed');
    CREATE INDEX transitions_window ON ${s}.transitions (window_id);
    CREATE TABLE ${s}.executions (
      id uuid PRIMARY KEY,
      transition_id uuid NOT NULL REFERENCES ${s}.transitions (id),
      resource text NOT NULL,
      node text NOT NULL,
      dry_run boolean NOT NULL,
      status text NOT NULL,
      target integer,
      from_state text,
      to_state text,
      changed boolean,
      error text,
      details jsonb,
      started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      finished_at timestamptz
    );
    CREATE INDEX executions_transition ON ${s}.executions (transition_id);
    CREATE INDEX executions_started ON ${s}.executions (started_at DESC);
    CREATE TABLE ${s}.audit (
      id bigserial PRIMARY KEY,
      at timestamptz NOT NULL DEFAULT clock_timestamp(),
      actor text NOT NULL,
      source text NOT NULL,
      action text NOT NULL,
      target text,
      outcome text NOT NULL,
      execution_id uuid,
      details jsonb
    );
    CREATE INDEX audit_at ON ${s}.audit (at DESC);
    CREATE INDEX audit_actor ON ${s}.audit (actor, at DESC);
    CREATE TABLE ${s}.baselines (
      resource text PRIMARY KEY,
      value jsonb NOT NULL,
      captured_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE ${s}.readers (
      instance_id text PRIMARY KEY,
      resource text NOT NULL,
      window_id text,
      transition_id uuid,
      requested_at timestamptz NOT NULL,
      status text NOT NULL,
      checks integer NOT NULL DEFAULT 0,
      available_at timestamptz,
      last_checked_at timestamptz
    );
  `,
    // 2: a window created from chat carries its event's key in its origin: one window per event, whatever the
    // redeliveries. (IF NOT EXISTS: databases from before per-module migrations have it already.)
    (s) => `
    CREATE UNIQUE INDEX IF NOT EXISTS windows_origin_event ON ${s}.windows ((origin #>> '{chat,eventKey}'))
      WHERE origin #>> '{chat,eventKey}' IS NOT NULL;
  `,
    // 3: the state a transition's resource was in when a converge for it first looked, before any change: an
    // attempt killed after its calls leaves it, and the attempt that finishes reports the change from there.
    (s) => `
    ALTER TABLE ${s}.transitions ADD COLUMN IF NOT EXISTS first_seen text;
  `,
  ],
};
