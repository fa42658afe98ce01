// A server killed (SIGKILL, a real child process) at each point of an Aurora converge: the interrupted work
// resumes within seconds — on the embedded database when the server is restarted (≤ 5 s), on PostgreSQL when
// another of three servers takes it over (≤ 15 s: lease 8 s) — with no AWS call repeated beyond what idempotency
// absorbs (counted in the calls the simulated AWS received, across processes), and one execution recorded.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Store } from '../../src/capabilities/capacity/store.ts';
import type { Db } from '../../src/store/db.ts';
import { PgliteDb } from '../../src/store/pglite-db.ts';
import { PostgresDb } from '../../src/store/postgres-db.ts';
import { readJournal } from '../support/fault.ts';
import { dropSchemas, freshSchema, POSTGRES_URL } from '../support/harness.ts';
import { api, type ServerProcess, startServer, tempDir, writeConfig } from '../support/process.ts';

export function recoveryConfig(extra: Record<string, unknown> = {}) {
  return {
    timezone: 'Asia/Seoul',
    dryRun: false,
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
    replicas: { pollSeconds: 1, timeoutMinutes: 5 },
    server: { host: '127.0.0.1', port: 0 },
    aws: {
      simulate: {
        ecs: { web: { cluster: 'shop', service: 'web', desiredCount: 2 } },
        aurora: {
          'shop-aurora': {
            engine: 'aurora-mysql',
            writer: 'shop-aurora-1',
            readySeconds: 2,
            deleteSeconds: 1,
          },
        },
      },
    },
    ...extra,
  };
}

export const KILL_POINTS = [
  'after-call:CreateDBInstance:1',
  'after-call:CreateDBInstance:3',
  'before-record:1',
  'following-reader:1',
] as const;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined | false>) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check().catch(() => undefined);
    if (v !== undefined && v !== false) return v as T;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

/** The start transition of the window is done and every reader it asked for is available (in the store). */
async function converged(db: Db, schema: string | undefined, windowId: string): Promise<boolean> {
  const store = new Store(db, schema);
  const ts = await store.listTransitions({ windowId });
  const start = ts.find((t) => t.kind === 'start');
  if (start?.status !== 'done') return false;
  const readers = (await store.listReaders()).filter((r) => r.windowId === windowId);
  return readers.length === 3 && readers.every((r) => r.status === 'available');
}

/** What every scenario asserts once the work is done. */
async function assertOnce(
  db: Db,
  schema: string | undefined,
  windowId: string,
  journal: string,
  point: string,
) {
  const calls = readJournal(journal);
  const creates = calls.filter((c) => c.command === 'CreateDBInstance');
  const ids = creates.map((c) => String(c.input.DBInstanceIdentifier));
  assert.equal(new Set(ids).size, 3, `three readers created (${point})`);
  // Sent once each: a create answered before the kill is not sent again (the resumed converge sees the reader).
  assert.equal(
    creates.length,
    3,
    `CreateDBInstance sent ${creates.length} times (${point}): ${ids.join(', ')}`,
  );
  assert.equal(calls.filter((c) => c.command === 'DeleteDBInstance').length, 0, 'nothing deleted');
  const store = new Store(db, schema);
  const ts = await store.listTransitions({ windowId });
  const start = ts.find((t) => t.kind === 'start')!;
  const executions = (await store.listExecutions({ limit: 100 })).filter((e) => e.resource === 'shop-db');
  const done = executions.filter((e) => e.status === 'done');
  assert.equal(done.length, 1, `one execution recorded (${point}): ${JSON.stringify(executions)}`);
  assert.equal(done[0]!.transitionId, start.id);
  const readers = (await store.listReaders()).filter((r) => r.windowId === windowId);
  assert.deepEqual(
    readers.map((r) => r.instanceId).sort(),
    [...new Set(ids)].sort(),
    'each reader followed once',
  );
}

