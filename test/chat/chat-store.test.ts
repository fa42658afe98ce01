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

/** A stored Slack delivery, for the inbox. */
const delivery = (key: string) => ({
  key,
  source: 'slack',
  kind: 'slack',
  type: 'event_callback',
  subtype: null,
  body: '{}',
  retryNum: null,
  partitionKey: null,
  topics: null,
});

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
    await inbox.accept(['old-done', 'old-pending', 'new-done'].map(delivery));
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

describe('ChatStore.finishInbox', () => {
  let db: PgliteDb;
  let store: ChatStore;
  let inbox: InboxStore;
  const statements: string[] = [];

  before(async () => {
    db = await memoryPglite();
    await migrate(db, 'chronops', migrationModules);
    // Every statement the store sends, to count the finishes' statements.
    const query = db.query.bind(db);
    const counted = Object.create(db) as PgliteDb;
    counted.query = ((sql: string, ...rest: unknown[]) => {
      statements.push(sql);
      return (query as (...a: unknown[]) => unknown)(sql, ...rest);
    }) as PgliteDb['query'];
    store = new ChatStore(counted, 'chronops');
    inbox = new InboxStore(db, 'chronops');
  });
  after(async () => {
    await db.close();
  });

  const answer = (eventKey: string, text: string) => ({
    key: `${eventKey}#0`,
    platform: 'slack',
    op: 'post' as const,
    role: 'reply' as const,
    channel: 'C1',
    eventKey,
    text,
  });
  const audit = (eventKey: string) => ({
    actor: 'U0ALICE',
    source: 'slack',
    action: 'chat.list',
    target: null,
    outcome: 'ok',
    details: { eventId: eventKey },
  });
  const finishes = () => statements.filter((sql) => sql.includes(`SET status = 'done'`)).length;
  /** [key, status] of these deliveries, by key. */
  const statusesOf = async (keys: string[]) =>
    (
      await db.query<{ key: string; status: string }>(
        `SELECT key, status FROM chronops.gateway_inbox WHERE key = ANY($1::text[]) ORDER BY key`,
        [keys],
      )
    ).map((r) => [r.key, r.status]);
  const auditsOf = async (keys: string[]) =>
    (
      await db.query<{ event: string }>(
        `SELECT details->>'eventId' AS event FROM chronops.audit WHERE details->>'eventId' = ANY($1::text[])
         ORDER BY 1`,
        [keys],
      )
    ).map((r) => r.event);

  it('the commands finished together share one statement: answers, done marks and audit records', async () => {
    // Prepare
    const keys = ['fin-a', 'fin-b', 'fin-c'];
    await inbox.accept(keys.map(delivery));
    const before = finishes();
    // Act
    await Promise.all(
      keys.map((key) => store.finishInbox({ key }, [answer(key, `answer ${key}`)], [audit(key)])),
    );
    // Assess
    assert.equal(finishes() - before, 1);
    assert.deepEqual(
      await statusesOf(keys),
      keys.map((k) => [k, 'done']),
    );
    const queued = (await store.listOutbox()).filter((m) => keys.includes(m.eventKey ?? ''));
    assert.deepEqual(queued.map((m) => m.text).sort(), ['answer fin-a', 'answer fin-b', 'answer fin-c']);
    assert.deepEqual(await auditsOf(keys), keys);
  });

  it('a finish that cannot be written fails alone: the others are written, each once', async () => {
    // Prepare
    const keys = ['bad-a', 'bad-b', 'bad-c'];
    await inbox.accept(keys.map(delivery));
    const before = finishes();
    // Act: bad-b's answer has no text (NOT NULL), so the shared statement fails and each is written alone.
    const results = await Promise.allSettled(
      keys.map((key) =>
        store.finishInbox(
          { key },
          [answer(key, key === 'bad-b' ? (null as unknown as string) : `answer ${key}`)],
          [audit(key)],
        ),
      ),
    );
    // Assess
    assert.deepEqual(
      results.map((r) => r.status),
      ['fulfilled', 'rejected', 'fulfilled'],
    );
    assert.match(String((results[1] as PromiseRejectedResult).reason), /null value in column "text"/);
    assert.equal(finishes() - before, 4);
    assert.deepEqual(await statusesOf(keys), [
      ['bad-a', 'done'],
      ['bad-b', 'pending'],
      ['bad-c', 'done'],
    ]);
    assert.deepEqual(await auditsOf(keys), ['bad-a', 'bad-c']);
  });
});
