// npm run bench:gateway — the webhook gateway with its worker ON, handling real commands that reply, side by side
// in one run with @slack/bolt's HTTPReceiver (a no-op app_mention listener, no storage).
//
// Every request is a distinct, really signed `app_mention` on /slack/events whose text is a real command (`list`,
// in one of 100 channels). chronops verifies it, stores it, answers 200, and its worker (in the same `chronops
// serve`) runs the command through the one router and queues the reply in the outbox, which posts it to a
// stand-in Slack (test/support/fake-slack.ts, in a process of its own, new for each server: bench/slack-child.ts) at
// Slack's pace (1 s per channel).
//
// Each server runs in its own child process, the load generator in this one. Per server:
// 3 s warm-up at 333/s; 15 s at a fixed 333 requests/s (open loop, latency from each request's planned send);
// BENCH_SECONDS (default 30) of as many requests as BENCH_CONNECTIONS (50) push (autocannon); 15 s at 333/s right
// after. The server's resident memory (VmRSS from /proc) is sampled every second throughout; its peak (VmHWM) is
// read at the end. Then the commands handled and the replies posted are counted.
//
// Environment: BENCH_TARGETS (default bolt,pglite,postgres; `pglite-before` (and `pglite-before+kafka` and
// `postgres-before+kafka`, with the relay on and the second source) runs the chronops of the checkout at
// BENCH_BEFORE, e.g. a git worktree of an older commit, for a before/after in the same run; `seed`, `pglite+kafka`,
// `postgres+kafka` start librdkafka's mock cluster; `postgres-front+kafka` is `chronops serve --role front` with a
// second server running the work at nice 10, both on one PostgreSQL schema; BENCH_FRONT_WORK=none: the front alone,
// its work on other hosts; BENCH_WORKER=off: chronops' servers verify, store, answer and relay but handle no command —
// the gateway's ceiling on this machine, labelled so in the table; BENCH_SESSION=own: each server in a session of
// its own — its own scheduling group under Linux's autogroup, as a service in a cgroup of its own, instead of
// sharing this session's with the load generator), BENCH_ROUNDS (1), BENCH_SECONDS (30), BENCH_CONNECTIONS (50),
// BENCH_RATE_SECONDS (15; the first 333/s phase), BENCH_AFTER_SECONDS (the same; the last), BENCH_DRAIN_SECONDS
// (0; then that long with no load, the worker draining its backlog), BENCH_DATABASE_URL
// (default postgres://postgres@127.0.0.1:5432/test), BENCH_MEMORY_PARTS_SECONDS (10: how often the server reports
// where its memory is — main thread's heap and buffers, the database thread's heap, PGlite's WebAssembly memory).
// BENCH_MODE=memory is the issue's memory run: 10 minutes at 333/s, 60 s at the maximum rate, 15 s at 333/s, on
// PGlite with the relay on (BENCH_TARGETS=pglite+kafka BENCH_RATE_SECONDS=600 BENCH_SECONDS=60
// BENCH_AFTER_SECONDS=15); the result's memoryCurve is VmRSS every 15 s, memoryParts the breakdown.
// chronops' servers start (in every mode, since 7 Dec 2026 14:00) as bin/chronops.js starts `chronops serve`: node
// with --max-semi-space-size=16 and MALLOC_ARENA_MAX=2 in the environment (BENCH_NODE_ARGS= and
// BENCH_SERVE_ENV=none run them without); Bolt as a plain node process. Experiments:
// BENCH_NODE_ARGS (node options of the servers' processes, e.g. --max-semi-space-size=16), BENCH_V8_FLAGS (V8 flags
// the server sets on itself before it starts).
//
// Commands handled: the inbox's `done` rows counted before and after the storm (and the drain), so the worker's
// rate during the storm and with no load are reported beside the requests/s. CPU time: the server's process (all
// its threads) and, on the postgres targets, every PostgreSQL process of this machine, over the first 333/s phase
// (per request) and the drain (per command). At 333/s, beside the latency seen here: the server's own p99 (request
// to answer, measured in the server) and how late this process sent the requests (p99) — both in the table, so that
// a p99 made by the load generator (its event loop, the machine's cores it waits for) is told from the server's.

import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import autocannon from 'autocannon';
import { signSlackRequest } from '../src/chat/channels/slack/signature.ts';
import { MockKafka } from '../test/support/kafka.ts';
import { childLines } from './child.ts';

const SECRET = 'bench-signing-secret-5c2a9f0e';
const POSTGRES_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
/**
 * BENCH_MODE=memory: the issue's memory run — 10 minutes at 333/s, then 60 s at the maximum rate, then 15 s at 333/s,
 * on PGlite with the relay on (each still overridable by its own variable).
 */
const MEMORY_MODE = process.env.BENCH_MODE === 'memory';
/**
 * What bin/chronops.js' first line gives `chronops serve` for a bounded memory (docs/gateway.md): the main thread's
 * young generation capped (V8 otherwise sizes it from the machine's memory, up to 128 MB) and glibc's malloc kept to
 * two arenas. chronops' servers start with them.
 */
const SERVE_NODE_ARGS = '--max-semi-space-size=16';
const SERVE_ENV: Record<string, string> =
  process.env.BENCH_SERVE_ENV === 'none' ? {} : { MALLOC_ARENA_MAX: '2' };
