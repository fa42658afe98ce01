// npm run bench:scheduler — how fast windows are created and how late transitions fire, on the embedded
// database (PGlite) and on the PostgreSQL server, side by side with pg-boss alone (delayed jobs polled at its
// minimum interval), the alternative a user would reach for.
//
// For each backend: create 9,000 windows due tomorrow and then 1,000 whose starts fall due in the same second
// (10,000 in all); wait for the 1,000; report creation rate, firing lateness (due → claimed and enqueued),
// start lateness (due → the action begins), and throughput (transitions carried out per second).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PgBoss } from 'pg-boss';
import { startChronops } from '../src/hosts/server.ts';
import { parseConfig } from '../src/kernel/config.ts';
import { createLogger } from '../src/kernel/logger.ts';
import type { Db } from '../src/store/db.ts';
import { PgliteDb } from '../src/store/pglite-db.ts';
import { PostgresDb } from '../src/store/postgres-db.ts';

const POSTGRES_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const TOTAL = Number(process.env.BENCH_WINDOWS ?? 10_000);
const DUE = Number(process.env.BENCH_DUE ?? 1_000);
const SERVICES = 100;

const names = Array.from({ length: SERVICES }, (_, i) => `svc${i}`);

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}
function summary(values: number[]) {
  const s = [...values].sort((a, b) => a - b);
  return {
    p50: Math.round(pct(s, 50)),
    p99: Math.round(pct(s, 99)),
    max: Math.round(s.at(-1) ?? Number.NaN),
  };
}

