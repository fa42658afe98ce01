// npm run bench:jobs — 1,000 HTTP jobs due in the same second, against a loopback service (its own process) that
// answers in 50 ms: dispatch lateness — due → the request written to its connection by the scheduler's HTTP client
// (the issue's "due → request sent"; undici's `undici:request:bodySent` diagnostics channel, published by chronops'
// undici and by Node's fetch alike) and due → the request's arrival at the service (which adds the service's own
// queue: it shares the machine's two cores with the scheduler) — p50/p99/max, and the total time
// (due → every run's result recorded), on the embedded database (PGlite) and on the PostgreSQL server, side by
// side with node-cron + fetch in one process (no database, no record, no limit) — what a user would write by hand.
// Each scheduler runs in a fresh process of its own (its code as cold as a server's first burst: in one process the
// second one measured ran on code the first had warmed, ~30 ms faster).
//
// The service's concurrency limit must hold: the service reports the most requests it had in flight at once. Two
// limits by default (BENCH_LIMITS): 1000 — as many as the jobs, the limit never makes a call wait, so the lateness is
// the scheduler's dispatch alone; 500 — the limit binds: the 501st call waits for the first answer (≥ 50 ms after
// due, by construction), so half the calls' lateness is the service's answer time, not the dispatch.
//
//   npm run bench:jobs                       # both backends at both limits, and node-cron
//   BENCH_BACKENDS=pglite BENCH_JOBS=1000 BENCH_LIMITS=200 npm run bench:jobs
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import diagnostics from 'node:diagnostics_channel';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import cron from 'node-cron';
import pg from 'pg';
import { startChronops } from '../src/hosts/server.ts';
import { parseConfig } from '../src/kernel/config.ts';
import { createLogger } from '../src/kernel/logger.ts';
import type { Db } from '../src/store/db.ts';
import { PgliteDb } from '../src/store/pglite-db.ts';
import { PostgresDb } from '../src/store/postgres-db.ts';

const POSTGRES_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const JOBS = Number(process.env.BENCH_JOBS ?? 1000);
const LIMITS = (process.env.BENCH_LIMITS ?? process.env.BENCH_LIMIT ?? '1000,500').split(',').map(Number);
const DELAY = Number(process.env.BENCH_DELAY_MS ?? 50);
const BACKENDS = (process.env.BENCH_BACKENDS ?? 'pglite,postgres').split(',') as Array<'pglite' | 'postgres'>;
/** Time between chronops' start and the jobs' due second (its start: migrations, pg-boss; 3–20 s under load). */
const LEAD_MS = Number(process.env.BENCH_LEAD_MS ?? 25_000);

interface Report {
  arrivals: Array<{ job: string; at: number }>;
  peak: number;
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((sorted.length * p) / 100) - 1))]!;
}
function lateness(arrivals: Report['arrivals'], due: number) {
  const s = arrivals.map((a) => a.at - due).sort((a, b) => a - b);
  const w = [...written.values()].map((at) => at - due).sort((a, b) => a - b);
  return {
    n: s.length,
    p50: pct(s, 50),
    p99: pct(s, 99),
    max: s.at(-1)!,
    sent: w.length,
    sentMin: w[0]!,
    sentP50: pct(w, 50),
    sentP99: pct(w, 99),
    sentMax: w.at(-1)!,
  };
}

/** When each job's request was written (by path: /work/<i>), from the HTTP clients' diagnostics channel. */
const written = new Map<string, number>();
diagnostics.subscribe('undici:request:bodySent', (message) => {
  const path = (message as { request: { path: string } }).request.path;
  if (path.startsWith('/work/') && !written.has(path)) written.set(path, Date.now());
});

