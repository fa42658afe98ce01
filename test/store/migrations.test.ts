// Per-module migrations: each module's steps applied once, in order; a database made before modules (one linear
// `migrations` table) is adopted without re-running anything; a database newer than the code is refused.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { capacityMigrations } from '../../src/capabilities/capacity/migrations.ts';
import { chatMigrations } from '../../src/chat/migrations.ts';
import { type MigrationModule, migrate } from '../../src/store/migrations.ts';
import { PgliteDb } from '../../src/store/pglite-db.ts';

async function versions(db: PgliteDb, schema: string): Promise<Record<string, number>> {
  const rows = await db.query<{ module: string; version: number }>(
    `SELECT module, version FROM ${schema}.schema_versions ORDER BY module`,
  );
  return Object.fromEntries(rows.map((r) => [r.module, r.version]));
}

describe('migrate', () => {
  let db: PgliteDb;
  before(async () => {
    db = await PgliteDb.open('memory');
  });
  after(async () => {
    await db.close();
  });

  it('applies each module once and records its version', async () => {
    await migrate(db, 'fresh', [capacityMigrations, chatMigrations]);
    await migrate(db, 'fresh', [capacityMigrations, chatMigrations]);
    assert.deepEqual(await versions(db, 'fresh'), {
      capacity: capacityMigrations.steps.length,
      chat: chatMigrations.steps.length,
    });
    const extra: MigrationModule = {
      module: 'extra',
      steps: [
        (s) => `CREATE TABLE ${s}.extra (id int PRIMARY KEY)`,
        (s) => `ALTER TABLE ${s}.extra ADD COLUMN v text`,
      ],
    };
    await migrate(db, 'fresh', [capacityMigrations, chatMigrations, extra]);
    assert.deepEqual(await versions(db, 'fresh'), {
      capacity: capacityMigrations.steps.length,
      chat: chatMigrations.steps.length,
      extra: 2,
    });
    await db.query(`INSERT INTO fresh.extra (id, v) VALUES (1, 'x')`);
  });

  it('adopts a database made with the old linear migrations table, running nothing twice', async () => {
    // The old layout: versions 1 (capacity tables) and 2 (chat tables + the origin index) recorded in `migrations`.
    await db.query('CREATE SCHEMA legacy');
    for (const step of [
      capacityMigrations.steps[0]!,
      chatMigrations.steps[0]!,
      capacityMigrations.steps[1]!,
    ]) {
      for (const sql of step('legacy')
        .split(/;\s*\n/)
        .map((s) => s.trim())
        .filter(Boolean))
        await db.query(sql);
    }
    await db.query(
      'CREATE TABLE legacy.migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())',
    );
    await db.query('INSERT INTO legacy.migrations (version) VALUES (1), (2)');
    await db.query(
      `INSERT INTO legacy.windows (id, name, status, dry_run, created_by) VALUES ('w1', 'kept', 'scheduled', false, 'u')`,
    );

    await migrate(db, 'legacy', [capacityMigrations, chatMigrations]);

    // The chat tables were at step 1; their later steps (the held answers' index) run once, after the adoption.
    assert.deepEqual(await versions(db, 'legacy'), {
      capacity: capacityMigrations.steps.length,
      chat: chatMigrations.steps.length,
    });
    const kept = await db.query<{ name: string }>(`SELECT name FROM legacy.windows`);
    assert.deepEqual(kept, [{ name: 'kept' }]);
    const old = await db.query<{ t: string | null }>(`SELECT to_regclass('legacy.migrations')::text AS t`);
    assert.equal(old[0]?.t, null);
  });

  it('refuses a database whose module is newer than the code', async () => {
    await db.query(`UPDATE fresh.schema_versions SET version = 9 WHERE module = 'chat'`);
    await assert.rejects(
      migrate(db, 'fresh', [capacityMigrations, chatMigrations]),
      /chat tables are at version 9/,
    );
  });
});
