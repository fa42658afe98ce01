// npm run bench:power — office hours at scale: 1,000 EC2 instances and 200 RDS instances on 50 schedules, all
// starting at the same minute and stopping the minute after, on the embedded database (PGlite) with the simulated
// AWS answering each call after BENCH_LATENCY_MS (default 30 ms, a fast AWS answer). For each of the two ticks:
// the AWS calls chronops made (describes, starts/stops), and how late after its minute each resource's call was
// sent; side by side with the naive loop (one describe and one start per resource, sequentially, as a script over
// Instance Scheduler's table would), run against the same simulated AWS.
//
// Targets (issue 7): at most one describe per 100 resources; every transition carried out within 5 s of its minute.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AwsGateway, type CloudCall } from '../src/aws/gateway.ts';
import { AwsSimulator, type SimulatorSpec } from '../src/aws/simulator.ts';
import { startChronops } from '../src/hosts/server.ts';
import { parseConfig } from '../src/kernel/config.ts';
import { createLogger } from '../src/kernel/logger.ts';
import { PgliteDb } from '../src/store/pglite-db.ts';

const EC2 = Number(process.env.BENCH_EC2 ?? 1000);
const RDS = Number(process.env.BENCH_RDS ?? 200);
const SCHEDULES = Number(process.env.BENCH_SCHEDULES ?? 50);
const LATENCY_MS = Number(process.env.BENCH_LATENCY_MS ?? 30);
const REGION = 'us-east-1';