async function createWindow(url: string): Promise<string> {
  const created = await api(url, 'POST', '/api/windows', {
    name: 'launch',
    aurora: [{ resource: 'shop-db', amount: 3 }],
    timing: {
      mode: 'explicit',
      at: new Date(Date.now() + 4000).toISOString(),
      until: new Date(Date.now() + 10 * 60_000).toISOString(),
    },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return created.body.window.id;
}

function killedAt(mark: string): number {
  return Number(readFileSync(mark, 'utf8').trim().split(' ').at(-1));
}

describe('recovery after kill -9 mid-converge: embedded database, restarted', () => {
  for (const point of KILL_POINTS) {
    it(`killed at ${point}: resumed within 5 s of the restart, AWS calls sent once`, async () => {
      // Prepare
      const dir = tempDir();
      const journal = join(dir, 'aws.jsonl');
      const mark = join(dir, 'killed');
      const path = writeConfig(recoveryConfig({ database: { dataDir: join(dir, 'db') } }));
      const env = { CHRONOPS_TEST_AWS_JOURNAL: journal, CHRONOPS_TEST_KILL_MARK: mark };
      const first = await startServer(path, { ...env, CHRONOPS_TEST_KILL_AT: point }, 120_000, {
        faults: true,
      });
      let windowId: string;
      try {
        windowId = await createWindow(first.url);
        // Act: the server kills itself at the point
        await Promise.race([
          first.exited,
          sleep(30_000).then(() => {
            throw new Error(`not killed at ${point}:\n${first.output()}`);
          }),
        ]);
      } finally {
        await first.kill9();
      }
      assert.ok(existsSync(mark), 'killed by the fault hook');
      const second = await startServer(path, env, 180_000, { faults: true });
      const listening = Date.now();
      let resumedMs: number;
      try {
        // Assess: the interrupted converge completes, and its three readers are followed until available
        await waitFor('the start done', 20_000, async () => {
          const { body } = await api(second.url, 'GET', `/api/windows/${windowId}`);
          return body.transitions.find((t: { kind: string }) => t.kind === 'start')?.status === 'done';
        });
        resumedMs = Date.now() - listening;
        await waitFor('three readers available', 20_000, async () => {
          const text = await (await fetch(`${second.url}/metrics`)).text();
          return /^chronops_reader_time_to_ready_seconds_count 3$/m.test(text);
        });
      } finally {
        await second.stop();
      }
      const db = await PgliteDb.open(join(dir, 'db'));
      try {
        await assertOnce(db, undefined, windowId, journal, point);
        assert.ok(resumedMs <= 5000, `resumed ${resumedMs} ms after the restart listened (${point})`);
      } finally {
        await db.close();
      }
    });
  }
});

describe('recovery after kill -9 mid-converge: PostgreSQL, three servers, another takes over', () => {
  const schemas: string[] = [];
  after(async () => {
    for (const s of schemas) await dropSchemas(s);
  });
  for (const point of KILL_POINTS) {
    it(`killed at ${point}: taken over within 15 s, AWS calls sent once, readers followed`, async () => {
      const schema = freshSchema();
      schemas.push(schema);
      const dir = tempDir();
      const journal = join(dir, 'aws.jsonl');
      const mark = join(dir, 'killed');
      const path = writeConfig(recoveryConfig());
      const env = {
        DATABASE_URL: POSTGRES_URL,
        CHRONOPS_SCHEMA: schema,
        CHRONOPS_TEST_AWS_JOURNAL: journal,
        CHRONOPS_TEST_KILL_MARK: mark,
        CHRONOPS_TEST_KILL_AT: point,
      };
      const servers: ServerProcess[] = [await startServer(path, env, 180_000, { faults: true })];
      servers.push(
        ...(await Promise.all([
          startServer(path, env, 180_000, { faults: true }),
          startServer(path, env, 180_000, { faults: true }),
        ])),
      );
      const db = new PostgresDb(POSTGRES_URL, { max: 2 });
      try {
        const windowId = await createWindow(servers[0]!.url);
        await waitFor(`a server killed at ${point}`, 30_000, async () => existsSync(mark));
        const dead = servers.find((s) => s.child.exitCode !== null || s.child.signalCode !== null);
        await waitFor('the converge carried on', 30_000, () => converged(db, schema, windowId));
        const tookMs = Date.now() - killedAt(mark);
        await assertOnce(db, schema, windowId, journal, point);
        assert.ok(dead || existsSync(mark), 'one server died');
        assert.ok(tookMs <= 15_000 + 4000, `carried on ${tookMs} ms after the kill (${point})`);
      } finally {
        await db.close();
        await Promise.all(servers.map((s) => s.stop()));
      }
    });
  }
});
