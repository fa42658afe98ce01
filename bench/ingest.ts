// npm run bench:ingest — the Slack gateway under load, side by side in the same run with @slack/bolt's own
// HTTPReceiver (tokenVerificationEnabled: false, botId/botUserId set, a no-op app_mention listener, no storage).
//
// Every request is a distinct, really signed `event_callback` (app_mention) on /slack/events. chronops verifies
// it, stores it durably in its database (the inbox, unique by event_id) and answers 200 after the commit; in the
// main runs its inbox worker is off, so the numbers are the gateway's (the work behind it runs at its own pace).
// Bolt verifies, parses and acks.
//
// Each server runs in its own child process (one core each on a 2-core machine; the load generator takes the
// other). Per server: a 3 s warm-up at 333 requests/s, then (1) a fixed 333 requests/s for 15 s (the 20,000/min
// peak of seed 003), open loop (each request is sent on time whether or not earlier ones were answered; latency
// from its send): p50/p99/max; (2) as many requests as 50 connections can push in 10 s (autocannon): requests/s
// and latency p50/p99/max; (3) 333 requests/s for 15 s again, right after that storm. For chronops the rows
// stored are counted at the end: every 200 is a stored row (there are a few more rows than counted 200s:
// autocannon stops its clock with requests in flight, which the server still stored and answered). Loopback
// only, bounded in time and count.
//
// The worker variants keep chronops' inbox worker on, draining what the gateway stores while the load goes on (with
// reaction_added events, which it claims, reads and marks done without calling Slack): on the embedded database
// it shares the one connection with the gateway.
//
// Environment: BENCH_TARGETS (default bolt,pglite,postgres,pglite+worker,postgres+worker), BENCH_ROUNDS (1),
// BENCH_SECONDS (10), BENCH_CONNECTIONS (50), BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test).

import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import autocannon from 'autocannon';
import { signSlackRequest } from '../src/chat/channels/slack/signature.ts';
import { childLines } from './child.ts';

const SECRET = 'bench-signing-secret-5c2a9f0e';
const POSTGRES_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const RATE = 333;
const RATE_SECONDS = 15;

type Target = 'bolt' | 'pglite' | 'postgres' | 'pglite+worker' | 'postgres+worker';
const LABEL: Record<Target, string> = {
  bolt: '@slack/bolt HTTPReceiver (no storage)',
  pglite: 'chronops, embedded PGlite (stored before the 200)',
  postgres: 'chronops, PostgreSQL (stored before the 200)',
  'pglite+worker': 'chronops, embedded PGlite, inbox worker draining meanwhile',
  'postgres+worker': 'chronops, PostgreSQL, inbox worker draining meanwhile',
};
/** With the worker on, the events are ones it handles without Slack calls (reaction_added: claimed, ignored, done). */
const withWorker = (target: Target) => target.endsWith('+worker');

// ---- the servers (child processes) ---------------------------------------------------------------------------