const SECONDS = Number(process.env.BENCH_SECONDS ?? (MEMORY_MODE ? 60 : 30));
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const RATE = 333;
const RATE_SECONDS = Number(process.env.BENCH_RATE_SECONDS ?? (MEMORY_MODE ? 600 : 15));
const AFTER_SECONDS = Number(process.env.BENCH_AFTER_SECONDS ?? (MEMORY_MODE ? 15 : RATE_SECONDS));
const DRAIN_SECONDS = Number(process.env.BENCH_DRAIN_SECONDS ?? 0);
const MEMORY_PARTS_SECONDS = Number(process.env.BENCH_MEMORY_PARTS_SECONDS ?? 10);
const CHANNELS = 100;
/** `postgres-front+kafka` without its work server (BENCH_FRONT_WORK=none): the front alone. */
const FRONT_ALONE = process.env.BENCH_FRONT_WORK === 'none';
const JANDI_TOKEN = 'bench-jandi-token-3f9a1c2e';

type Target =
  | 'bolt'
  | 'pglite'
  | 'postgres'
  | 'pglite-before'
  | 'pglite-before+kafka'
  | 'postgres-before+kafka'
  | 'seed'
  | 'pglite+kafka'
  | 'postgres+kafka'
  | 'postgres-front+kafka';
const LABEL: Record<Target, string> = {
  seed: "the seed's design: verify, a new Kafka producer per request, 200 after its acks=all flush",
  'pglite+kafka': 'chronops serve, PGlite, worker on, Kafka relay on',
  'postgres+kafka': 'chronops serve, PostgreSQL, worker on, Kafka relay on',
  'postgres-front+kafka': FRONT_ALONE
    ? 'chronops serve --role front alone, PostgreSQL (its work on other hosts: not run here)'
    : 'chronops serve --role front, PostgreSQL, + a chronops serve (nice 10) running the work: worker on, Kafka relay on',
  bolt: '@slack/bolt HTTPReceiver (no-op listener, no storage)',
  'pglite-before': 'the same, chronops of BENCH_BEFORE (PGlite)',
  'pglite-before+kafka': 'chronops of BENCH_BEFORE, PGlite, worker on, Kafka relay on',
  'postgres-before+kafka': 'chronops of BENCH_BEFORE, PostgreSQL, worker on, Kafka relay on',
  pglite: 'chronops serve, PGlite, worker on (commands reply)',
  postgres: 'chronops serve, PostgreSQL, worker on (commands reply)',
};

/** BENCH_WORKER=off: chronops' servers store, answer and relay, and handle no command (a ceiling, not the product). */
const WORKER_OFF = process.env.BENCH_WORKER === 'off';

function label(target: Target): string {
  if (!WORKER_OFF || target === 'bolt' || target === 'seed') return LABEL[target];
  return `${LABEL[target].replace(/, worker on( \(commands reply\))?/, '')} — BENCH_WORKER=off: no command handled`;
}

// ---- the servers (child processes) ---------------------------------------------------------------------------

