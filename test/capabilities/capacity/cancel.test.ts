// Cancelling a window that has begun: which resources get a reconcile transition (a converge back to the plan
// without the window), whatever the state of the window's own start transitions.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { ProgressReporter } from '../../../src/capabilities/capacity/progress.ts';
import { CapacityService } from '../../../src/capabilities/capacity/service.ts';
import { Store } from '../../../src/capabilities/capacity/store.ts';
import { ChatStore } from '../../../src/chat/chat-store.ts';
import { migrationModules } from '../../../src/hosts/modules.ts';
import { EventBus } from '../../../src/kernel/events.ts';
import { createLogger } from '../../../src/kernel/logger.ts';
import { Metrics } from '../../../src/kernel/metrics.ts';
import { migrate } from '../../../src/store/migrations.ts';
import type { PgliteDb } from '../../../src/store/pglite-db.ts';
import { testConfig } from '../../support/harness.ts';
import { memoryPglite } from '../../support/pglite.ts';

describe('Store.cancelWindow', () => {
  let db: PgliteDb;
  let store: Store;
  const audit = { actor: 'tester', source: 'test', action: 'window.cancel', outcome: 'ok' };

  before(async () => {
    db = await memoryPglite();
    await migrate(db, 'chronops', migrationModules);
    store = new Store(db, 'chronops');
  });
  after(async () => {
    await db.close();
  });

  /** A window on `web` (ECS) and `shop-db` (Aurora) whose holds began `startedMsAgo` ago. */
  async function windowOn(id: string, startedMsAgo: number, startStatus: Record<string, string>) {
    await db.query(
      `INSERT INTO chronops.windows (id, name, status, dry_run, created_by) VALUES ($1, $1, 'active', false, 'u')`,
      [id],
    );
    for (const [resource, kind] of [
      ['web', 'ecs'],
      ['shop-db', 'aurora'],
    ] as const) {
      await db.query(
        `INSERT INTO chronops.holds (window_id, resource, kind, amount, starts_at, ends_at)
         VALUES ($1, $2, $3, 4, now() - $4 * interval '1 millisecond', now() + interval '1 hour')`,
        [id, resource, kind, startedMsAgo],
      );
      await db.query(
        `INSERT INTO chronops.transitions (id, window_id, resource, kind, due_at, status, dry_run)
         VALUES ($1, $2, $3, 'start', now() - $4 * interval '1 millisecond', $5, false)`,
        [randomUUID(), id, resource, startedMsAgo, startStatus[resource]],
      );
    }
  }

  it('reconciles a resource whose hold has begun even if its start is still waiting to be claimed', async () => {
    // Prepare: web's start already carried out; shop-db's start due but not claimed yet. A converge of shop-db for
    // another window reads every hold that has begun, so this window's readers may be in place already.
    await windowOn('begun001', 50, { web: 'done', 'shop-db': 'pending' });
    // Act
    const { window, reconcile } = await store.cancelWindow('begun001', audit);
    // Assess
    assert.equal(window.status, 'cancelled');
    assert.deepEqual(reconcile.map((t) => t.resource).sort(), ['shop-db', 'web']);
    assert.ok(reconcile.every((t) => t.kind === 'reconcile' && t.status === 'pending'));
    const left = await db.query<{ resource: string; kind: string; status: string }>(
      `SELECT resource, kind, status FROM chronops.transitions WHERE window_id = 'begun001' ORDER BY kind, resource`,
    );
    assert.deepEqual(left, [
      { resource: 'shop-db', kind: 'reconcile', status: 'pending' },
      { resource: 'web', kind: 'reconcile', status: 'pending' },
      { resource: 'shop-db', kind: 'start', status: 'cancelled' },
      { resource: 'web', kind: 'start', status: 'done' },
    ]);
  });

  it('reconciles nothing for a window that has not begun', async () => {
    // Prepare: holds begin in the future
    await windowOn('later001', -60_000, { web: 'pending', 'shop-db': 'pending' });
    // Act
    const { reconcile } = await store.cancelWindow('later001', audit);
    // Assess
    assert.deepEqual(reconcile, []);
  });

  describe('from chat: the plan message’s update commits with the cancel', () => {
    /** A service whose cancel queues the plan update through a reporter on the chat outbox (as `serve` wires it). */
    function service(chat: Pick<ChatStore, 'enqueue'>) {
      const events = new EventBus();
      const s = new CapacityService({ store, config: testConfig(), events, metrics: new Metrics() });
      s.progress = new ProgressReporter({
        events,
        store: chat,
        config: testConfig(),
        getWindow: (id, q) => store.getWindow(id, q),
        platforms: ['slack'],
        logger: createLogger({ level: 'silent' }),
        inTransaction: true,
      });
      return s;
    }
    const fromSlack = (id: string) =>
      db.query(`UPDATE chronops.windows SET origin = $2 WHERE id = $1`, [
        id,
        {
          chat: {
            platform: 'slack',
            channel: 'C1',
            threadTs: '1.2',
            eventKey: `slack:event:${id}`,
            user: { id: 'U0BOB' },
          },
        },
      ]);
    const actor = { id: 'U0ALICE', source: 'slack' };

    it('is in the outbox when the cancel returns, with nothing left to run after the commit', async () => {
      // Prepare
      await windowOn('chat0001', 50, { web: 'done', 'shop-db': 'done' });
      await fromSlack('chat0001');
      // Act
      const window = await service(new ChatStore(db, 'chronops')).cancel('chat0001', actor);
      // Assess: no reporter to wait for — the row is there already, an update of the plan in the thread
      assert.equal(window.status, 'cancelled');
      const rows = await db.query<{ key: string; op: string; channel: string; text: string }>(
        `SELECT key, op, channel, text FROM chronops.chat_outbox WHERE window_id = 'chat0001'`,
      );
      assert.equal(rows.length, 1);
      assert.equal(rows[0]!.key, 'plan-cancelled:chat0001');
      assert.equal(rows[0]!.op, 'update');
      assert.equal(rows[0]!.channel, 'C1');
      assert.match(rows[0]!.text, /<@U0ALICE>/);
    });

    it('rolls the cancel back when its message cannot be queued (both or neither)', async () => {
      // Prepare: a chat store whose insert fails, as a database error inside the cancel's transaction would
      await windowOn('chat0002', 50, { web: 'done', 'shop-db': 'done' });
      await fromSlack('chat0002');
      const failing = {
        enqueue: async () => {
          throw new Error('outbox insert failed');
        },
      };
      // Act
      await assert.rejects(service(failing).cancel('chat0002', actor), /outbox insert failed/);
      // Assess: the window is still active, no reconcile was scheduled, and a later cancel works
      assert.equal((await store.getWindow('chat0002')).status, 'active');
      const reconciles = await db.query(
        `SELECT 1 FROM chronops.transitions WHERE window_id = 'chat0002' AND kind = 'reconcile'`,
      );
      assert.equal(reconciles.length, 0);
      const window = await service(new ChatStore(db, 'chronops')).cancel('chat0002', actor);
      assert.equal(window.status, 'cancelled');
    });
  });
});
