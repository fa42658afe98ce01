import type { Db } from './db.ts';

/**
 * chronops' own tables, in their own schema (pg-boss keeps its queues in `<schema>_boss`). Migrations are
 * applied in order, once, under an advisory lock so that several servers starting together do not race.
 */
const migrations: Array<(s: string) => string> = [
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
  // 2: chat. The inbox holds every verified webhook, unique by its delivery key, written before the 200; the
  // outbox holds every message to post or update, unique by its key, so that nothing is posted twice. A window
  // created from chat carries its event's key in its origin: one window per event, whatever the redeliveries.
  (s) => `
    CREATE TABLE ${s}.chat_inbox (
      key text PRIMARY KEY,
      id bigserial NOT NULL,
      platform text NOT NULL,
      kind text NOT NULL,
      body text NOT NULL,
      retry_num integer,
      received_at timestamptz NOT NULL DEFAULT now(),
      status text NOT NULL DEFAULT 'pending',
      attempts integer NOT NULL DEFAULT 0,
      next_at timestamptz NOT NULL DEFAULT now(),
      locked_by text,
      locked_until timestamptz,
      finished_at timestamptz,
      error text
    );
    CREATE INDEX chat_inbox_open ON ${s}.chat_inbox (id) WHERE status IN ('pending', 'processing');
    CREATE TABLE ${s}.chat_outbox (
      id bigserial PRIMARY KEY,
      seq bigserial NOT NULL,
      key text NOT NULL UNIQUE,
      platform text NOT NULL,
      op text NOT NULL,
      role text NOT NULL,
      channel text NOT NULL,
      thread_ts text,
      target_ts text,
      window_id text,
      event_key text,
      after_key text,
      text text NOT NULL,
      blocks jsonb,
      status text NOT NULL,
      attempts integer NOT NULL DEFAULT 0,
      uncertain boolean NOT NULL DEFAULT false,
      next_at timestamptz NOT NULL DEFAULT now(),
      locked_by text,
      locked_until timestamptz,
      ts text,
      created_at timestamptz NOT NULL DEFAULT now(),
      done_at timestamptz,
      error text
    );
    CREATE INDEX chat_outbox_open ON ${s}.chat_outbox (channel, seq) WHERE status IN ('pending', 'held');
    CREATE INDEX chat_outbox_window ON ${s}.chat_outbox (window_id, role) WHERE window_id IS NOT NULL;
    CREATE INDEX chat_outbox_event ON ${s}.chat_outbox (event_key) WHERE event_key IS NOT NULL;
    CREATE UNIQUE INDEX windows_origin_event ON ${s}.windows ((origin #>> '{chat,eventKey}'))
      WHERE origin #>> '{chat,eventKey}' IS NOT NULL;
  `,
];

export async function migrate(db: Db, schema: string): Promise<void> {
  if (!/^[a-z_][a-z0-9_]{0,50}$/.test(schema)) throw new Error(`bad schema name ${schema}`);
  await db.transaction(async (tx) => {
    await tx.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [`chronops-migrate:${schema}`]);
    await tx.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await tx.query(
      `CREATE TABLE IF NOT EXISTS ${schema}.migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const rows = await tx.query<{ v: number | null }>(`SELECT max(version) AS v FROM ${schema}.migrations`);
    const current = rows[0]?.v ?? 0;
    for (let version = current + 1; version <= migrations.length; version++) {
      for (const statement of splitStatements(migrations[version - 1]!(schema))) await tx.query(statement);
      await tx.query(`INSERT INTO ${schema}.migrations (version) VALUES ($1)`, [version]);
    }
  });
}

function splitStatements(sql: string): string[] {
  return sql
    .split(/;\s*\n/)
    .map((s) => s.trim())
    .filter(Boolean);
}