async function serve(target: Target, slackApiUrl: string): Promise<void> {
  // Experiments: V8 flags set in the server's process before it starts (e.g. --heap-growing-percent=20).
  for (const flag of process.env.BENCH_V8_FLAGS?.split(' ').filter(Boolean) ?? [])
    (await import('node:v8')).setFlagsFromString(flag);
  let url: string;
  /** Where the relay's metrics are: this server's, or (a front's) its work server's. */
  let metricsUrl: string | undefined;
  let count: () => Promise<string> = async () => '{}';
  /** Where the server's memory is (MB): this thread's V8 heap and off-heap buffers; the database thread's. */
  let dbParts: () => Promise<Record<string, number> & { wasmBytes?: number }> = async () => ({});
  const mb = (bytes: number) => Math.round(bytes / 1048576);
  const memoryParts = async () => {
    const m = process.memoryUsage();
    const db = await dbParts();
    return {
      rss: mb(m.rss),
      ...residentByMapping(db.wasmBytes),
      mainHeap: mb(m.heapUsed),
      mainHeapTotal: mb(m.heapTotal),
      external: mb(m.external),
      arrayBuffers: mb(m.arrayBuffers),
      ...db,
      wasmBytes: undefined,
    };
  };
  let close: () => Promise<void>;
  const brokers = process.env.BENCH_BROKERS?.split(',') ?? [];
  if (target === 'seed') {
    // Seed 003's Lambda, as a server: each request verified, then a producer made for it, its message produced
    // with acks=all and flushed, the producer closed, and only then the 200.
    const { createServer } = await import('node:http');
    const { SlackSignature } = await import('../src/chat/channels/slack/signature.ts');
    const { KafkaClient } = await import('../src/gateway/kafka.ts');
    const verifier = new SlackSignature({ signingSecret: SECRET });
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        void (async () => {
          try {
            verifier.verify(
              {
                timestamp: req.headers['x-slack-request-timestamp'] as string,
                signature: req.headers['x-slack-signature'] as string,
              },
              body,
            );
          } catch {
            res.writeHead(401).end();
            return;
          }
          const producer = new KafkaClient({ brokers });
          try {
            await producer.send([{ topic: 'seed-slack', key: null, value: body.toString('utf8') }]);
            res.writeHead(200).end();
          } catch {
            res.writeHead(500).end();
          } finally {
            await producer.close();
          }
        })();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  } else if (target === 'bolt') {
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
    // 'pglite-before': the chronops of another checkout (BENCH_BEFORE), for a before/after in one run.
    const src = target.includes('-before')
      ? `${process.env.BENCH_BEFORE}/src/`
      : new URL('../src/', import.meta.url).pathname;
    const { parseConfig } = (await import(
      `${src}kernel/config.ts`
    )) as typeof import('../src/kernel/config.ts');
    const { startChronops } = (await import(
      `${src}hosts/server.ts`
    )) as typeof import('../src/hosts/server.ts');
    const { createLogger } = (await import(
      `${src}kernel/logger.ts`
    )) as typeof import('../src/kernel/logger.ts');
    const { PostgresDb } = (await import(
      `${src}store/postgres-db.ts`
    )) as typeof import('../src/store/postgres-db.ts');
    const dir = mkdtempSync(join(tmpdir(), 'chronops-bench-gateway-'));
    // The work of `postgres-front+kafka`: a second server on the front's schema (BENCH_ROLE=work, BENCH_SCHEMA).
    const work = process.env.BENCH_ROLE === 'work';
    const schema = !target.startsWith('postgres')
      ? 'chronops'
      : work
        ? process.env.BENCH_SCHEMA!
        : `bench_gateway_${randomBytes(4).toString('hex')}`;
    const config = parseConfig(
      {
        timezone: 'Asia/Seoul',
        resources: {
          ecs: [{ name: 'web', cluster: 'shop', service: 'web', region: 'ap-northeast-2', maxTasks: 20 }],
        },
        server: { host: '127.0.0.1', port: 0 },
        database: !target.startsWith('postgres') ? { dataDir: dir } : { url: POSTGRES_URL },
        // A second source for the storm-isolation probe: JANDI commands while Slack storms.
        ...(target === 'pglite-before'
          ? {}
          : {
              sources: [
                {
                  kind: 'jandi',
                  name: 'webhook',
                  rooms: [{ name: 'ops', token: `\${JANDI_TOKEN}` }],
                  replyWithinMs: 3000,
                },
              ],
            }),
        ...(target.endsWith('+kafka')
          ? { kafka: { brokers, routes: [{ source: 'slack', topics: ['slack-all'] }] } }
          : {}),
      },
      {
        SLACK_SIGNING_SECRET: SECRET,
        SLACK_BOT_TOKEN: 'xoxb-bench',
        SLACK_API_URL: slackApiUrl,
        JANDI_TOKEN,
      },
    );
    const { PgliteDb } = (await import(
      `${src}store/pglite-db.ts`
    )) as typeof import('../src/store/pglite-db.ts');
    if (work) {
      const worker = await startChronops(config, {
        schema,
        logger: createLogger({ level: process.env.BENCH_LOG ?? 'silent' }),
      });
      console.log(`READY ${worker.url}`);
      for await (const line of createInterface({ input: process.stdin })) if (line === 'exit') break;
      await worker.close();
      process.exit(0);
    }
    const chronops = await startChronops(config, {
      schema,
      ...(target === 'postgres-front+kafka' ? { role: 'front' as const } : {}),
      ...(target === 'pglite' && process.env.BENCH_FSYNC === 'off'
        ? { db: await PgliteDb.open(dir, { fsync: false }) }
        : {}),
      ...(WORKER_OFF ? { gatewayWorker: false } : {}),
      logger: createLogger({ level: process.env.BENCH_LOG ?? 'silent' }),
    });
    const db = chronops.db;
    // A front's work runs in a server of its own, as on another host; on this one at a lower CPU priority, as
    // docs/gateway.md advises for a front and a work server sharing a host.
    // BENCH_FRONT_WORK=none: no work server here (it runs on other hosts; what the front alone does).
    const workServer =
      target === 'postgres-front+kafka' && !FRONT_ALONE
        ? spawn(
            'nice',
            [
              '-n',
              '10',
              process.execPath,
              ...process.execArgv,
              new URL(import.meta.url).pathname,
              'serve',
              target,
              slackApiUrl,
            ],
            {
              stdio: ['pipe', 'pipe', 'inherit'],
              env: { ...process.env, BENCH_ROLE: 'work', BENCH_SCHEMA: schema },
            },
          )
        : undefined;
    if (workServer) {
      await new Promise<void>((resolve, reject) => {
        createInterface({ input: workServer.stdout! }).on('line', (line) => {
          // Its /metrics has the relay's gauges (a front relays nothing).
          if (line.startsWith('READY ')) {
            metricsUrl = line.slice('READY '.length).trim();
            resolve();
          }
        });
        workServer.once('exit', (code) => reject(new Error(`the work server exited (${code})`)));
      });
    }
    // Where an answer's time goes, per phase (reset at each count): the server's own time from the request to the
    // end of its response (node:http's diagnostics channels), and the ingest's writes (a batch's COPY or INSERT
    // from its call to its answer, which includes waiting behind other statements).
    const { createHistogram } = await import('node:perf_hooks');
    const dc = await import('node:diagnostics_channel');
    const serverUs = createHistogram();
    const writeUs = createHistogram();
    let writes = 0;
    let written = 0;
    const began = new WeakMap<object, number>();
    dc.subscribe('http.server.request.start', (m) => {
      began.set((m as { request: object }).request, performance.now());
    });
    dc.subscribe('http.server.response.finish', (m) => {
      const t = began.get((m as { request: object }).request);
      if (t !== undefined) serverUs.record(Math.max(1, Math.round((performance.now() - t) * 1000)));
    });
    const timed =
      <A extends unknown[], R>(fn: (...a: A) => Promise<R>, rows: (...a: A) => number) =>
      async (...a: A): Promise<R> => {
        const t = performance.now();
        try {
          return await fn(...a);
        } finally {
          writeUs.record(Math.max(1, Math.round((performance.now() - t) * 1000)));
          writes++;
          written += rows(...a);
        }
      };
    const dbAny = db as unknown as Record<string, unknown>;
    if (typeof db.copyCsv === 'function') {
      dbAny.copyCsv = timed(
        db.copyCsv.bind(db),
        (_t: string, _c: readonly string[], csv: string) => csv.split('\n').length - 1,
      );
    }
    const plainQuery = db.query.bind(db) as (
      sql: string,
      params?: readonly unknown[],
      options?: unknown,
    ) => Promise<unknown[]>;
    dbAny.query = (sql: string, params?: readonly unknown[], options?: { priority?: string }) =>
      options?.priority === 'high' || sql.startsWith(`INSERT INTO ${schema}.gateway_inbox (key`)
        ? timed(plainQuery, () => JSON.parse(String(params?.[0] ?? '[]')).length)(sql, params, options)
        : plainQuery(sql, params, options);
    // On PostgreSQL: statements waiting for one of the pool's connections, sampled every 5 ms.
    const pool = (db as { pool?: { waitingCount: number; totalCount: number } }).pool;
    let poolSamples = 0;
    let poolWaitingSum = 0;
    let poolWaitingMax = 0;
    if (pool) {
      setInterval(() => {
        poolSamples++;
        poolWaitingSum += pool.waitingCount;
        poolWaitingMax = Math.max(poolWaitingMax, pool.waitingCount);
      }, 5).unref();
    }
    const answerPath = () => {
      const q = (h: typeof serverUs, p: number) => +(h.percentile(p) / 1000).toFixed(2);
      const out = {
        serverMs: {
          n: serverUs.count,
          p50: q(serverUs, 50),
          p99: q(serverUs, 99),
          max: +(serverUs.max / 1000).toFixed(1),
        },
        ingestWriteMs: {
          n: writes,
          rowsPerWrite: +(written / Math.max(1, writes)).toFixed(1),
          p50: q(writeUs, 50),
          p99: q(writeUs, 99),
          max: +(writeUs.max / 1000).toFixed(1),
        },
      };
      if (pool) {
        Object.assign(out, {
          poolWaiting: { mean: +(poolWaitingSum / Math.max(1, poolSamples)).toFixed(1), max: poolWaitingMax },
        });
        poolSamples = 0;
        poolWaitingSum = 0;
        poolWaitingMax = 0;
      }
      serverUs.reset();
      writeUs.reset();
      writes = 0;
      written = 0;
      return out;
    };
    url = chronops.url;
    if ('stats' in db && typeof db.stats === 'function') {
      dbParts = async () => {
        const t = (await (db as { stats(): Promise<unknown> }).stats()) as {
          heapBytes: number;
          heapTotalBytes?: number;
          wasmMemoryBytes?: number;
        };
        return {
          dbHeap: mb(t.heapBytes),
          ...(t.heapTotalBytes ? { dbHeapTotal: mb(t.heapTotalBytes) } : {}),
          ...(t.wasmMemoryBytes ? { wasm: mb(t.wasmMemoryBytes), wasmBytes: t.wasmMemoryBytes } : {}),
        };
      };
    }
    count = async () => {
      const inbox = await db.query<{ status: string; n: number }>(
        `SELECT status, count(*)::int AS n FROM ${schema}.gateway_inbox GROUP BY status`,
      );
      // On the embedded database, its thread's counts too: statements run and commits flushed (fsync).
      const thread =
        'stats' in db && typeof db.stats === 'function'
          ? ((await db.stats()) as {
              statements: number;
              fsyncs: number;
              fsyncMs: number;
              sharedCommits: number;
              profile?: Record<string, { n: number; ms: number }>;
              slow?: Array<{ at: string; ms: number; sql: string }>;
            })
          : undefined;
      return JSON.stringify({
        answerPath: answerPath(),
        ...Object.fromEntries(inbox.map((r) => [r.status, r.n])),
        ...(thread
          ? {
              statements: thread.statements,
              fsyncs: thread.fsyncs,
              fsyncMs: Math.round(thread.fsyncMs),
              sharedCommits: thread.sharedCommits,
              ...(thread.profile ? { profile: thread.profile, slow: thread.slow } : {}),
            }
          : {}),
      });
    };
    close = async () => {
      if (workServer) {
        const exited = new Promise<void>((resolve) => workServer.once('exit', () => resolve()));
        workServer.stdin!.write('exit\n');
        await exited;
      }
      await chronops.close();
      if (db !== undefined && target === 'pglite') await db.close();
      if (target.startsWith('postgres')) {
        const { PostgresDb: P } = { PostgresDb };
        const admin = new P(POSTGRES_URL, { max: 1 });
        await admin.query(`DROP SCHEMA ${schema} CASCADE`);
        await admin.query(`DROP SCHEMA ${schema}_boss CASCADE`);
        await admin.close();
      }
      rmSync(dir, { recursive: true, force: true });
    };
  }
  // The server's event loop, per phase (reset at each count): its delay (perf_hooks) and the stalls over 20 ms,
  // with their time since READY — what holds the answers besides the database.
  const { monitorEventLoopDelay } = await import('node:perf_hooks');
  const eld = monitorEventLoopDelay({ resolution: 1 });
  eld.enable();
  const readyAt = performance.now();
  const stalls: Array<[number, number]> = [];
  let tick = performance.now();
  setInterval(() => {
    const now = performance.now();
    const late = now - tick - 10;
    if (late > 20 && stalls.length < 100) stalls.push([Math.round(now - readyAt), Math.round(late)]);
    tick = now;
  }, 10).unref();
  const counted = count;
  count = async () => {
    const own = JSON.parse(await counted()) as Record<string, unknown>;
    const ms = (ns: number) => +(ns / 1e6).toFixed(1);
    own.eventLoop = {
      ...(own.answerPath as object),
      p50: ms(eld.percentile(50)),
      p99: ms(eld.percentile(99)),
      max: ms(eld.max),
      stalls: stalls.splice(0),
    };
    eld.reset();
    return JSON.stringify(own);
  };
  console.log(`READY ${url} ${metricsUrl ?? url}`);
  for await (const line of createInterface({ input: process.stdin })) {
    if (line === 'count') console.log(`COUNT ${await count()}`);
    if (line === 'mem') console.log(`MEM ${JSON.stringify(await memoryParts())}`);
    if (line === 'exit') break;
  }
  await close();
  process.exit(0);
}

