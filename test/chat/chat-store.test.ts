// The housekeeping of the chat outbox and the gateway's inbox: what prune deletes and what it keeps. (Storing
// webhooks is tested in test/gateway/inbox-store.test.ts.)
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ChatStore } from '../../src/chat/chat-store.ts';
import { InboxStore } from '../../src/gateway/inbox-store.ts';
import { migrationModules } from '../../src/hosts/modules.ts';
import { migrate } from '../../src/store/migrations.ts';
import type { PgliteDb } from '../../src/store/pglite-db.ts';
import { memoryPglite } from '../support/pglite.ts';

describe('ChatStore.prune', () => {
  let db: PgliteDb;
  let store: ChatStore;
  let inbox: InboxStore;

  before(async () => {
    db = await memoryPglite();
    await migrate(db, 'chronops', migrationModules);
    store = new ChatStore(db, 'chronops');
    inbox = new InboxStore(db, 'chronops');
  });
  after(async () => {
    await db.close();
  });

  it('deletes old handled deliveries and old sent messages, keeps open work and the plans of live windows', async () => {
    // Prepare
    await inbox.accept(
      ['old-done', 'old-pending', 'new-done'].map((key) => ({
        key,
        source: 'slack',
        kind: 'slack',
        type: 'event_callback',
        subtype: null,
        body: '{}',
        retryNum: null,
        partitionKey: null,
        topics: null,
      })),
    );
    await db.query(`UPDATE chronops.gateway_inbox SET status = 'done' WHERE key IN ('old-done', 'new-done')`);
    await db.query(
      `UPDATE chronops.gateway_inbox SET received_at = now() - interval '4 days' WHERE key IN ('old-done', 'old-pending')`,
    );
    await db.query(
      `INSERT INTO chronops.windows (id, name, status, dry_run, created_by) VALUES
         ('live0001', 'a', 'scheduled', false, 'u'), ('over0001', 'b', 'done', false, 'u')`,
    );
    const message = (key: string, role: 'plan' | 'reply', windowId: string | null) => ({
      key,
      platform: 'slack',
      op: 'post' as const,
      role,
      channel: 'C1',
      windowId,
      text: key,
    });
    await store.enqueue([
      message('live-plan', 'plan', 'live0001'),
      message('over-plan', 'plan', 'over0001'),
      message('old-reply', 'reply', null),
      message('old-unsent', 'reply', null),
    ]);
    await db.query(
      `UPDATE chronops.chat_outbox SET status = 'posted', created_at = now() - interval '31 days'
       WHERE key IN ('live-plan', 'over-plan', 'old-reply')`,
    );
    await db.query(
      `UPDATE chronops.chat_outbox SET created_at = now() - interval '31 days' WHERE key = 'old-unsent'`,
    );
    // Act
    const gone = { inbox: await inbox.prune(3), outbox: await store.prune(30) };
    // Assess
    assert.deepEqual(gone, { inbox: 1, outbox: 2 });
    assert.deepEqual((await inbox.list()).map((r) => r.key).sort(), ['new-done', 'old-pending']);
    assert.deepEqual((await store.listOutbox()).map((r) => r.key).sort(), ['live-plan', 'old-unsent']);
  });
});
