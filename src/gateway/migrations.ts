import type { MigrationModule } from '../store/migrations.ts';

/**
 * The gateway's inbox: every verified delivery of every source, unique by its delivery key, written before the
 * answer. It began as the chat module's `chat_inbox` (chat step 1 creates it), so this module must come after
 * `chat` in the host's list; step 1 renames it and makes it every source's.
 */
export const gatewayMigrations: MigrationModule = {
  module: 'gateway',
  steps: [
    // 1: source (the configured name), kind (slack, jandi, teams, generic, sns, events), type and subtype (what
    // handlers and relay routes match on), the relay's partition key, topics and mark. Claims walk one index per
    // source (fair claiming); expired leases and the relay backlog have their own small partial indexes.
    (s) => `
    ALTER TABLE ${s}.chat_inbox RENAME TO gateway_inbox;
    ALTER INDEX ${s}.chat_inbox_pkey RENAME TO gateway_inbox_pkey;
    ALTER TABLE ${s}.gateway_inbox RENAME COLUMN kind TO type;
    ALTER TABLE ${s}.gateway_inbox RENAME COLUMN platform TO kind;
    ALTER TABLE ${s}.gateway_inbox ADD COLUMN source text;
    UPDATE ${s}.gateway_inbox SET source = kind, type = CASE type WHEN 'event' THEN 'event_callback' ELSE type END;
    ALTER TABLE ${s}.gateway_inbox ALTER COLUMN source SET NOT NULL;
    ALTER TABLE ${s}.gateway_inbox ADD COLUMN subtype text, ADD COLUMN partition_key text, ADD COLUMN topics text[],
      ADD COLUMN relayed_at timestamptz;
    DROP INDEX ${s}.chat_inbox_open;
    CREATE INDEX gateway_inbox_claim ON ${s}.gateway_inbox (source, id) WHERE status = 'pending';
    CREATE INDEX gateway_inbox_leased ON ${s}.gateway_inbox (locked_until) WHERE status = 'processing';
    CREATE INDEX gateway_inbox_relay ON ${s}.gateway_inbox (id) WHERE topics IS NOT NULL AND relayed_at IS NULL;
  `,
    // 2: the Kafka relay. relay_attempts > 0 without relayed_at: a produce whose outcome is unknown (read the topic
    // back before sending again). Marks: per topic and partition, an offset at or before anything chronops may
    // have produced and not recorded (where a read-back starts). The lease: one relay at a time across servers,
    // so that a key's messages keep their order.
    (s) => `
    ALTER TABLE ${s}.gateway_inbox ADD COLUMN relay_attempts integer NOT NULL DEFAULT 0;
    CREATE TABLE ${s}.gateway_relay_marks (
      topic text NOT NULL,
      partition integer NOT NULL,
      from_offset bigint NOT NULL,
      PRIMARY KEY (topic, partition)
    );
    CREATE TABLE ${s}.gateway_relay_lease (
      id integer PRIMARY KEY,
      holder text NOT NULL,
      until timestamptz NOT NULL
    );
  `,
    // 3: the relay's attempts as one watermark: every delivery up to `attempted_through` (by id) not relayed yet may
    // have been produced (read back first). One row written per batch instead of a column of every delivery in it.
    // Deliveries an earlier relay marked by their relay_attempts are still read back.
    (s) => `
    CREATE TABLE ${s}.gateway_relay_state (
      id integer PRIMARY KEY,
      attempted_through bigint NOT NULL
    );
    INSERT INTO ${s}.gateway_relay_state (id, attempted_through) VALUES (1, 0);
  `,
  ],
};