// ---- the load -----------------------------------------------------------------------------------------------

const run = randomBytes(3).toString('hex');
let sequence = 0;
/**
 * The stand-in Slack: each mention is also a message in it, so chronops' reply in the mention's thread is
 * accepted (a reply to a message Slack does not have is refused with thread_not_found).
 */
let seedTo: ((channel: string, ts: string) => void) | undefined;

/** A distinct, signed app_mention carrying a real command. */
function signedEvent(): { body: string; headers: Record<string, string> } {
  sequence += 1;
  const now = Math.floor(Date.now() / 1000);
  const ts = `${now}.${String(sequence).padStart(6, '0')}`;
  const channel = `C0BENCH${String(sequence % CHANNELS).padStart(3, '0')}`;
  seedTo?.(channel, ts);
  const body = JSON.stringify({
    token: 'legacy',
    team_id: 'T0BENCH',
    api_app_id: 'A0BENCH',
    type: 'event_callback',
    event_id: `Ev${run}${sequence}`,
    event_time: now,
    event: {
      type: 'app_mention',
      user: 'U0ALICE',
      text: '<@U0BENCHBOT> list',
      ts,
      channel,
      event_ts: ts,
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
 * The storm's signed requests, made before it starts: making up to 300,000 of them holds this process's event loop
 * for seconds (tens of seconds on a loaded machine), which must not fall inside what the storm or the JANDI probe
 * measure (it did: the probe's first command "took" 4-21 s, the wait of its answer to be read here).
 */
function stormPool(seconds: number) {
  return Array.from({ length: Math.min(15_000 * seconds, 300_000) }, signedEvent);
}

async function maxThroughput(url: string, seconds: number, pool: ReturnType<typeof stormPool>) {
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
  // How late this process sent each request (its own event loop, the machine's cores it waits for): part
  // of each latency above, and not the server's doing.
  const late: number[] = [];
  const sendOne = (due: number) =>
    new Promise<void>((resolve) => {
      late.push(performance.now() - due);
      const { body, headers } = signedEvent();
      const req = request(
        { host: target.hostname, port: target.port, path: target.pathname, method: 'POST', agent, headers },
        (res) => {
          res.resume();
          res.on('end', () => {
            latencies.push(performance.now() - due);
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
    inFlight.push(sendOne(due));
  }
  await Promise.all(inFlight);
  agent.destroy();
  latencies.sort((a, b) => a - b);
  late.sort((a, b) => a - b);
  const pct = (values: number[], p: number) =>
    +values[Math.min(values.length - 1, Math.floor((values.length * p) / 100))]!.toFixed(2);
  return {
    sent: total,
    ok,
    failed,
    latencyMs: {
      p50: pct(latencies, 50),
      p99: pct(latencies, 99),
      max: +latencies.at(-1)!.toFixed(2),
    } as Latency,
    sentLateMs: { p99: pct(late, 99), max: +late.at(-1)!.toFixed(2) },
  };
}

/**
 * Storm isolation: while Slack storms, a JANDI command every second (JANDI holds the request for the worker's
 * answer, up to 3 s). Returns each command's time to its answer and how many got the command's real answer in time.
 */
async function jandiProbe(url: string, until: () => boolean) {
  const latencies: number[] = [];
  let answered = 0;
  let fallback = 0;
  let n = 0;
  let worst: { at: string; ms: number } | undefined;
  while (!until()) {
    const started = performance.now();
    const body = JSON.stringify({
      token: JANDI_TOKEN,
      teamName: 'shop',
      roomName: 'Ops room',
      writerName: 'Kim',
      writerEmail: 'kim@example.com',
      text: `/chronops list ${run}-${++n}`,
      keyword: '/chronops',
      createdAt: new Date().toISOString(),
    });
    const res = await fetch(`${url}/jandi/webhook`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    }).catch(() => undefined);
    const text = res ? await res.text() : '';
    const took = performance.now() - started;
    latencies.push(took);
    if (took > (worst?.ms ?? 0))
      worst = { at: new Date(Date.now() - took).toISOString(), ms: Math.round(took) };
    if (res?.status === 200 && !text.includes('the answer follows')) answered++;
    else fallback++;
    const wait = 1000 - (performance.now() - started);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  latencies.sort((a, b) => a - b);
  const pct = (p: number) =>
    latencies.length === 0
      ? Number.NaN
      : +latencies[Math.min(latencies.length - 1, Math.floor((latencies.length * p) / 100))]!.toFixed(1);
  return {
    commands: latencies.length,
    answeredInTime: answered,
    fallback,
    p50: pct(50),
    p99: pct(99),
    max: pct(100),
    worst,
  };
}

// ---- orchestration ------------------------------------------------------------------------------------------

interface Child {
  url: string;
  /** Where the relay's gauges are read. */
  metricsUrl: string;
  pid: number;
  ask(line: string, answer: string): Promise<string>;
  stop(): Promise<void>;
}

function startChild(target: Target, slackApiUrl: string): Promise<Child> {
  const child: ChildProcess = spawn(
    process.execPath,
    [
      ...(process.env.BENCH_NODE_ARGS ?? (target === 'bolt' ? '' : SERVE_NODE_ARGS))
        .split(' ')
        .filter(Boolean),
      '--experimental-strip-types',
      '--no-warnings=ExperimentalWarning',
      // BENCH_CPU_PROF=dir: a V8 CPU profile of each server's main thread, written there when it exits.
      ...(process.env.BENCH_CPU_PROF && target !== 'bolt'
        ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`]
        : []),
      new URL(import.meta.url).pathname,
      'serve',
      target,
      slackApiUrl,
    ],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
      env: target === 'bolt' ? process.env : { ...process.env, ...SERVE_ENV },
      detached: process.env.BENCH_SESSION === 'own',
    },
  );
  return childLines(child).then(({ ready, ask, stop }) => {
    const [url = ready, metricsUrl = url] = ready.split(' ');
    return { url, metricsUrl, pid: child.pid!, ask, stop };
  });
}

/**
 * A process's name and the CPU time (user + system, every thread) it has used, in ms (Linux /proc; 100 ticks a
 * second).
 */
function procStat(pid: number | string): { name: string; cpuMs: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
  return {
    name: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(') ')),
    cpuMs: (Number(fields[11]) + Number(fields[12])) * 10,
  };
}

const cpuMsOf = (pid: number) => procStat(pid).cpuMs;

/**
 * CPU time (ms) of every PostgreSQL server process on this machine (the postgres targets' database: the bench's
 * PostgreSQL is on loopback), those that exited since not counted — sample it only across a phase.
 */
function databaseCpuMs(): number {
  let ms = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const p = procStat(pid);
      if (p.name.startsWith('postgres')) ms += p.cpuMs;
    } catch {
      // gone meanwhile
    }
  }
  return ms;
}

/**
 * This process's resident memory by kind of mapping (MB, from /proc/self/smaps): PGlite's WebAssembly memory (the
 * anonymous mapping of exactly its size: its resident part is what PostgreSQL has touched), the other anonymous
 * memory (V8's heaps and code, malloc, stacks), and files (node itself).
 */
function residentByMapping(wasmBytes: number | undefined) {
  let wasm = 0;
  let anon = 0;
  let files = 0;
  let size = 0;
  let file = false;
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      size = Number.parseInt(head[2]!, 16) - Number.parseInt(head[1]!, 16);
      file = head[3]!.startsWith('/');
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (!rss) continue;
    const kb = Number(rss[1]);
    if (file) files += kb;
    else if (wasmBytes !== undefined && size === wasmBytes) wasm += kb;
    else anon += kb;
  }
  return {
    ...(wasmBytes !== undefined ? { wasmResident: Math.round(wasm / 1024) } : {}),
    otherAnon: Math.round(anon / 1024),
    files: Math.round(files / 1024),
  };
}

/** Resident memory of a process and its peak, in MB (Linux /proc). */
function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { rss: Math.round(kb('VmRSS') / 1024), peak: Math.round(kb('VmHWM') / 1024) };
}

/** The stand-in Slack in a process of its own (bench/slack-child.ts). */
async function startSlack() {
  const child = spawn(
    process.execPath,
    [
      '--experimental-strip-types',
      '--no-warnings=ExperimentalWarning',
      new URL('./slack-child.ts', import.meta.url).pathname,
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const lines = await childLines(child);
  // The mentions about to be sent, written together once the code that made them has run (a storm's pool: one write).
  let seeds: string[] = [];
  return {
    url: lines.ready,
    seed: (channel: string, ts: string) => {
      if (seeds.length === 0) {
        queueMicrotask(() => {
          child.stdin!.write(seeds.join(''));
          seeds = [];
        });
      }
      seeds.push(`seed ${channel} ${ts}\n`);
    },
    /** chat.postMessage calls it took (200, ok: a refused reply costs chronops less than a real one), and all. */
    count: async () => JSON.parse(await lines.ask('count', 'COUNT')) as { accepted: number; posts: number },
    stop: lines.stop,
  };
}

async function bench(target: Target) {
  const slack = await startSlack();
  seedTo = slack.seed;
  const child = await startChild(target, slack.url).catch(async (error) => {
    await slack.stop();
    throw error;
  });
  const curve: Array<[number, number]> = [];
  const t0 = Date.now();
  const sampler = setInterval(() => {
    try {
      curve.push([Math.round((Date.now() - t0) / 1000), memoryOf(child.pid).rss]);
    } catch {
      // exited
    }
  }, 1000);
  // Where the memory is, every MEMORY_PARTS_SECONDS: the main thread's heap and buffers, the database thread's heap
  // and its WebAssembly memory (PGlite), as the server itself reports them.
  const parts: Array<{ t: number; phase: string } & Record<string, number | string>> = [];
  let phase = 'warm-up';
  let asking = false;
  const partsSampler =
    target === 'bolt' || target === 'seed'
      ? undefined
      : setInterval(() => {
          if (asking) return;
          asking = true;
          const t = Math.round((Date.now() - t0) / 1000);
          const at = phase;
          child
            .ask('mem', 'MEM')
            .then((line) => parts.push({ t, phase: at, ...JSON.parse(line) }))
            .catch(() => {})
            .finally(() => {
              asking = false;
            });
        }, MEMORY_PARTS_SECONDS * 1000);
  try {
    const counted = target !== 'bolt' && target !== 'seed';
    // The server's event loop per phase (see serve): delay percentiles and stalls since the last count.
    const eventLoop: Record<string, { serverMs?: { n: number; p99: number } } | undefined> = {};
    const done = async (label: string) => {
      if (!counted) return 0;
      const c = JSON.parse(await child.ask('count', 'COUNT')) as {
        done?: number;
        eventLoop?: (typeof eventLoop)[string];
      };
      eventLoop[label] = c.eventLoop;
      return c.done ?? 0;
    };
    const warm = await fixedRate(child.url, RATE, 3);
    await done('start+warm');
    phase = '333/s';
    const onPostgres = target.startsWith('postgres');
    /** The server's and (PostgreSQL) the database's CPU time from here, in ms. */
    const cpuMark = () => {
      const server = cpuMsOf(child.pid);
      const db = onPostgres ? databaseCpuMs() : 0;
      return () => ({
        server: cpuMsOf(child.pid) - server,
        database: onPostgres ? databaseCpuMs() - db : null,
      });
    };
    const fixedCpu = cpuMark();
    const fixed = await fixedRate(child.url, RATE, RATE_SECONDS);
    const cpuAt333 = fixedCpu();
    await done('fixed333');
    const pool = stormPool(SECONDS);
    const doneBeforeStorm = await done('pause');
    phase = 'storm';
    const cpuBeforeStorm = cpuMsOf(child.pid);
    const stormStarted = Date.now();
    let storming = true;
    const probing =
      target === 'bolt' || target === 'seed' || target === 'pglite-before'
        ? Promise.resolve(null)
        : jandiProbe(child.url, () => !storming);
    const max = await maxThroughput(child.url, SECONDS, pool);
    storming = false;
    phase = '333/s after';
    const stormEnded = Date.now();
    const cpuDuringStorm = cpuMsOf(child.pid) - cpuBeforeStorm;
    const doneAfterStorm = await done('storm');
    const isolation = await probing;
    let relayCaughtUpMs: number | null = null;
    // A front alone (BENCH_FRONT_WORK=none): no relay runs.
    const watching = target.endsWith('+kafka') && !(target === 'postgres-front+kafka' && FRONT_ALONE);
    const watch = watching
      ? (async () => {
          // The relay has caught up when the oldest delivery waiting for Kafka is under a second old.
          while (Date.now() - stormEnded < 120_000) {
            const text = await (await fetch(`${child.metricsUrl}/metrics`)).text();
            const lag = Number(
              /^chronops_relay_lag_seconds(?:\{[^}]*\})? (\S+)$/m.exec(text)?.[1] ?? Number.NaN,
            );
            if (lag <= 1) {
              relayCaughtUpMs = Date.now() - stormEnded;
              return;
            }
            await new Promise((r) => setTimeout(r, 250));
          }
        })()
      : Promise.resolve();
    const after = await fixedRate(child.url, RATE, AFTER_SECONDS);
    await done('after');
    await watch;
    let drain: {
      seconds: number;
      commandsPerSecond: number;
      pendingAtEnd: number;
      serverCpuMsPerCommand: number;
      databaseCpuMsPerCommand: number | null;
    } | null = null;
    if (counted && DRAIN_SECONDS > 0) {
      phase = 'drain';
      const from = await done('relay-wait');
      const drainCpu = cpuMark();
      const started = Date.now();
      await new Promise((r) => setTimeout(r, DRAIN_SECONDS * 1000));
      const inboxNow = JSON.parse(await child.ask('count', 'COUNT')) as { done?: number; pending?: number };
      const cpu = drainCpu();
      const handled = Math.max(1, (inboxNow.done ?? 0) - from);
      drain = {
        serverCpuMsPerCommand: +(cpu.server / handled).toFixed(2),
        databaseCpuMsPerCommand: cpu.database === null ? null : +(cpu.database / handled).toFixed(2),
        seconds: DRAIN_SECONDS,
        commandsPerSecond: Math.round((((inboxNow.done ?? 0) - from) * 1000) / (Date.now() - started)),
        pendingAtEnd: inboxNow.pending ?? 0,
      };
    }
    const peak = memoryOf(child.pid).peak;
    const replies = await slack.count();
    const inbox =
      target === 'bolt' || target === 'seed' ? null : JSON.parse(await child.ask('count', 'COUNT'));
    return {
      target: label(target),
      max,
      fixed333: fixed,
      fixed333AfterMax: after,
      answered200: warm.ok + max.ok + fixed.ok + after.ok,
      inbox,
      eventLoop,
      // The server's CPU time (all its threads) during the storm, per request answered and per command handled.
      serverCpuDuringStorm: {
        ms: cpuDuringStorm,
        perRequestMs: +(cpuDuringStorm / Math.max(1, max.ok)).toFixed(2),
      },
      // CPU time (ms) a request at 333/s cost, the commands the worker handled meanwhile included: the server's,
      // and on PostgreSQL the database's (every PostgreSQL process of this machine).
      cpuPerRequestAt333: {
        server: +(cpuAt333.server / Math.max(1, fixed.ok)).toFixed(2),
        database: cpuAt333.database === null ? null : +(cpuAt333.database / Math.max(1, fixed.ok)).toFixed(2),
      },
      commandsPerSecondDuringStorm: counted
        ? Math.round(((doneAfterStorm - doneBeforeStorm) * 1000) / (stormEnded - stormStarted))
        : null,
      drain,
      loadAverage: loadavg().map((l) => +l.toFixed(1)),
      relayCaughtUpMs,
      isolation,
      repliesPosted: replies.accepted,
      repliesRefused: replies.posts - replies.accepted,
      peakMemoryMb: peak,
      memoryCurve: curve.filter((_, i) => i % (curve.length > 300 ? 15 : 5) === 0),
      memoryParts: parts,
    };
  } finally {
    clearInterval(sampler);
    clearInterval(partsSampler);
    await child.stop();
    seedTo = undefined;
    await slack.stop();
  }
}

async function main(): Promise<void> {
  const targets = (
    process.env.BENCH_TARGETS ?? (MEMORY_MODE ? 'pglite+kafka' : 'bolt,pglite,postgres')
  ).split(',') as Target[];
  const rounds = Number(process.env.BENCH_ROUNDS ?? 1);
  const kafka = targets.some((t) => t === 'seed' || t.endsWith('+kafka'))
    ? await MockKafka.start()
    : undefined;
  if (kafka) process.env.BENCH_BROKERS = kafka.brokers.join(',');
  const results: Array<Awaited<ReturnType<typeof bench>> & { round: number }> = [];
  try {
    for (let round = 1; round <= rounds; round++) {
      for (const target of targets) {
        console.error(`round ${round}: ${label(target)}…`);
        const r = { round, ...(await bench(target)) };
        console.error(JSON.stringify(r));
        results.push(r);
      }
    }
  } finally {
    await kafka?.stop();
  }
  console.log(
    '\n| round | server | max req/s | p50 / p99 / max ms at max | p50 / p99 / max ms at 333/s | same, after the max run | peak MB | relay caught up after the storm | JANDI command during the storm: p50 / p99 ms (answered in time) | commands/s during the storm | drain commands/s | drain CPU ms per command (server + database) | 333/s: the server’s own p99 / the load generator sent late, p99 | load average |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  const ms = (l: Latency) => `${l.p50} / ${l.p99} / ${l.max}`;
  for (const r of results) {
    console.log(
      `| ${r.round} | ${r.target} | ${r.max.requestsPerSecond} | ${ms(r.max.latencyMs)} | ${ms(r.fixed333.latencyMs)} | ${ms(r.fixed333AfterMax.latencyMs)} | ${r.peakMemoryMb} | ${r.relayCaughtUpMs === null ? '—' : `${r.relayCaughtUpMs} ms`} | ${r.isolation ? `${r.isolation.p50} / ${r.isolation.p99} (${r.isolation.answeredInTime}/${r.isolation.commands})` : '—'} | ${r.commandsPerSecondDuringStorm ?? '—'} | ${r.drain?.commandsPerSecond ?? '—'} | ${r.drain ? `${r.drain.serverCpuMsPerCommand}${r.drain.databaseCpuMsPerCommand === null ? '' : ` + ${r.drain.databaseCpuMsPerCommand}`}` : '—'} | ${r.eventLoop.fixed333?.serverMs?.n ? r.eventLoop.fixed333.serverMs.p99 : '—'} / ${r.fixed333.sentLateMs.p99} ms | ${r.loadAverage.join(' ')} |`,
    );
  }
  console.log(
    `\n${JSON.stringify({ date: new Date().toISOString(), node: process.version, connections: CONNECTIONS, seconds: SECONDS, results }, null, 2)}`,
  );
}

if (process.argv[2] === 'serve') await serve(process.argv[3] as Target, process.argv[4]!);
else await main();
