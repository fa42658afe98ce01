import type { MigrationModule } from '../../store/migrations.ts';

/**
 * HTTP jobs' tables. `jobs`: one row per job (from the config file or the API) with its next due time, which is
 * what a fire of the timer loop reads — one timer row per distinct due time, whatever the number of jobs due then
 * (src/capabilities/jobs/service.ts). `job_runs`: one row per run (a scheduled run's id is derived from the job and
 * its due time, so a second fire finds it), its attempts and its result.
 */
export const jobsMigrations: MigrationModule = {
  module: 'jobs',
  steps: [
    (s) => `
    CREATE TABLE ${s}.jobs (
      name text PRIMARY KEY,
      spec jsonb NOT NULL,
      origin text NOT NULL,
      paused boolean NOT NULL DEFAULT false,
      next_due_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
    );
    CREATE INDEX jobs_next ON ${s}.jobs (next_due_at) WHERE NOT paused;
    CREATE TABLE ${s}.job_runs (
      id uuid PRIMARY KEY,
      job text NOT NULL,
      due_at timestamptz NOT NULL,
      trigger text NOT NULL,
      actor text,
      status text NOT NULL,
      attempt integer NOT NULL DEFAULT 0,
      tick uuid,
      node text,
      created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      started_at timestamptz,
      sent_at timestamptz,
      finished_at timestamptz,
      next_attempt_at timestamptz,
      duration_ms integer,
      http_status integer,
      summary text,
      result jsonb,
      body text,
      attempts jsonb NOT NULL DEFAULT '[]'::jsonb,
      token_hash text,
      deadline_at timestamptz,
      progress real,
      progress_message text
    );
    CREATE INDEX job_runs_job ON ${s}.job_runs (job, due_at DESC);
    CREATE INDEX job_runs_created ON ${s}.job_runs (created_at DESC);
    CREATE INDEX job_runs_open ON ${s}.job_runs (job) WHERE status IN ('queued', 'running', 'retrying', 'waiting');
    CREATE INDEX job_runs_tick ON ${s}.job_runs (tick) WHERE tick IS NOT NULL;
  `,
  ],
};
