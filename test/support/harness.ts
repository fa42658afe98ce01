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
import { PgliteDb } from '../../src/store/pglite-db.ts';
import { PostgresDb } from '../../src/store/postgres-db.ts';
import { newDatabaseDump } from './pglite-template.ts';

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

// Starting an in-memory PGlite costs seconds (its WebAssembly, then initdb: 5–15 s on a loaded 2-core machine),
// migrating it a fraction of a second. So a test file keeps the ones its tests have finished with: dropped back to
// the state of a just-opened database (every schema it did not have removed), checked to be exactly that (the same
// catalogue counts, no channel listened to), and handed to the next test; one that is not is closed instead. A
// database is never shared by two tests (or two servers of one test) at the same time.
interface Pristine {
  schemas: string[];
  fingerprint: string;
}
const idlePglite: PgliteDb[] = [];
const pristineOf = new WeakMap<PgliteDb, Pristine>();
const lent = new WeakSet<PgliteDb>();

const FINGERPRINT_SQL = `SELECT concat_ws(',',
    (SELECT count(*) FROM pg_namespace), (SELECT count(*) FROM pg_class), (SELECT count(*) FROM pg_proc),
    (SELECT count(*) FROM pg_type), (SELECT count(*) FROM pg_event_trigger), (SELECT count(*) FROM pg_extension),
    (SELECT count(*) FROM pg_prepared_xacts), (SELECT count(*) FROM pg_listening_channels())) AS f`;

/** An in-memory PGlite in the state of a just-opened one: a finished test's, reset, or a new one. */
export async function memoryPglite(): Promise<PgliteDb> {
  const idle = idlePglite.pop();
  if (idle) {
    lent.add(idle);
    return idle;
  }
  const db = await PgliteDb.open('memory', { template: newDatabaseDump() });
  lent.add(db);
  const schemas = (await db.query<{ nspname: string }>('SELECT nspname FROM pg_namespace')).map(
    (r) => r.nspname,
  );
  const [{ f }] = (await db.query<{ f: string }>(FINGERPRINT_SQL)) as [{ f: string }];
  pristineOf.set(db, { schemas, fingerprint: f });
  return db;
}

/** Gives back a database from memoryPglite: reset for the next test if it can be made pristine, else closed. */
export async function releasePglite(db: PgliteDb): Promise<void> {
  if (!lent.delete(db)) return; // given back already
  const pristine = pristineOf.get(db);
  try {
    if (pristine) {
      const added = await db.query<{ nspname: string }>(
        'SELECT nspname FROM pg_namespace WHERE NOT (nspname = ANY($1))',
        [pristine.schemas],
      );
      for (const { nspname } of added) await db.query(`DROP SCHEMA "${nspname}" CASCADE`);
      const [{ f }] = (await db.query<{ f: string }>(FINGERPRINT_SQL)) as [{ f: string }];
      if (f === pristine.fingerprint) {
        idlePglite.push(db);
        return;
      }
    }
  } catch {
    // Not reusable (its thread failed, a statement was refused): closed below.
  }
  await db.close();
}

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
