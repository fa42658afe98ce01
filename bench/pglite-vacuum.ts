// node --experimental-strip-types bench/pglite-vacuum.ts — what storms leave in the embedded database, which runs no
// autovacuum, without and with the database thread's quiet-moment vacuum (src/store/pglite-thread.ts, "Vacuum").
// BENCH_ROWS (default 100,000) deliveries in BENCH_ROUNDS (5) storms: each storm stores its share, then updates each
// delivery as the worker and the relay do (claimed, done, relayed: three updates, in batches of 500), then the
// storm ends: BENCH_PAUSE_MS (4,000) of quiet. Then 50 new deliveries. Per mode: the data directory's size (du, WAL
// included), the time of a look for the first pending deliveries (the worker's claim without its lock, 20 times,
// mean) after each storm, and the VACUUMs the thread made (how many, their total and longest time: the thread is
// held meanwhile). The thread looks for tables to vacuum every second here (BENCH_CHECK_MS; 60 s in chronops) so
// that a short pause is enough. A measurement, not a test: nothing here is asserted.
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
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const PAUSE_MS = Number(process.env.BENCH_PAUSE_MS ?? 4000);
const CHECK_MS = Number(process.env.BENCH_CHECK_MS ?? 1000);

async function run(vacuum: boolean) {
  const dir = mkdtempSync(join(tmpdir(), 'chronops-bench-vacuum-'));
  const db = await PgliteDb.open(dir, vacuum ? { vacuum: { checkMs: CHECK_MS } } : { vacuum: false });
  try {
    await migrate(db, 'chronops', migrationModules);
    const inbox = new InboxStore(db, 'chronops');
    const body = JSON.stringify({ type: 'event_callback', event: { text: 'x'.repeat(900) } });
    const item = (key: string) =>
      mentionDelivery(key, { body, partitionKey: 'T0:C0', topics: ['slack-all'] });
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
    const perRound = Math.ceil(ROWS / ROUNDS);
    let stored = 0;
    for (let round = 1; round <= ROUNDS; round++) {
      const first = stored;
      for (let k = 0; k < perRound; k += 500) {
        await inbox.accept(
          Array.from({ length: Math.min(500, perRound - k) }, (_, i) =>
            item(`slack:event:Ev${first + k + i}`),
          ),
        );
      }
      stored += perRound;
      const [{ min, max }] = (await db.query<{ min: number; max: number }>(
        `SELECT min(id)::int AS min, max(id)::int AS max FROM chronops.gateway_inbox WHERE status = 'pending'`,
      )) as [{ min: number; max: number }];
      for (let k = min; k <= max; k += 500) {
        for (const set of ["status = 'processing'", "status = 'done'", 'relayed_at = clock_timestamp()']) {
          await db.query(`UPDATE chronops.gateway_inbox SET ${set} WHERE id BETWEEN $1 AND $2`, [k, k + 499]);
        }
      }
      await new Promise((resolve) => setTimeout(resolve, PAUSE_MS));
      steps.push({ afterStorm: round, stored, dataMb: sizeMb(), firstPendingMs: await look() });
    }
    await inbox.accept(Array.from({ length: 50 }, (_, i) => item(`slack:event:New${i}`)));
    const stats = await db.stats();
    return {
      vacuum: vacuum ? `at quiet moments (looked for every ${CHECK_MS} ms)` : 'none (as before)',
      steps,
      end: { dataMb: sizeMb(), firstPendingMs: await look() },
      vacuums: {
        count: stats.vacuums,
        totalMs: Math.round(stats.vacuumMs),
        longestMs: Math.round(stats.vacuumMaxMs),
      },
    };
  } finally {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const results = [await run(false), await run(true)];
console.log(
  JSON.stringify(
    {
      rows: ROWS,
      rounds: ROUNDS,
      pauseMs: PAUSE_MS,
      loadAverage: loadavg().map((l) => +l.toFixed(1)),
      results,
    },
    null,
    2,
  ),
);