class Service {
  private child: ChildProcess | undefined;
  url = '';
  async start(): Promise<void> {
    this.child = fork(fileURLToPath(new URL('./jobs-service.ts', import.meta.url)), [], {
      env: { ...process.env, DELAY_MS: String(DELAY) },
      execArgv: ['--experimental-strip-types', '--no-warnings=ExperimentalWarning'],
    });
    const { port } = await this.next<{ port: number }>();
    this.url = `http://127.0.0.1:${port}`;
  }
  private next<T>(): Promise<T> {
    return new Promise((resolve) => this.child!.once('message', (m) => resolve(m as T)));
  }
  /** How many requests arrived so far (cheap to ask often: the full report is a thousand entries). */
  async count(): Promise<number> {
    this.child!.send({ cmd: 'count' });
    return (await this.next<{ n: number }>()).n;
  }
  async report(): Promise<Report> {
    this.child!.send({ cmd: 'report' });
    return this.next<Report>();
  }
  async reset(): Promise<void> {
    this.child!.send({ cmd: 'reset' });
    await this.next();
  }
  stop(): void {
    this.child?.send({ cmd: 'stop' });
  }
}

/** A due time LEAD_MS ahead, on a whole second, as a cron expression with seconds (UTC). */
function dueAhead(): { due: number; cron: string } {
  const due = Math.ceil((Date.now() + LEAD_MS) / 1000) * 1000;
  const d = new Date(due);
  return { due, cron: `${d.getUTCSeconds()} ${d.getUTCMinutes()} ${d.getUTCHours()} * * *` };
}

async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs: number, what: string) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function benchChronops(kind: 'pglite' | 'postgres', limit: number, service: Service) {
  await service.reset();
  written.clear();
  const schema = `bench_${randomBytes(4).toString('hex')}`;
  let db: Db;
  let cleanup: () => Promise<void>;
  if (kind === 'pglite') {
    const dir = mkdtempSync(join(tmpdir(), 'chronops-bench-jobs-'));
    db = await PgliteDb.open(dir);
    cleanup = async () => rmSync(dir, { recursive: true, force: true });
  } else {
    db = new PostgresDb(POSTGRES_URL, { max: 10 });
    cleanup = async () => {
      const client = new pg.Client({ connectionString: POSTGRES_URL });
      await client.connect();
      await client.query(
        `DROP SCHEMA IF EXISTS ${schema} CASCADE; DROP SCHEMA IF EXISTS ${schema}_boss CASCADE`,
      );
      await client.end();
    };
  }
  const { due, cron: schedule } = dueAhead();
  const config = parseConfig(
    {
      server: { host: '127.0.0.1', port: 0 },
      database: { dataDir: '/unused' },
      services: [{ name: 'bench', baseUrl: service.url, concurrency: limit, timeoutSeconds: 30 }],
      jobs: Array.from({ length: JOBS }, (_, i) => ({
        name: `job-${String(i).padStart(4, '0')}`,
        service: 'bench',
        path: `/work/${i}`,
        body: { i },
        schedule,
        timezone: 'UTC',
      })),
    },
    {},
  );
  const started = Date.now();
  const chronops = await startChronops(config, {
    db,
    schema,
    listen: false,
    logger: createLogger({ level: 'warn' }),
  });
  const startupMs = Date.now() - started;
  if (Date.now() > due - 2000) throw new Error(`startup took ${startupMs} ms: raise BENCH_LEAD_MS`);
  // CPU time of this process (chronops: the main thread and the embedded database's) from the due second until
  // every request has arrived: what the burst costs, whatever the machine's load.
  // And of its main thread alone (where the calls are made): what the client's work costs.
  let cpuAtDue: NodeJS.CpuUsage | undefined;
  let threadAtDue: NodeJS.CpuUsage | undefined;
  // Just before the due second: a timer of the due second itself runs after the burst's first turn (the fire's
  // sleep ends first, and its sending runs in the microtasks between the two timers).
  const atDue = setTimeout(
    () => {
      cpuAtDue = process.cpuUsage();
      threadAtDue = process.threadCpuUsage();
    },
    due - 20 - Date.now(),
  );
  const profile = await profileBurst(`${kind}-${limit}`, due);
  try {
    await waitFor(async () => (await service.count()) >= JOBS, due - Date.now() + 60_000, 'every request');
    await profile?.();
    const cpu = cpuAtDue ? process.cpuUsage(cpuAtDue) : undefined;
    const cpuMs = cpu ? Math.round((cpu.user + cpu.system) / 1000) : NaN;
    const thread = threadAtDue ? process.threadCpuUsage(threadAtDue) : undefined;
    const threadMs = thread ? Math.round((thread.user + thread.system) / 1000) : NaN;
    let finishedAt = 0;
    await waitFor(
      async () => {
        const rows = await db.query<{ n: number; last: Date | null }>(
          `SELECT count(*)::int AS n, max(finished_at) AS last FROM ${schema}.job_runs WHERE finished_at IS NOT NULL`,
        );
        finishedAt = rows[0]?.last ? new Date(rows[0].last).getTime() : 0;
        return rows[0]!.n >= JOBS;
      },
      60_000,
      'every run recorded',
    );
    const report = await service.report();
    const statuses = await db.query<{ status: string; n: number }>(
      `SELECT status, count(*)::int AS n FROM ${schema}.job_runs GROUP BY status`,
    );
    return {
      name: `chronops (${kind})`,
      limit,
      ...lateness(report.arrivals, due),
      totalMs: finishedAt - due,
      peak: report.peak,
      cpuMs,
      threadMs,
      note: `startup ${startupMs} ms; runs ${statuses.map((s) => `${s.status} ${s.n}`).join(', ')}`,
    };
  } finally {
    clearTimeout(atDue);
    await chronops.close();
    await db.close();
    await cleanup();
  }
}