async function serve(target: Target): Promise<void> {
  let url: string;
  let count: () => Promise<number> = async () => Number.NaN;
  let close: () => Promise<void>;
  if (target === 'bolt') {
    const bolt = await import('@slack/bolt');
    const { App, HTTPReceiver, LogLevel } = bolt.default;
    const receiver = new HTTPReceiver({ signingSecret: SECRET, logLevel: LogLevel.ERROR });
    const app = new App({
      receiver,
      token: 'xoxb-bench',
      tokenVerificationEnabled: false,
      botId: 'B0BENCH',
      botUserId: 'U0BENCHBOT',
      logLevel: LogLevel.ERROR,
    });
    app.event('app_mention', async () => {});
    const server = (await app.start({ port: 0, host: '127.0.0.1' })) as import('node:http').Server;
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    close = () => app.stop().then(() => {});
  } else {
    const { parseConfig } = await import('../src/kernel/config.ts');
    const { startChronops } = await import('../src/hosts/server.ts');
    const { createLogger } = await import('../src/kernel/logger.ts');
    const { PgliteDb } = await import('../src/store/pglite-db.ts');
    const { PostgresDb } = await import('../src/store/postgres-db.ts');
    const dir = mkdtempSync(join(tmpdir(), 'chronops-bench-ingest-'));
    const schema = `bench_ingest_${randomBytes(4).toString('hex')}`;
    const db = target.startsWith('pglite')
      ? await PgliteDb.open(dir)
      : new PostgresDb(POSTGRES_URL, { max: 10 });
    const config = parseConfig(
      {
        timezone: 'Asia/Seoul',
        resources: {
          ecs: [{ name: 'web', cluster: 'shop', service: 'web', region: 'ap-northeast-2', maxTasks: 20 }],
        },
        server: { host: '127.0.0.1', port: 0 },
      },
      {
        SLACK_SIGNING_SECRET: SECRET,
        SLACK_BOT_TOKEN: 'xoxb-bench',
        SLACK_API_URL: 'http://127.0.0.1:9/api/',
      },
    );
    const chronops = await startChronops(config, {
      db,
      schema,
      gatewayWorker: withWorker(target),
      logger: createLogger({ level: 'silent' }),
    });
    url = chronops.url;
    count = async () => {
      const rows = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${schema}.gateway_inbox`);
      return rows[0]!.n;
    };
    close = async () => {
      await chronops.close();
      if (target.startsWith('postgres')) {
        await db.query(`DROP SCHEMA ${schema} CASCADE`);
        await db.query(`DROP SCHEMA ${schema}_boss CASCADE`);
      }
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    };
  }
  console.log(`READY ${url}`);
  for await (const line of createInterface({ input: process.stdin })) {
    if (line === 'count') console.log(`COUNT ${await count()}`);
    if (line === 'exit') break;
  }
  await close();
  process.exit(0);
}

// ---- the load -----------------------------------------------------------------------------------------------

const run = randomBytes(3).toString('hex');
let sequence = 0;
/** app_mention; reaction_added for the runs with the worker on (the same body but for its type). */
let eventType = 'app_mention';

/** A distinct, signed event_callback delivery. */
function signedEvent(): { body: string; headers: Record<string, string> } {
  sequence += 1;
  const now = Math.floor(Date.now() / 1000);
  const ts = `${now}.${String(sequence).padStart(6, '0')}`;
  const body = JSON.stringify({
    token: 'legacy',
    team_id: 'T0BENCH',
    api_app_id: 'A0BENCH',
    type: 'event_callback',
    event_id: `Ev${run}${sequence}`,
    event_time: now,
    event: {
      type: eventType,
      user: 'U0ALICE',
      text: '<@U0BENCHBOT> create 2 --ecs 12 --rds 2 --auto',
      ts,
      channel: 'C0BENCH',
      event_ts: ts,
      thread_ts: '1795000000.000100',
    },
    authorizations: [{ team_id: 'T0BENCH', user_id: 'U0BENCHBOT', is_bot: true }],
  });
  return {
    body,
    headers: {
      'content-type': 'application/json',
      'x-slack-request-timestamp': String(now),
      'x-slack-signature': signSlackRequest(SECRET, now, body),
    },
  };
}

interface Latency {
  p50: number;
  p99: number;
  max: number;
}

/**
 * As many requests as 50 connections push in `seconds`. The signed requests are made before the clock starts
 * (enough for 15,000 a second; made on the fly beyond that): signing in the load generator would take the CPU
 * the servers need, on a machine where they share two cores.
 */
async function maxThroughput(url: string, seconds: number) {
  const pool = Array.from({ length: 15_000 * seconds }, signedEvent);
  let next = 0;
  const result = await autocannon({
    url: `${url}/slack/events`,
    connections: CONNECTIONS,
    duration: seconds,
    timeout: 10,
    requests: [
      {
        method: 'POST',
        setupRequest: (req) => ({ ...req, method: 'POST', ...(pool[next++] ?? signedEvent()) }),
      },
    ],
  });
  return {
    requestsPerSecond: Math.round(result.requests.total / result.duration),
    latencyMs: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max } as Latency,
    ok: result['2xx'],
    non2xx: result.non2xx,
    errors: result.errors,
  };
}

/** Open loop: request i is sent at t0 + i/rate, whatever happened to the others. */
async function fixedRate(url: string, rate: number, seconds: number) {
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const total = rate * seconds;
  const latencies: number[] = [];
  let ok = 0;
  let failed = 0;
  const target = new URL(`${url}/slack/events`);
  const sendOne = () =>
    new Promise<void>((resolve) => {
      const { body, headers } = signedEvent();
      const started = performance.now();
      const req = request(
        { host: target.hostname, port: target.port, path: target.pathname, method: 'POST', agent, headers },
        (res) => {
          res.resume();
          res.on('end', () => {
            latencies.push(performance.now() - started);
            if (res.statusCode === 200) ok++;
            else failed++;
            resolve();
          });
        },
      );
      req.on('error', () => {
        failed++;
        resolve();
      });
      req.end(body);
    });
  const inFlight: Promise<void>[] = [];
  const t0 = performance.now();
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    inFlight.push(sendOne());
  }
  await Promise.all(inFlight);
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const pct = (p: number) =>
    +latencies[Math.min(latencies.length - 1, Math.floor((latencies.length * p) / 100))]!.toFixed(2);
  return {
    requestsPerSecond: rate,
    sent: total,
    ok,
    failed,
    latencyMs: { p50: pct(50), p99: pct(99), max: +latencies.at(-1)!.toFixed(2) } as Latency,
  };
}

// ---- orchestration ------------------------------------------------------------------------------------------

interface Child {
  url: string;
  ask(line: string, answer: string): Promise<string>;
  stop(): Promise<void>;
}

function startChild(target: Target): Promise<Child> {
  const child: ChildProcess = spawn(
    process.execPath,
    [
      '--experimental-strip-types',
      '--no-warnings=ExperimentalWarning',
      new URL(import.meta.url).pathname,
      'serve',
      target,
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  return childLines(child).then(({ ready, ask, stop }) => ({ url: ready, ask, stop }));
}

async function bench(target: Target) {
  eventType = withWorker(target) ? 'reaction_added' : 'app_mention';
  const child = await startChild(target);
  try {
    const warm = await fixedRate(child.url, RATE, 3);
    const fixed = await fixedRate(child.url, RATE, RATE_SECONDS);
    const max = await maxThroughput(child.url, SECONDS);
    const after = await fixedRate(child.url, RATE, RATE_SECONDS);
    const answered = warm.ok + max.ok + fixed.ok + after.ok;
    const stored = target === 'bolt' ? null : Number(await child.ask('count', 'COUNT'));
    return {
      target: LABEL[target],
      max,
      fixed333: fixed,
      fixed333AfterMax: after,
      answered200: answered,
      stored,
    };
  } finally {
    await child.stop();
  }
}

async function main(): Promise<void> {
  const targets = (process.env.BENCH_TARGETS ?? 'bolt,pglite,postgres,pglite+worker,postgres+worker').split(
    ',',
  ) as Target[];
  const rounds = Number(process.env.BENCH_ROUNDS ?? 1);
  const results: Array<Awaited<ReturnType<typeof bench>> & { round: number }> = [];
  for (let round = 1; round <= rounds; round++) {
    for (const target of targets) {
      console.error(`round ${round}: ${LABEL[target]}…`);
      const r = { round, ...(await bench(target)) };
      console.error(JSON.stringify(r));
      results.push(r);
    }
  }
  console.log(
    '\n| round | server | max req/s (50 conn.) | p50 / p99 / max ms at max | p50 / p99 / max ms at 333 req/s | same, right after the max run | 200s | rows stored |',
  );
  console.log('|---|---|---|---|---|---|---|---|');
  const ms = (l: Latency) => `${l.p50} / ${l.p99} / ${l.max}`;
  for (const r of results) {
    console.log(
      `| ${r.round} | ${r.target} | ${r.max.requestsPerSecond} | ${ms(r.max.latencyMs)} | ${ms(r.fixed333.latencyMs)} | ${ms(r.fixed333AfterMax.latencyMs)} | ${r.answered200} | ${r.stored ?? '—'} |`,
    );
  }
  console.log(
    `\n${JSON.stringify({ date: new Date().toISOString(), node: process.version, connections: CONNECTIONS, seconds: SECONDS, results }, null, 2)}`,
  );
}

if (process.argv[2] === 'serve') await serve(process.argv[3] as Target);
else await main();
