// node --experimental-strip-types bench/pglite-vacuum.ts — what a storm leaves in the embedded database, which runs
// no autovacuum (and chronops no VACUUM): BENCH_ROWS (default 100,000) deliveries stored, then each updated as the
// worker and the relay do (claimed, done, relayed: three updates, in batches of 500), then 50 new ones. Reports the
// data directory's size (du, WAL included), the time of a look for the first pending deliveries (the worker's claim
// without its lock, 20 times, mean) after each step, and what one VACUUM of the inbox costs and changes.
// A measurement for a decision (docs/benchmarks.md), not a test: nothing here is asserted.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { InboxStore } from '../src/gateway/inbox-store.ts';
import { migrationModules } from '../src/hosts/modules.ts';
import { migrate } from '../src/store/migrations.ts';
import { PgliteDb } from '../src/store/pglite-db.ts';
import { mentionDelivery } from '../test/support/slack.ts';

const ROWS = Number(process.env.BENCH_ROWS ?? 100_000);
const dir = mkdtempSync(join(tmpdir(), 'chronops-bench-vacuum-'));
const db = await PgliteDb.open(dir);
try {
  await migrate(db, 'chronops', migrationModules);
  const inbox = new InboxStore(db, 'chronops');
  const body = JSON.stringify({ type: 'event_callback', event: { text: 'x'.repeat(900) } });
  const item = (key: string) => mentionDelivery(key, { body, partitionKey: 'T0:C0', topics: ['slack-all'] });
  const sizeMb = () => Number(execFileSync('du', ['-sm', dir]).toString().split('\t')[0]);
  const look = async () => {
    const started = performance.now();
    for (let i = 0; i < 20; i++) {
      await db.query(
        `SELECT key FROM chronops.gateway_inbox WHERE source = 'slack' AND status = 'pending'
           AND next_at <= clock_timestamp() ORDER BY id LIMIT 16`,
      );
    }
    return +((performance.now() - started) / 20).toFixed(2);
  };
  const steps: Array<Record<string, unknown>> = [];
  for (let k = 0; k < ROWS; k += 500) {
    await inbox.accept(
      Array.from({ length: Math.min(500, ROWS - k) }, (_, i) => item(`slack:event:Ev${k + i}`)),
    );
  }
  steps.push({ step: `${ROWS} stored, pending`, dataMb: sizeMb(), firstPendingMs: await look() });
  for (let k = 0; k < ROWS; k += 500) {
    for (const set of ["status = 'processing'", "status = 'done'", 'relayed_at = clock_timestamp()']) {
      await db.query(`UPDATE chronops.gateway_inbox SET ${set} WHERE id BETWEEN $1 AND $2`, [k + 1, k + 500]);
    }
  }
  await inbox.accept(Array.from({ length: 50 }, (_, i) => item(`slack:event:New${i}`)));
  steps.push({ step: 'each claimed, done, relayed; 50 new', dataMb: sizeMb(), firstPendingMs: await look() });
  const started = performance.now();
  await db.query('VACUUM chronops.gateway_inbox');
  const vacuumMs = Math.round(performance.now() - started);
  steps.push({
    step: `VACUUM of the inbox (${vacuumMs} ms)`,
    dataMb: sizeMb(),
    firstPendingMs: await look(),
  });
  console.log(
    JSON.stringify({ rows: ROWS, loadAverage: loadavg().map((l) => +l.toFixed(1)), steps }, null, 2),
  );
} finally {
  await db.close();
  rmSync(dir, { recursive: true, force: true });
}