/**
 * BENCH_CPU_PROF=dir: a V8 CPU profile of chronops' main thread from a second before the due second to the last
 * request's arrival (jobs-<backend>.cpuprofile; open it in Chrome's DevTools, or `node bench/profile-top.ts FILE`).
 */
async function profileBurst(kind: string, due: number): Promise<(() => Promise<void>) | undefined> {
  const dir = process.env.BENCH_CPU_PROF;
  if (!dir) return undefined;
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 100 });
  const started = new Promise<void>((resolve) =>
    setTimeout(
      () => void session.post('Profiler.start').then(() => resolve()),
      Math.max(0, due - 1000 - Date.now()),
    ),
  );
  return async () => {
    await started;
    const { profile } = await session.post('Profiler.stop');
    session.disconnect();
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `jobs-${kind}.cpuprofile`), JSON.stringify(profile));
  };
}

async function benchNodeCron(service: Service) {
  await service.reset();
  written.clear();
  const wait = Number(process.env.BENCH_CRON_LEAD_MS ?? 5000);
  const at = Math.ceil((Date.now() + wait) / 1000) * 1000;
  const d = new Date(at);
  const expr = `${d.getUTCSeconds()} ${d.getUTCMinutes()} ${d.getUTCHours()} * * *`;
  let done = 0;
  let lastDone = 0;
  let cpuAtDue: NodeJS.CpuUsage | undefined;
  let threadAtDue: NodeJS.CpuUsage | undefined;
  let cpuMs = NaN;
  let threadMs = NaN;
  const atDue = setTimeout(() => {
    cpuAtDue = process.cpuUsage();
    threadAtDue = process.threadCpuUsage();
  }, at - Date.now());
  const tasks = Array.from({ length: JOBS }, (_, i) =>
    cron.schedule(
      expr,
      async () => {
        const response = await fetch(`${service.url}/work/${i}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-chronops-job': `job-${i}` },
          body: JSON.stringify({ i }),
        });
        await response.text();
        done += 1;
        lastDone = Date.now();
        if (done === JOBS && cpuAtDue) {
          const cpu = process.cpuUsage(cpuAtDue);
          cpuMs = Math.round((cpu.user + cpu.system) / 1000);
          const thread = process.threadCpuUsage(threadAtDue);
          threadMs = Math.round((thread.user + thread.system) / 1000);
        }
      },
      { timezone: 'UTC' },
    ),
  );
  try {
    // node-cron drops an execution it finds late ("missed execution"): wait for all, or for 10 s of quiet.
    await waitFor(
      () => done >= JOBS || (lastDone > 0 && Date.now() - lastDone > 10_000),
      wait + 120_000,
      'node-cron',
    );
    if (Number.isNaN(cpuMs) && cpuAtDue) {
      // Some executions were dropped (never done): the CPU up to now (its quiet wait adds little).
      const cpu = process.cpuUsage(cpuAtDue);
      cpuMs = Math.round((cpu.user + cpu.system) / 1000);
      const thread = process.threadCpuUsage(threadAtDue);
      threadMs = Math.round((thread.user + thread.system) / 1000);
    }
    const report = await service.report();
    return {
      name: 'node-cron + fetch (one process)',
      limit: 0,
      ...lateness(report.arrivals, at),
      totalMs: lastDone - at,
      peak: report.peak,
      cpuMs,
      threadMs,
      note: `no database, no run record, no limit, no retry; ${JOBS - report.arrivals.length} executions dropped by node-cron ("missed execution")`,
    };
  } finally {
    clearTimeout(atDue);
    for (const t of tasks) await t.destroy();
  }
}

type Result = Awaited<ReturnType<typeof benchChronops>> | Awaited<ReturnType<typeof benchNodeCron>>;

// In a scenario's own process (BENCH_ONE=<backend>:<limit> or node-cron): run it, print its result, exit.
const ONE = process.env.BENCH_ONE;
if (ONE) {
  const [kind, limit] = ONE.split(':') as ['pglite' | 'postgres' | 'node-cron', string];
  const service = new Service();
  await service.start();
  try {
    const result =
      kind === 'node-cron' ? await benchNodeCron(service) : await benchChronops(kind, Number(limit), service);
    console.log(`RESULT ${JSON.stringify(result)}`);
  } finally {
    service.stop();
  }
  process.exit(0);
}

/** Runs a scenario in a fresh process (this file, BENCH_ONE set); its other output passes through. */
function runOne(scenario: string): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url)], {
      env: { ...process.env, BENCH_ONE: scenario },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let result: Result | undefined;
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.startsWith('RESULT ')) result = JSON.parse(line.slice(7)) as Result;
      else console.log(line);
    });
    child.once('exit', (code) =>
      result ? resolve(result) : reject(new Error(`${scenario}: exited ${code} without a result`)),
    );
  });
}

const results: Result[] = [];
for (const limit of LIMITS) {
  for (const kind of BACKENDS) {
    results.push(await runOne(`${kind}:${limit}`));
    console.log(JSON.stringify(results.at(-1)));
  }
}
results.push(await runOne('node-cron'));
console.log(
  `\n${JOBS} jobs due in the same second, service answers in ${DELAY} ms; each scheduler in a fresh process`,
);
console.log(
  "sent = due → the request written to its connection (the issue's lateness); arrived = due → its arrival at the service;",
);
console.log(
  "total = due → every result recorded; limit = the service's concurrency limit in chronops' config",
);
console.log(
  'CPU = CPU time of the scheduler process from the due second to the last request (chronops) or answer (node-cron);',
);
console.log(
  'main = the same for its main thread alone (chronops: without the embedded database thread; the HTTP client is here)',
);
console.log(
  `load average at the end: ${loadavg()
    .map((l) => l.toFixed(1))
    .join(', ')}\n`,
);
console.log(
  '| scheduler | limit | requests | sent p50 | sent p99 | sent max | arrived p50 | arrived p99 | total | CPU | main | most in flight | |',
);
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const r of results) {
  console.log(
    `| ${r.name} | ${r.limit || 'none'} | ${r.n} | ${r.sentP50} ms | ${r.sentP99} ms | ${r.sentMax} ms | ${r.p50} ms | ${r.p99} ms | ${r.totalMs} ms | ${r.cpuMs} ms | ${r.threadMs} ms | ${r.peak} | ${r.note} |`,
  );
}
// The service's concurrency limit must hold (the service counts what it had in flight).
const over = results.filter((r) => r.limit > 0 && r.peak > r.limit);
if (over.length > 0) {
  console.error(
    `a service limit was passed: ${over.map((r) => `${r.name} limit ${r.limit}: ${r.peak}`).join(', ')}`,
  );
  process.exit(1);
}
console.log('\nthe service limit held in every run (most in flight ≤ limit)');
process.exit(0);
