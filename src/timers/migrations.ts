import type { MigrationModule } from '../store/migrations.ts';

/** The timer loop's tables: due rows, the keys with work handed out, and the servers' leases. */
export const timersMigrations: MigrationModule = {
  module: 'timers',
  steps: [
    // 1: `timers` holds every due row of every capability (pending until claimed; fired while its job runs).
    // `timer_keys` has one row per (kind, key) with work handed out: the claim inserts it with the job it sends
    // to pg-boss, so a key never has two jobs (no pg-boss singleton policy is needed); `node` is the server
    // running the job, so that the work of a server whose lease ran out can be given to another. `nodes` are the
    // servers' leases.
    (s) => `
    CREATE TABLE ${s}.timers (
      id uuid PRIMARY KEY,
      kind text NOT NULL,
      key text NOT NULL,
      due_at timestamptz NOT NULL,
      payload jsonb NOT NULL DEFAULT '{}'::jsonb,
      dedupe text,
      status text NOT NULL DEFAULT 'pending',
      created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      fired_at timestamptz,
      fired_by text,
      finished_at timestamptz,
      error text
    );
    CREATE UNIQUE INDEX timers_dedupe ON ${s}.timers (kind, dedupe) WHERE dedupe IS NOT NULL;
    CREATE INDEX timers_due ON ${s}.timers (due_at) WHERE status = 'pending';
    CREATE INDEX timers_key ON ${s}.timers (kind, key) WHERE status IN ('pending', 'fired');
    CREATE INDEX timers_finished ON ${s}.timers (finished_at) WHERE finished_at IS NOT NULL;
    CREATE TABLE ${s}.timer_keys (
      kind text NOT NULL,
      key text NOT NULL,
      job_id uuid NOT NULL UNIQUE,
      node text,
      attempt integer,
      claimed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      started_at timestamptz,
      takeovers integer NOT NULL DEFAULT 0,
      PRIMARY KEY (kind, key)
    );
    CREATE INDEX timer_keys_node ON ${s}.timer_keys (node) WHERE node IS NOT NULL;
    CREATE TABLE ${s}.nodes (
      node text PRIMARY KEY,
      started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      seen_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      lease_until timestamptz NOT NULL
    );
  `,
  ],
};
