// npm run bench:recovery — how long an interrupted converge takes to complete after its server is killed
// (SIGKILL, a real `chronops serve` process, at the point right after its first AWS call of the converge):
//
// - embedded database (PGlite): the server is restarted at once; measured from the restarted server listening
//   (and from the restart) to the interrupted transition done. Target ≤ 5 s.
// - PostgreSQL, three servers: nobody restarts anything; measured from the kill to the transition done by
//   another server (lease 8 s, heartbeat 2 s). Target ≤ 15 s.
//
// BENCH_KILLS kills on each (default 20). The servers load the test-only fault hook (test/support/fault.ts),
// which shares one simulated AWS between processes and kills a server at the chosen point.
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { dropSchemas, freshSchema, POSTGRES_URL } from '../test/support/harness.ts';
import { api, type ServerProcess, startServer, tempDir, writeConfig } from '../test/support/process.ts';

const KILLS = Number(process.env.BENCH_KILLS ?? 20);
const POINT = 'after-call:RegisterScalableTarget:1';
const services = ['web', 'api', 'batch'];

function config(extra: Record<string, unknown> = {}) {
  return {
    timezone: 'Asia/Seoul',
    dryRun: false,
    resources: {
      ecs: services.map((name) => ({
        name,
        cluster: 'shop',
        service: name,
        region: 'ap-northeast-2',
        maxTasks: 50,
      })),
    },
    server: { host: '127.0.0.1', port: 0 },
    aws: {
      simulate: {
        ecs: Object.fromEntries(
          services.map((name) => [
            name,
            { cluster: 'shop', service: name, desiredCount: 2, scalableTarget: { min: 2, max: 10 } },
          ]),
        ),
      },
    },
    ...extra,
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * `promise`, or a failure after `ms`. The timer is cleared either way: a timer left pending kept the process
 * alive (and then failed it with an unhandled rejection) a minute after the results were printed.
 */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(what)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function stats(values: number[]) {
  const s = [...values].sort((a, b) => a - b);
  const median = s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  return { n: s.length, median: Math.round(median), min: Math.round(s[0]!), max: Math.round(s.at(-1)!) };
}

/** A window on `service` from 3 s from now, `amount` tasks: its start converge is what gets interrupted. */
async function window(url: string, service: string, amount: number): Promise<string> {
  const r = await api(url, 'POST', '/api/windows', {
    name: `k${amount}`,
    ecs: [{ resource: service, amount }],
    timing: {
      mode: 'explicit',
      at: new Date(Date.now() + 3000).toISOString(),
      until: new Date(Date.now() + 3600_000).toISOString(),
    },
  });
  if (r.status !== 201) throw new Error(JSON.stringify(r.body));
  return r.body.window.id;
}

async function startDone(url: string, windowId: string): Promise<boolean> {
  const { body } = await api(url, 'GET', `/api/windows/${windowId}`);
  return body.transitions.find((t: { kind: string }) => t.kind === 'start')?.status === 'done';
}

async function until(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

async function pglite(): Promise<{ fromListening: number[]; fromRestart: number[] }> {
  const dir = tempDir();
  const mark = join(dir, 'killed');
  const path = writeConfig(config({ database: { dataDir: join(dir, 'db') } }));
  const env = {
    CHRONOPS_TEST_AWS_JOURNAL: join(dir, 'aws.jsonl'),
    CHRONOPS_TEST_KILL_MARK: mark,
    CHRONOPS_TEST_KILL_AT: POINT,
    CHRONOPS_TEST_KILL_REARM: '1',
  };
  const fromListening: number[] = [];
  const fromRestart: number[] = [];
  let server = await startServer(path, env, 180_000, { faults: true });
  try {
    for (let i = 0; i < KILLS; i++) {
      rmSync(mark, { force: true });
      const id = await window(server.url, services[i % services.length]!, 3 + i);
      await within(server.exited, 60_000, 'not killed');
      const restart = Date.now();
      server = await startServer(path, env, 180_000, { faults: true });
      const listening = Date.now();
      await until('the interrupted converge', 60_000, () => startDone(server.url, id));
      fromListening.push(Date.now() - listening);
      fromRestart.push(Date.now() - restart);
      console.log(
        `pglite kill ${i + 1}/${KILLS}: done ${fromListening.at(-1)} ms after listening, ${fromRestart.at(-1)} ms after the restart`,
      );
    }
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return { fromListening, fromRestart };
}

async function postgres(): Promise<number[]> {
  const schema = freshSchema();
  const dir = tempDir();
  const mark = join(dir, 'killed');
  const path = writeConfig(config());
  const env = {
    DATABASE_URL: POSTGRES_URL,
    CHRONOPS_SCHEMA: schema,
    CHRONOPS_TEST_AWS_JOURNAL: join(dir, 'aws.jsonl'),
    CHRONOPS_TEST_KILL_MARK: mark,
    CHRONOPS_TEST_KILL_AT: POINT,
    CHRONOPS_TEST_KILL_REARM: '1',
  };
  // The mark exists while servers start: nobody dies before the first window.
  const arm = (on: boolean) => (on ? rmSync(mark, { force: true }) : writeFileSync(mark, 'hold\n'));
  arm(false);
  const takeovers: number[] = [];
  let servers: ServerProcess[] = [await startServer(path, env, 180_000, { faults: true })];
  servers.push(
    ...(await Promise.all([
      startServer(path, env, 180_000, { faults: true }),
      startServer(path, env, 180_000, { faults: true }),
    ])),
  );
  try {
    for (let i = 0; i < KILLS; i++) {
      arm(true);
      const live = servers.filter((s) => s.child.exitCode === null && s.child.signalCode === null);
      const id = await window(live[i % live.length]!.url, services[i % services.length]!, 3 + i);
      await until('a kill', 60_000, async () => existsSync(mark));
      const killedAt = Number(readFileSync(mark, 'utf8').trim().split(' ').at(-1));
      const survivors = () => servers.filter((s) => s.child.exitCode === null && s.child.signalCode === null);
      await until('a survivor to carry on', 60_000, async () => {
        const s = survivors()[0];
        return s ? startDone(s.url, id) : false;
      });
      takeovers.push(Date.now() - killedAt);
      console.log(
        `postgres kill ${i + 1}/${KILLS}: carried on by another server ${takeovers.at(-1)} ms after the kill`,
      );
      // Back to three servers (the replacement's start is not measured), then hold kills until the next window.
      arm(false);
      servers = survivors();
      servers.push(await startServer(path, env, 180_000, { faults: true }));
    }
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    await dropSchemas(schema);
    rmSync(dir, { recursive: true, force: true });
  }
  return takeovers;
}

const only = process.argv[2];
if (only !== 'postgres') {
  const r = await pglite();
  console.log(
    'PGlite, restarted: interrupted converge done after the restart listened',
    stats(r.fromListening),
  );
  console.log('PGlite, restarted: … after the restart began (process start included)', stats(r.fromRestart));
}
if (only !== 'pglite') {
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  await client.end();
  console.log(
    'PostgreSQL, 3 servers: interrupted converge done by another server after the kill',
    stats(await postgres()),
  );
}