const ec2Id = (i: number) => `i-${(i + 1).toString(16).padStart(17, '0')}`;
const rdsId = (i: number) => `bench-db-${i + 1}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function hhmm(d: Date): string {
  return `${String(d.getUTCHours()).padStart(2, '0')}:${String(d.getUTCMinutes()).padStart(2, '0')}`;
}

function spec(): SimulatorSpec {
  const ec2: NonNullable<SimulatorSpec['ec2']> = {};
  for (let i = 0; i < EC2; i++) ec2[ec2Id(i)] = { state: 'stopped', startSeconds: 5, stopSeconds: 5 };
  const rds: NonNullable<SimulatorSpec['rds']> = {};
  for (let i = 0; i < RDS; i++)
    rds[rdsId(i)] = { engine: 'postgres', status: 'stopped', startSeconds: 5, stopSeconds: 5 };
  return { ec2, rds };
}

/** The simulator, each answer after LATENCY_MS: what a round trip to AWS costs. */
function slowSimulator(): AwsSimulator {
  const simulator = new AwsSimulator(spec());
  const send = simulator.send.bind(simulator);
  simulator.send = async (service, command, input) => {
    await sleep(LATENCY_MS);
    return send(service, command, input);
  };
  return simulator;
}

interface Tick {
  what: string;
  calls: Record<string, number>;
  describes: number;
  changes: number;
  /** Per resource: ms from its minute to the call that started/stopped it. */
  lateness: number[];
  /** ms from the minute to the last resource's call. */
  lastMs: number;
}

function tickOf(
  what: string,
  calls: CloudCall[],
  minute: Date,
  verb: 'Start' | 'Stop',
  windowMs = 15_000,
): Tick {
  // chronops' tick: the calls of the 15 s after the minute (its follow-up looks come 20 s after a change).
  const inTick = calls.filter((c) => c.at >= minute && c.at.getTime() < minute.getTime() + windowMs);
  const counts: Record<string, number> = {};
  for (const c of inTick) counts[c.command] = (counts[c.command] ?? 0) + 1;
  const lateness: number[] = [];
  for (const c of inTick) {
    if (!c.ok) continue;
    const sentMs = c.at.getTime() - minute.getTime();
    if (c.command === `${verb}Instances`) {
      for (const _ of (c.input as { InstanceIds: string[] }).InstanceIds) lateness.push(sentMs);
    }
    if (c.command === `${verb}DBInstance`) lateness.push(sentMs);
  }
  lateness.sort((a, b) => a - b);
  return {
    what,
    calls: counts,
    describes: inTick.filter((c) => c.command.startsWith('Describe')).length,
    changes: inTick.filter((c) => c.command.startsWith(verb)).length,
    lateness,
    lastMs: lateness.at(-1) ?? Number.NaN,
  };
}

async function benchChronops(): Promise<Tick[]> {
  const dir = mkdtempSync(join(tmpdir(), 'chronops-bench-power-'));
  const db = await PgliteDb.open(dir);
  // The two minutes: all start at the first, all stop at the next (far enough ahead for start-up under load).
  const now = Date.now();
  const start = new Date(Math.ceil((now + 100_000) / 60_000) * 60_000);
  const stop = new Date(start.getTime() + 60_000);
  const schedules: Record<string, unknown> = {};
  for (let s = 0; s < SCHEDULES; s++) {
    schedules[`sched-${s}`] = {
      timezone: 'UTC',
      periods: [{ begintime: hhmm(start), endtime: hhmm(stop), weekdays: 'mon-sun' }],
    };
  }
  const config = parseConfig(
    {
      timezone: 'UTC',
      dryRun: false,
      schedules,
      resources: {
        ec2: Array.from({ length: EC2 }, (_, i) => ({
          name: `vm-${i}`,
          instanceId: ec2Id(i),
          region: REGION,
          schedule: `sched-${i % SCHEDULES}`,
        })),
        rds: Array.from({ length: RDS }, (_, i) => ({
          name: `db-${i}`,
          instanceId: rdsId(i),
          region: REGION,
          schedule: `sched-${i % SCHEDULES}`,
        })),
      },
      server: { host: '127.0.0.1', port: 0 },
      database: { dataDir: dir },
    },
    {},
  );
  const calls: CloudCall[] = [];
  const gateway = new AwsGateway({
    dryRun: false,
    simulator: slowSimulator(),
    sink: {
      record: async (call) => {
        calls.push(call);
      },
    },
  });
  const chronops = await startChronops(config, {
    db,
    listen: false,
    gateway,
    logger: createLogger({ level: process.env.BENCH_LOG_LEVEL ?? 'warn' }),
  });
  try {
    console.log(
      `  ${EC2} EC2 + ${RDS} RDS on ${SCHEDULES} schedules; start at ${start.toISOString()}, stop at ${stop.toISOString()}`,
    );
    await sleep(stop.getTime() + 20_000 - Date.now());
    return [tickOf('start', calls, start, 'Start'), tickOf('stop', calls, stop, 'Stop')];
  } finally {
    await chronops.close();
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One describe and one start per resource, one after the other. */
async function benchNaive(): Promise<Tick> {
  const simulator = slowSimulator();
  const calls: CloudCall[] = [];
  const gateway = new AwsGateway({
    dryRun: false,
    simulator,
    sink: {
      record: async (call) => {
        calls.push(call);
      },
    },
  });
  const { DescribeInstancesCommand, EC2Client, StartInstancesCommand } = await import('@aws-sdk/client-ec2');
  const { DescribeDBInstancesCommand, RDSClient, StartDBInstanceCommand } = await import(
    '@aws-sdk/client-rds'
  );
  const ec2 = gateway.client(EC2Client, REGION);
  const rds = gateway.client(RDSClient, REGION);
  const opts = { mutating: false, dryRun: false, executionId: '00000000-0000-0000-0000-000000000000' };
  const minute = new Date();
  for (let i = 0; i < EC2; i++) {
    await gateway.send(ec2, new DescribeInstancesCommand({ InstanceIds: [ec2Id(i)] }), opts);
    await gateway.send(ec2, new StartInstancesCommand({ InstanceIds: [ec2Id(i)] }), {
      ...opts,
      mutating: true,
    });
  }
  for (let i = 0; i < RDS; i++) {
    await gateway.send(rds, new DescribeDBInstancesCommand({ DBInstanceIdentifier: rdsId(i) }), opts);
    await gateway.send(rds, new StartDBInstanceCommand({ DBInstanceIdentifier: rdsId(i) }), {
      ...opts,
      mutating: true,
    });
  }
  // The naive loop's tick lasts as long as it takes: every call counts.
  return tickOf('start', calls, minute, 'Start', Number.POSITIVE_INFINITY);
}

function line(t: Tick, total: number): string {
  const p = (q: number) =>
    t.lateness[Math.min(t.lateness.length - 1, Math.floor((t.lateness.length * q) / 100))];
  return (
    `${t.what}: ${Object.values(t.calls).reduce((a, b) => a + b, 0)} AWS calls (${t.describes} describes = 1 per ` +
    `${Math.round(total / Math.max(1, t.describes))} resources, ${t.changes} ${t.what} calls); ` +
    `${t.lateness.length}/${total} carried out; lateness after the minute p50 ${p(50)} ms, p99 ${p(99)} ms, ` +
    `last ${Math.round(t.lastMs)} ms — ${JSON.stringify(t.calls)}`
  );
}

const total = EC2 + RDS;
console.log(`bench:power — ${total} resources, simulated AWS answering in ${LATENCY_MS} ms, PGlite`);
console.log('chronops (one run per AWS kind and region, batched):');
const ticks = await benchChronops();
for (const t of ticks) console.log(`  ${line(t, total)}`);
console.log('naive loop (one describe and one start per resource, sequential):');
const naive = await benchNaive();
console.log(`  ${line(naive, total)}`);
const start = ticks[0]!;
const callsOf = (t: Tick) => Object.values(t.calls).reduce((a, b) => a + b, 0);
console.log(
  `ratio (start tick): ${(callsOf(naive) / callsOf(start)).toFixed(1)}x fewer AWS calls, ` +
    `${(naive.lastMs / start.lastMs).toFixed(1)}x sooner done (${Math.round(start.lastMs)} ms vs ${Math.round(naive.lastMs)} ms)`,
);
const ok = ticks.every(
  (t) => t.describes <= Math.ceil(total / 100) && t.lateness.length === total && t.lastMs <= 5000,
);
console.log(
  `targets (≤ 1 describe per 100 resources, every transition within 5 s): ${ok ? 'met' : 'NOT met'}`,
);
