// The chat tables: storing webhooks (a batch, its duplicates, redeliveries, any body), and the housekeeping: what
// prune deletes and what it keeps.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ChatStore } from '../../src/chat/chat-store.ts';
import { migrationModules } from '../../src/hosts/modules.ts';
import { migrate } from '../../src/store/migrations.ts';
import { PgliteDb } from '../../src/store/pglite-db.ts';
import { type Backend, backends } from '../support/harness.ts';

describe('ChatStore.prune', () => {
  let db: PgliteDb;
  let store: ChatStore;

  before(async () => {
    db = await PgliteDb.open('memory');
    await migrate(db, 'chronops', migrationModules);
    store = new ChatStore(db, 'chronops');
  });
  after(async () => {
    await db.close();
  });

  it('deletes old handled deliveries and old sent messages, keeps open work and the plans of live windows', async () => {
    // Prepare
    await store.accept(
      ['old-done', 'old-pending', 'new-done'].map((key) => ({
        key,
        platform: 'slack',
        kind: 'event' as const,
        body: '{}',
        retryNum: null,
      })),
    );
    await db.query(`UPDATE chronops.chat_inbox SET status = 'done' WHERE key IN ('old-done', 'new-done')`);
    await db.query(
      `UPDATE chronops.chat_inbox SET received_at = now() - interval '4 days' WHERE key IN ('old-done', 'old-pending')`,
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
    const gone = await store.prune(3, 30);
    // Assess
    assert.deepEqual(gone, { inbox: 1, outbox: 2 });
    assert.deepEqual((await store.listInbox()).map((r) => r.key).sort(), ['new-done', 'old-pending']);
    assert.deepEqual((await store.listOutbox()).map((r) => r.key).sort(), ['live-plan', 'old-unsent']);
  });
});

for (const backend of backends)
  describe(`ChatStore.accept: ${backend.name}`, () => {
    let opened: Awaited<ReturnType<Backend['open']>>;
    let store: ChatStore;
    let copied = 0;

    before(async () => {
      opened = await backend.open();
      await migrate(opened.db, opened.schema, migrationModules);
      // Count the batches the embedded database took by COPY (its cheaper way in)
      const copy = opened.db.copyCsv?.bind(opened.db);
      if (copy) {
        opened.db.copyCsv = async (...args) => {
          await copy(...args);
          copied++;
        };
      }
      store = new ChatStore(opened.db, opened.schema);
    });
    after(async () => {
      await opened.drop();
    });

    const item = (key: string, body: string, retryNum: number | null = null) => ({
      key,
      platform: 'slack',
      kind: 'event' as const,
      body,
      retryNum,
    });
    async function stored(): Promise<Array<[string, string, number | null]>> {
      return (await store.listInbox(1000))
        .map((r): [string, string, number | null] => [r.key, r.body, r.retryNum])
        .sort(([a], [b]) => a.localeCompare(b));
    }

    it('stores a batch exactly as given, whatever the bodies hold', async () => {
      // Prepare: quotes, commas, line breaks, backslashes, tabs, Korean, emoji, a CSV-looking line, `\.`
      const bodies = [
        '{"text":"say \\"hi\\", then leave"}',
        'a,b,c\n"quoted",,\r\nnext',
        'back\\slash\ttab \\N null-looking',
        '[오늘 오픈 예정 인기 상품] 🚀 — 16:00',
        '\\.\nafter the end marker',
      ];
      // Act
      await store.accept(bodies.map((body, i) => item(`k${i}`, body, i === 1 ? 2 : null)));
      // Assess
      assert.deepEqual(
        await stored(),
        bodies.map((body, i) => [`k${i}`, body, i === 1 ? 2 : null]),
      );
      assert.equal(copied, backend.name === 'pglite' ? 1 : 0);
    });

    it('drops duplicates within a batch and redeliveries of stored keys, storing the rest of the batch', async () => {
      // Prepare: k0 and k1 are stored already (previous test)
      const before = await stored();
      // Act: a batch with its own duplicate (new1 twice) and two redeliveries, with other bodies
      await store.accept([
        item('new1', 'first'),
        item('k0', 'redelivered'),
        item('new1', 'again'),
        item('new2', 'second', 1),
        item('k1', 'redelivered', 3),
      ]);
      // Assess: the first of each key wins; stored rows are untouched
      const after = await stored();
      assert.deepEqual(
        after.filter(([key]) => key.startsWith('new')),
        [
          ['new1', 'first', null],
          ['new2', 'second', 1],
        ],
      );
      assert.deepEqual(
        after.filter(([key]) => key.startsWith('k')),
        before,
      );
    });
  });
