// Shared set-up for tests that run chronops for real: a config, a database of each kind (PGlite in memory, the
// PostgreSQL server on loopback with a fresh schema per test), and a simulated AWS whose state tests read.

import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { CloudCall } from '../../src/aws/gateway.ts';
import { AwsGateway } from '../../src/aws/gateway.ts';
import { AwsSimulator, type SimulatorSpec } from '../../src/aws/simulator.ts';
import { type Chronops, type ChronopsOptions, startChronops } from '../../src/hosts/server.ts';
import { type Config, parseConfig } from '../../src/kernel/config.ts';
import { createLogger } from '../../src/kernel/logger.ts';
import type { Db } from '../../src/store/db.ts';
import { PostgresDb } from '../../src/store/postgres-db.ts';
import { memoryPglite, releasePglite } from './pglite.ts';

export const POSTGRES_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export function testConfig(overrides: Record<string, unknown> = {}): Config {
  return parseConfig(
    {
      timezone: 'Asia/Seoul',
      graceMinutes: 15,
      resources: {
        ecs: [{ name: 'web', cluster: 'shop', service: 'web', region: 'ap-northeast-2', maxTasks: 20 }],
        aurora: [
          {
            name: 'shop-db',
            clusterId: 'shop-aurora',
            region: 'ap-northeast-2',
            instanceClass: 'db.r6g.large',
            maxExtraReplicas: 3,
          },
        ],
      },
      server: { host: '127.0.0.1', port: 0 },
      database: { dataDir: '/nonexistent-not-used' },
      replicas: { pollSeconds: 1, timeoutMinutes: 5 },
      ...overrides,
    },
    {},
  );
}

export function simulatorSpec(): SimulatorSpec {
  return {
    ecs: { web: { cluster: 'shop', service: 'web', desiredCount: 2, scalableTarget: { min: 2, max: 10 } } },
    aurora: {
      'shop-aurora': {
        engine: 'aurora-mysql',
        writer: 'shop-aurora-1',
        readers: ['shop-aurora-2'],
        readySeconds: 2,
      },
    },
  };
}

export interface Backend {
  name: 'pglite' | 'postgres';
  open(): Promise<{ db: Db; schema: string; drop(): Promise<void> }>;
}

export const backends: Backend[] = [
  {
    name: 'pglite',
    open: async () => {
      const db = await memoryPglite();
      return { db, schema: 'chronops', drop: () => releasePglite(db) };
    },
  },
  {
    name: 'postgres',
    open: async () => {
      const schema = freshSchema();
      const db = new PostgresDb(POSTGRES_URL, { max: 5 });
      return {
        db,
        schema,
        drop: async () => {
          await db.close();
          await dropSchemas(schema);
        },
      };
    },
  },
];

export function freshSchema(): string {
  return `ct_${randomBytes(5).toString('hex')}`;
}

export async function dropSchemas(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await client.query(`DROP SCHEMA IF EXISTS ${schema}_boss CASCADE`);
  } finally {
    await client.end();
  }
}

export interface Running extends Chronops {
  simulator: AwsSimulator;
  calls: CloudCall[];
  stopAll(): Promise<void>;
}

/** chronops in this process on a backend, with a simulated AWS that really changes state. */
export async function runChronops(
  backend: Backend,
  options: {
    config?: Config;
    spec?: SimulatorSpec;
    dryRun?: boolean;
    /** Run the gateway's inbox worker (default true). */
    gatewayWorker?: boolean;
    /** Passed to startChronops (SNS sources' HTTPS agent, SQS pollers' timing). */
    snsAgent?: ChronopsOptions['snsAgent'];
    sqs?: ChronopsOptions['sqs'];
    /** Answer AWS calls from the simulator (default true); false: the SDK clients (mocked by the test). */
    simulated?: boolean;
  } = {},
): Promise<Running> {
  const { db, schema, drop } = await backend.open();
  const config = options.config ?? testConfig();
  const simulator = new AwsSimulator(options.spec ?? simulatorSpec());
  const calls: CloudCall[] = [];
  let chronops: Chronops | undefined;
  const gateway = new AwsGateway({
    dryRun: options.dryRun ?? false,
    ...(options.simulated === false ? {} : { simulator }),
    sink: {
      record: async (call, executionId) => {
        calls.push(call);
        await chronops?.store.auditCloudCall(call, executionId);
      },
    },
  });
  try {
    chronops = await startChronops(config, {
      db,
      schema,
      gateway,
      pollMs: 250,
      logger: createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
      ...(options.gatewayWorker === undefined ? {} : { gatewayWorker: options.gatewayWorker }),
      ...(options.snsAgent ? { snsAgent: options.snsAgent } : {}),
      ...(options.sqs ? { sqs: options.sqs } : {}),
    } satisfies ChronopsOptions);
  } catch (error) {
    // Refused to start (a test of that): the database is the caller's no more.
    await drop().catch(() => {});
    throw error;
  }
  const running = chronops;
  return Object.assign(running, {
    simulator,
    calls,
    stopAll: async () => {
      await running.close();
      await drop();
    },
  });
}

/** Polls `check` until it returns a value (not undefined/false), or fails after `timeoutMs`. */
export async function eventually<T>(
  check: () => Promise<T | undefined | false>,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value as T;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

export function isoIn(ms: number): string {
  return new Date(Date.now() + ms).toISOString();
}
