// Cancelling a window that has begun: which resources get a reconcile transition (a converge back to the plan
// without the window), whatever the state of the window's own start transitions.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Store } from '../../../src/capabilities/capacity/store.ts';
import { migrationModules } from '../../../src/hosts/modules.ts';
import { migrate } from '../../../src/store/migrations.ts';
import type { PgliteDb } from '../../../src/store/pglite-db.ts';
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
});
