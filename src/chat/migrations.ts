import type { MigrationModule } from '../store/migrations.ts';

/** The chat inbox and outbox tables. */
export const chatMigrations: MigrationModule = {
  module: 'chat',
  steps: [
    // 1: the inbox holds every verified webhook, unique by its delivery key, written before the 200; the
    // outbox holds every message to post or update, unique by its key, so that nothing is posted twice.
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
  `,
    // 2: a command's answers held behind it are released by its key when it finishes (ChatStore.finishInbox, once
    // per command): without an index that was a scan of the whole outbox per command, growing with every reply.
    (s) => `CREATE INDEX chat_outbox_held ON ${s}.chat_outbox (after_key) WHERE status = 'held';`,
    // 3: each claim of an outbox row gets its own token: a sender's attempt and what it records afterwards count
    // only while the row is still its claim (another server may have taken it over: ChatStore.markAttempt).
    (s) => `ALTER TABLE ${s}.chat_outbox ADD COLUMN claim uuid;`,
  ],
};
