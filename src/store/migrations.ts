import type { Db } from './db.ts';

/**
 * Each module (a shared mechanism or a capability) brings its own tables as numbered steps; the host passes the
 * modules it runs. Steps are applied in order, once per module, in one transaction under an advisory lock so that
 * several servers starting together do not race. `schema_versions` records how far each module is.
 */
export interface MigrationModule {
  /** Unique name, e.g. `capacity`, `chat`, `power`. */
  module: string;
  /** Step n (1-based) creates or alters the module's tables in schema `s`. Never edit a released step; add one. */
  steps: Array<(s: string) => string>;
}

export async function migrate(db: Db, schema: string, modules: readonly MigrationModule[]): Promise<void> {
  if (!/^[a-z_][a-z0-9_]{0,50}$/.test(schema)) throw new Error(`bad schema name ${schema}`);
  const names = new Set<string>();
  for (const m of modules) {
    if (names.has(m.module)) throw new Error(`migration module ${m.module} given twice`);
    names.add(m.module);
  }
  await db.transaction(async (tx) => {
    await tx.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [`chronops-migrate:${schema}`]);
    await tx.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await tx.query(
      `CREATE TABLE IF NOT EXISTS ${schema}.schema_versions (module text PRIMARY KEY, version integer NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    await adoptLegacyVersions(tx, schema);
    const rows = await tx.query<{ module: string; version: number }>(
      `SELECT module, version FROM ${schema}.schema_versions`,
    );
    const current = new Map(rows.map((r) => [r.module, r.version]));
    for (const m of modules) {
      const from = current.get(m.module) ?? 0;
      if (from > m.steps.length) {
        throw new Error(
          `the database's ${m.module} tables are at version ${from}, newer than this chronops knows (${m.steps.length}); run a newer chronops`,
        );
      }
      for (let version = from + 1; version <= m.steps.length; version++) {
        for (const statement of splitStatements(m.steps[version - 1]!(schema))) await tx.query(statement);
      }
      if (m.steps.length > from) {
        await tx.query(
          `INSERT INTO ${schema}.schema_versions (module, version) VALUES ($1, $2)
           ON CONFLICT (module) DO UPDATE SET version = EXCLUDED.version, applied_at = now()`,
          [m.module, m.steps.length],
        );
      }
    }
  });
}

/**
 * Databases made before per-module migrations kept one linear `migrations` table: version 1 was the capacity
 * tables, version 2 the chat tables (and the capacity index now in its step 2). Recorded once as module versions.
 */
async function adoptLegacyVersions(tx: Pick<Db, 'query'>, schema: string): Promise<void> {
  const legacy = await tx.query<{ t: string | null }>(`SELECT to_regclass($1)::text AS t`, [
    `${schema}.migrations`,
  ]);
  if (!legacy[0]?.t) return;
  const rows = await tx.query<{ v: number | null }>(`SELECT max(version) AS v FROM ${schema}.migrations`);
  const v = rows[0]?.v ?? 0;
  if (v >= 1) {
    await tx.query(
      `INSERT INTO ${schema}.schema_versions (module, version) VALUES ('capacity', $1) ON CONFLICT DO NOTHING`,
      [v >= 2 ? 2 : 1],
    );
  }
  if (v >= 2) {
    await tx.query(
      `INSERT INTO ${schema}.schema_versions (module, version) VALUES ('chat', 1) ON CONFLICT DO NOTHING`,
    );
  }
  await tx.query(`DROP TABLE ${schema}.migrations`);
}

function splitStatements(sql: string): string[] {
  return sql
    .split(/;\s*\n/)
    .map((s) => s.trim())
    .filter(Boolean);
}
