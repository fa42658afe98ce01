import type { MigrationModule } from '../store/migrations.ts';

/** The outbox of every destination: the chat outbox (module `chat`) grown to named destinations and notifications. */
export const notifyMigrations: MigrationModule = {
  module: 'notify',
  steps: [
    // 1: a message may go to a named destination (a Teams, Slack or JANDI webhook, a Slack channel) and carry a
    // platform-neutral notification, rendered per destination at send time. `notify_lanes` remembers when each
    // lane (a Slack channel, a webhook) was last called, so that its pace holds across servers.
    (s) => `
    ALTER TABLE ${s}.chat_outbox ADD COLUMN destination text, ADD COLUMN notification jsonb;
    CREATE TABLE ${s}.notify_lanes (
      lane text PRIMARY KEY,
      last_at timestamptz NOT NULL
    );
  `,
  ],
};
