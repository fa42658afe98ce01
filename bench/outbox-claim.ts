// node --experimental-strip-types bench/outbox-claim.ts — the chat outbox's claim with a backlog of answers.
//
// Answers wait in the outbox for their channel's pace (Slack: one a second per channel); while the worker handles
// commands faster than the channels' pace allows (a storm of commands), the backlog grows. Each claim finds the
// first ready message of every channel. This fills a fresh database with BENCH_OUTBOX (default 2,000 and 20,000)
// pending answers over BENCH_CHANNELS (100) channels and times, medians of 9: how each channel's first ready
// message was found before (every open message read, then DISTINCT ON channel — as of commit c101790) and now
// (a skip scan of the open messages' index, then each channel's first ready row), as a plain SELECT of the heads,
// wall time and PostgreSQL's execution time (EXPLAIN ANALYZE); and ChatStore.claimOutbox as the sender calls it.
//
// BENCH_DATABASE=postgres: on the PostgreSQL server (BENCH_DATABASE_URL, a fresh schema, after an ANALYZE).
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChatStore } from '../src/chat/chat-store.ts';
import { migrationModules } from '../src/hosts/modules.ts';
import type { Db } from '../src/store/db.ts';
import { migrate } from '../src/store/migrations.ts';
import { PgliteDb } from '../src/store/pglite-db.ts';
import { PostgresDb } from '../src/store/postgres-db.ts';

const SIZES = (process.env.BENCH_OUTBOX ?? '2000,20000').split(',').map(Number);
const CHANNELS = Number(process.env.BENCH_CHANNELS ?? 100);
const ON_POSTGRES = process.env.BENCH_DATABASE === 'postgres';
const POSTGRES_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

const before = (s: string) => `
  WITH ready AS (
    SELECT x.id, x.channel, x.seq FROM ${s}.chat_outbox x
    WHERE x.status = 'pending'
       OR (x.status = 'held' AND NOT EXISTS (SELECT 1 FROM ${s}.gateway_inbox i
             WHERE i.key = x.after_key AND i.status IN ('pending', 'processing'))))
  SELECT DISTINCT ON (channel) id FROM ready ORDER BY channel, seq`;
const now = (s: string) => `
  WITH RECURSIVE channels AS (
    (SELECT x.channel FROM ${s}.chat_outbox x WHERE x.status IN ('pending', 'held') ORDER BY x.channel LIMIT 1)
    UNION ALL
    SELECT (SELECT x.channel FROM ${s}.chat_outbox x
            WHERE x.status IN ('pending', 'held') AND x.channel > c.channel ORDER BY x.channel LIMIT 1)
    FROM channels c WHERE c.channel IS NOT NULL)
  SELECT h.id FROM channels c
  CROSS JOIN LATERAL (
    SELECT x.id FROM ${s}.chat_outbox x
    WHERE x.channel = c.channel AND x.status IN ('pending', 'held')
      AND (x.status = 'pending'
           OR NOT EXISTS (SELECT 1 FROM ${s}.gateway_inbox i
                          WHERE i.key = x.after_key AND i.status IN ('pending', 'processing')))
    ORDER BY x.seq LIMIT 1) h
  WHERE c.channel IS NOT NULL`;

const median = (a: number[]) => +[...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!.toFixed(2);
const out: Record<string, unknown> = {};
for (const size of SIZES) {
  const schema = ON_POSTGRES ? `claim_${process.pid}_${size}` : 'chronops';
  const dir = mkdtempSync(join(tmpdir(), 'chronops-bench-claim-'));
  const db: Db = ON_POSTGRES ? new PostgresDb(POSTGRES_URL, { max: 2 }) : await PgliteDb.open(dir);
  try {
    await migrate(db, schema, migrationModules);
    for (let k = 0; k < size; k += 1000) {
      await db.query(
        `INSERT INTO ${schema}.chat_outbox (key, platform, op, role, channel, text, status)
         SELECT 'k' || g, 'slack', 'post', 'reply', 'C' || lpad((g % $2)::text, 4, '0'), 'an answer', 'pending'
         FROM generate_series($1::int, $1::int + 999) g`,
        [k, CHANNELS],
      );
    }
    if (ON_POSTGRES) await db.query(`ANALYZE ${schema}.chat_outbox`);
    const result: Record<string, unknown> = {};
    for (const [name, sql] of [
      ['before', before(schema)],
      ['now', now(schema)],
    ] as const) {
      const wall: number[] = [];
      const executed: number[] = [];
      let heads = 0;
      for (let i = 0; i < 9; i++) {
        const w = performance.now();
        heads = (await db.query(sql)).length;
        wall.push(performance.now() - w);
        const plan = (await db.query<Record<string, string>>(`EXPLAIN ANALYZE ${sql}`)).map(
          (r) => Object.values(r)[0]!,
        );
        executed.push(Number(/Execution Time: ([\d.]+)/.exec(plan.join('\n'))?.[1] ?? Number.NaN));
      }
      result[name] = { heads, wallMs: median(wall), executionMs: median(executed) };
    }
    // The claim as the sender makes it (limit 16), then the claims undone for the next round.
    const store = new ChatStore(db, schema);
    await db.query(
      `INSERT INTO ${schema}.nodes (node, lease_until) VALUES ('bench', clock_timestamp() + interval '1 hour')`,
    );
    const claim: number[] = [];
    for (let i = 0; i < 9; i++) {
      const w = performance.now();
      await store.claimOutbox('bench', 30_000, 16);
      claim.push(performance.now() - w);
      await db.query(`UPDATE ${schema}.chat_outbox SET locked_by = NULL, locked_until = NULL, claim = NULL`);
    }
    result.claimOutboxMs = median(claim);
    out[`${size} waiting`] = result;
  } finally {
    if (ON_POSTGRES) await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
console.log(
  JSON.stringify(
    {
      database: ON_POSTGRES ? 'postgres' : 'pglite',
      channels: CHANNELS,
      loadAverage: loadavg().map((l) => +l.toFixed(1)),
      results: out,
    },
    null,
    2,
  ),
);