async function openDb(kind: 'pglite' | 'postgres'): Promise<{ db: Db; cleanup: () => Promise<void> }> {
  if (kind === 'pglite') {
    const dir = mkdtempSync(join(tmpdir(), 'chronops-bench-'));
    const db = await PgliteDb.open(dir);
    return { db, cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  const db = new PostgresDb(POSTGRES_URL, { max: 10 });
  return { db, cleanup: async () => {} };
}

async function benchChronops(kind: 'pglite' | 'postgres') {
  const { db, cleanup } = await openDb(kind);
  const schema = `bench_${Date.now().toString(36)}`;
  const config = parseConfig(
    {
      timezone: 'Asia/Seoul',
      dryRun: true,
      resources: {
        ecs: names.map((name) => ({
          name,
          cluster: 'shop',
          service: name,
          region: 'ap-northeast-2',
          maxTasks: 50,
        })),
      },
      server: { host: '127.0.0.1', port: 0 },
      // AWS answered by the in-process simulator; dry-run: the calls chronops would send are recorded.
      aws: {
        simulate: {
          ecs: Object.fromEntries(names.map((n) => [n, { cluster: 'shop', service: n, desiredCount: 2 }])),
        },
      },
    },
    {},
  );
  const chronops = await startChronops(config, {
    db,
    schema,
    listen: false,
    logger: createLogger({ level: 'silent' }),
  });
  const actor = { id: 'bench', source: 'bench' };
  const tomorrow = Date.now() + 86_400_000;

  // Creation: windows that fire tomorrow, then the ones due in the same second.
  const created0 = performance.now();
  // Clients creating windows at the same time, as over the HTTP API.
  const concurrency = 32;
  let next = 0;
  const far = TOTAL - DUE;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < far; i = next++) {
        await chronops.service.create(
          {
            name: `far${i}`,
            ecs: [{ resource: names[i % SERVICES]!, amount: 5 }],
            timing: {
              mode: 'explicit',
              at: new Date(tomorrow + i * 1000).toISOString(),
              until: new Date(tomorrow + i * 1000 + 3_600_000).toISOString(),
            },
          },
          actor,
        );
      }
    }),
  );
  const dueSecond = Math.ceil((Date.now() + 3000 + DUE * 2) / 1000) * 1000;
  next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < DUE; i = next++) {
        await chronops.service.create(
          {
            name: `due${i}`,
            ecs: [{ resource: names[i % SERVICES]!, amount: 10 }],
            // 1,000 starts spread over the same second
            timing: {
              mode: 'explicit',
              at: new Date(dueSecond + Math.floor((i * 1000) / DUE)).toISOString(),
              until: new Date(dueSecond + 3_600_000).toISOString(),
            },
          },
          actor,
        );
      }
    }),
  );
  const createdMs = performance.now() - created0;
  if (Date.now() >= dueSecond)
    throw new Error('creation took longer than planned; the due second has passed');

  // Wait for the 1,000 transitions to be carried out.
  const deadline = dueSecond + 120_000;
  let rows: Array<{ id: string; due_at: Date; fired_at: Date; started_at: Date; finished_at: Date }> = [];
  for (;;) {
    rows = await db.query(
      `SELECT e.id, t.due_at, t.fired_at, e.started_at, e.finished_at
       FROM ${schema}.transitions t
       JOIN ${schema}.executions e ON e.id = t.covered_by OR (t.covered_by IS NULL AND e.transition_id = t.id AND e.status = 'done')
       WHERE t.due_at < $1 AND t.status = 'done'`,
      [new Date(dueSecond + 1000)],
    );
    if (rows.length >= DUE || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  await chronops.close();
  await db.query(`DROP SCHEMA ${schema} CASCADE`).catch(() => {});
  await db.query(`DROP SCHEMA ${schema}_boss CASCADE`).catch(() => {});
  await db.close();
  await cleanup();
  const fire = rows.map((r) => r.fired_at.getTime() - r.due_at.getTime());
  const start = rows.map((r) => r.started_at.getTime() - r.due_at.getTime());
  const done = rows.map((r) => r.finished_at.getTime());
  const throughput = rows.length / ((Math.max(...done) - dueSecond) / 1000);
  return {
    backend: `chronops on ${kind}`,
    windows: TOTAL,
    createSeconds: +(createdMs / 1000).toFixed(2),
    createPerSecond: Math.round(TOTAL / (createdMs / 1000)),
    carriedOut: rows.length,
    converges: new Set(rows.map((r) => r.id)).size,
    fireLatenessMs: summary(fire),
    startLatenessMs: summary(start),
    throughputPerSecond: Math.round(throughput),
  };
}

/** The alternative: one pg-boss job per transition with `startAfter`, a worker polling at pg-boss' minimum. */
async function benchPgBossAlone(kind: 'pglite' | 'postgres') {
  const { db, cleanup } = await openDb(kind);
  const schema = `benchboss_${Date.now().toString(36)}`;
  const boss =
    db instanceof PgliteDb
      ? new PgBoss({
          db: db.bossDb(),
          backend: 'pglite',
          schema,
          supervise: false,
          schedule: false,
        })
      : new PgBoss({ connectionString: POSTGRES_URL, schema, supervise: false, schedule: false });
  boss.on('error', () => {});
  await boss.start();
  await boss.createQueue('t');
  const dueSecond = Math.ceil((Date.now() + 3000 + DUE * 3) / 1000) * 1000;
  const t0 = performance.now();
  await boss.insert(
    't',
    Array.from({ length: DUE }, (_, i) => ({
      data: { due: dueSecond + Math.floor((i * 1000) / DUE) },
      startAfter: new Date(dueSecond + Math.floor((i * 1000) / DUE)),
    })),
  );
  const insertMs = performance.now() - t0;
  const late: number[] = [];
  const finished: number[] = [];
  await boss.work(
    't',
    { batchSize: 100, pollingIntervalSeconds: 0.5, burstWhenBatchFull: true },
    async (jobs: Array<{ data: { due: number } }>) => {
      for (const job of jobs) late.push(Date.now() - job.data.due);
      finished.push(Date.now());
    },
  );
  const deadline = Date.now() + 60_000;
  while (late.length < DUE && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  await boss.stop({ graceful: false });
  if (kind === 'postgres') {
    await db.query(`DROP SCHEMA ${schema} CASCADE`).catch(() => {});
  }
  await db.close();
  await cleanup();
  return {
    backend: `pg-boss alone on ${kind} (startAfter, 0.5 s polling)`,
    insertSeconds: +(insertMs / 1000).toFixed(2),
    carriedOut: late.length,
    startLatenessMs: summary(late),
    throughputPerSecond: Math.round(late.length / ((Math.max(...finished) - dueSecond) / 1000)),
  };
}

const only = process.argv[2];
const results: unknown[] = [];
for (const kind of ['pglite', 'postgres'] as const) {
  if (only && only !== kind) continue;
  console.error(`chronops on ${kind}: creating ${TOTAL} windows…`);
  results.push(await benchChronops(kind));
  console.error(JSON.stringify(results.at(-1)));
  console.error(`pg-boss alone on ${kind}…`);
  results.push(await benchPgBossAlone(kind));
  console.error(JSON.stringify(results.at(-1)));
}
console.log(JSON.stringify({ date: new Date().toISOString(), node: process.version, results }, null, 2));
process.exit(0);
