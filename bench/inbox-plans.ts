// node --experimental-strip-types bench/inbox-plans.ts — the inbox's hot reads on the embedded database with a
// backlog, with and without bitmap scans (src/store/pglite-thread.ts turns them off; see docs/benchmarks.md).
//
// PGlite runs no autovacuum, so the planner never has statistics of the inbox. This fills a fresh database with
// BENCH_ROWS (default 40,000) pending deliveries, each to be relayed (a Slack mention's size), and times the
// worker's claim (16 from two sources), the relay's batch (500 with their bodies), the relay's lag look-up and the
// backlog count — each 5 times, in CPU time of the whole process (every thread; robust on a loaded machine), wall
// time, and PostgreSQL's own execution time with the plan's scans (EXPLAIN ANALYZE, without the rows' transfer),
// first with bitmap scans on (PostgreSQL's default), then off. Medians of 5.
//
// BENCH_DATABASE=postgres: the same on the PostgreSQL server (BENCH_DATABASE_URL, a fresh schema), twice — right
// after the rows are in (no statistics yet: autovacuum's first ANALYZE of a new table comes within a minute or
// more) and after an ANALYZE of the grown table. CPU time is then this process's (the client), not the server's:
// read the execution time.

import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { InboxStore } from '../src/gateway/inbox-store.ts';
import { migrationModules } from '../src/hosts/modules.ts';
import type { Db } from '../src/store/db.ts';
import { migrate } from '../src/store/migrations.ts';
import { PgliteDb } from '../src/store/pglite-db.ts';
import { PostgresDb } from '../src/store/postgres-db.ts';
import { mentionDelivery } from '../test/support/slack.ts';

const ROWS = Number(process.env.BENCH_ROWS ?? 40_000);
const ON_POSTGRES = process.env.BENCH_DATABASE === 'postgres';
const POSTGRES_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = ON_POSTGRES ? `plans_${process.pid}` : 'chronops';
const dir = mkdtempSync(join(tmpdir(), 'chronops-bench-plans-'));
const db: Db = ON_POSTGRES ? new PostgresDb(POSTGRES_URL, { max: 2 }) : await PgliteDb.open(dir);
try {
  await migrate(db, schema, migrationModules);
  const inbox = new InboxStore(db, schema);
  const body = JSON.stringify({ type: 'event_callback', event: { text: 'x'.repeat(900) } });
  for (let k = 0; k < ROWS; ) {
    const n = Math.min(500, ROWS - k);
    await inbox.accept(
      Array.from({ length: n }, (_, i) =>
        mentionDelivery(`slack:event:Ev${k + i}`, {
          source: (k + i) % 2 === 0 ? 'slack' : 'jandi',
          body,
          partitionKey: 'T0:C0',
          topics: ['slack-all'],
        }),
      ),
    );
    k += n;
  }
  const t = `${schema}.gateway_inbox`;
  const reads: Record<string, [string, unknown[]]> = {
    'worker claim (16)': [
      `SELECT c.key FROM unnest($1::text[]) AS s(source) CROSS JOIN LATERAL (SELECT key FROM ${t}
         WHERE source = s.source AND status = 'pending' AND next_at <= clock_timestamp()
         ORDER BY id LIMIT 8 FOR UPDATE SKIP LOCKED) c`,
      [['slack', 'jandi']],
    ],
    'relay batch (500)': [
      `SELECT id, key, source, kind, type, subtype, body, partition_key, topics, received_at, relay_attempts
       FROM ${t} WHERE topics IS NOT NULL AND relayed_at IS NULL
         AND received_at <= clock_timestamp() - $2 * interval '1 millisecond' ORDER BY id LIMIT $1`,
      [500, 0],
    ],
    'relay lag (first waiting)': [
      `SELECT received_at FROM ${t} WHERE topics IS NOT NULL AND relayed_at IS NULL ORDER BY id LIMIT 1`,
      [],
    ],
    'backlog count': [
      `SELECT count(*)::int AS n FROM ${t} WHERE topics IS NOT NULL AND relayed_at IS NULL`,
      [],
    ],
  };
  const results: Record<
    string,
    Record<string, { cpuMs: number; wallMs: number; executionMs: number; scan: string }>
  > = {};
  // On PostgreSQL: first without statistics, then with; SET on a pooled connection is not the next query's, so
  // each statement runs in a transaction that sets it (SET LOCAL).
  const cases = ON_POSTGRES
    ? ['no statistics, bitmap on', 'no statistics, bitmap off', 'analyzed, bitmap on', 'analyzed, bitmap off']
    : ['bitmap on', 'bitmap off'];
  for (const label of cases) {
    const bitmap = label.endsWith('on') ? 'on' : 'off';
    if (label === 'analyzed, bitmap on') await db.query(`ANALYZE ${t}`);
    const run = <T>(sql: string, params: unknown[]) =>
      ON_POSTGRES
        ? db.transaction(async (tx) => {
            await tx.query(`SET LOCAL enable_bitmapscan = ${bitmap}`);
            return tx.query<T>(sql, params);
          })
        : db.query<T>(sql, params);
    if (!ON_POSTGRES) await db.query(`SET enable_bitmapscan = ${bitmap}`);
    for (const [name, [sql, params]] of Object.entries(reads)) {
      const cpu: number[] = [];
      const wall: number[] = [];
      for (let i = 0; i < 5; i++) {
        const c = process.cpuUsage();
        const w = performance.now();
        await run(sql, params);
        wall.push(performance.now() - w);
        const d = process.cpuUsage(c);
        cpu.push((d.user + d.system) / 1000);
      }
      // PostgreSQL's own time for it (EXPLAIN ANALYZE: without the rows' way to this thread) and its plan's scan.
      const executed: number[] = [];
      let scan = '';
      for (let i = 0; i < 5; i++) {
        const plan = (await run<Record<string, string>>(`EXPLAIN ANALYZE ${sql}`, params)).map(
          (r) => Object.values(r)[0]!,
        );
        executed.push(Number(/Execution Time: ([\d.]+)/.exec(plan.join('\n'))?.[1] ?? Number.NaN));
        scan = [...plan.join('\n').matchAll(/(Bitmap Heap Scan|Index Only Scan|Index Scan|Seq Scan|Sort)/g)]
          .map((m) => m[1])
          .join(' + ');
      }
      const median = (a: number[]) => +[...a].sort((x, y) => x - y)[2]!.toFixed(1);
      results[name] ??= {};
      results[name][label] = {
        cpuMs: median(cpu),
        wallMs: median(wall),
        executionMs: median(executed),
        scan,
      };
    }
  }
  console.log(
    JSON.stringify(
      {
        database: ON_POSTGRES ? 'postgres' : 'pglite',
        rows: ROWS,
        loadAverage: loadavg().map((l) => +l.toFixed(1)),
        results,
      },
      null,
      2,
    ),
  );
} finally {
  if (ON_POSTGRES) await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
  await db.close();
  rmSync(dir, { recursive: true, force: true });
}
