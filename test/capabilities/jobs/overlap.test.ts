// Overlap policies under concurrent "run now" requests: several requests for one job sent at the same instant (the
// API, the CLI and chat all end in JobsService.runNow), to one server and — on PostgreSQL — to two servers on one
// schema. A job with overlap `queue` has one run at a time at its service and every request becomes a run that
// ends; a job with overlap `skip` runs one and refuses the others with 409. The service on loopback records how
// many requests of each path it is answering at once (test/support/job-service.ts).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { JobsCapability } from '../../../src/capabilities/jobs/capability.ts';
import { parseConfig } from '../../../src/kernel/config.ts';
import { PostgresDb } from '../../../src/store/postgres-db.ts';
import {
  backends,
  dropSchemas,
  eventually,
  freshSchema,
  POSTGRES_URL,
  type Running,
  runChronops,
} from '../../support/harness.ts';
import { contract, JobService } from '../../support/job-service.ts';
import { api, type ServerProcess, startServer, writeConfig } from '../../support/process.ts';

const FAR = '2099-01-01T00:00:00Z';
const AT_ONCE = 5;

/** The service: each call of a queue job is held 200 ms, of a skip job 2 s (the other requests come meanwhile). */
function service(): JobService {
  return new JobService({
    script: (call) => ({ ...contract(), delayMs: call.path.startsWith('/skip') ? 2000 : 200 }),
  });
}

function jobsConfig(cms: JobService) {
  return {
    timezone: 'UTC',
    server: { host: '127.0.0.1', port: 0 },
    services: [{ name: 'cms', baseUrl: cms.url, timeoutSeconds: 30 }],
    jobs: [
      { name: 'queued', service: 'cms', path: '/queue', at: FAR, timezone: 'UTC', overlap: 'queue' },
      { name: 'skipped', service: 'cms', path: '/skip', at: FAR, timezone: 'UTC', overlap: 'skip' },
    ],
  };
}

// biome-ignore lint/suspicious/noExplicitAny: tests read JSON answers loosely
type Answer = { status: number; body: Record<string, any> };

/** Every run of `job` in the database once it has ended, or undefined while one is still open. */
type RunsOf = (job: string) => Promise<Array<{ id: string; status: string }> | undefined>;

async function assertQueue(cms: JobService, answers: Answer[], ended: RunsOf): Promise<void> {
  assert.deepEqual(
    answers.map((a) => a.status),
    answers.map(() => 202),
    JSON.stringify(answers.map((a) => a.body)),
  );
  const runs = await eventually(() => ended('queued'), 60_000, 'every queued run to end');
  const calls = cms.calls.filter((c) => c.path === '/queue');
  assert.equal(cms.peakByPath.get('/queue'), 1, 'at most one run of the queue job at the service at once');
  assert.equal(runs.length, answers.length, 'one run per request');
  assert.deepEqual(
    runs.filter((r) => r.status !== 'success'),
    [],
  );
  assert.deepEqual(
    new Set(calls.map((c) => c.headers['idempotency-key'])),
    new Set(answers.map((a) => a.body.run.id)),
    'each request ran once',
  );
  assert.equal(calls.length, answers.length);
}

async function assertSkip(cms: JobService, answers: Answer[], ended: RunsOf): Promise<void> {
  const accepted = answers.filter((a) => a.status === 202);
  const refused = answers.filter((a) => a.status === 409);
  assert.equal(accepted.length + refused.length, answers.length, JSON.stringify(answers.map((a) => a.body)));
  for (const r of refused) assert.match(r.body.error.message, /its overlap policy is skip/);
  const runs = await eventually(() => ended('skipped'), 60_000, 'the skip job run to end');
  assert.equal(cms.peakByPath.get('/skip'), 1, 'at most one run of the skip job at the service at once');
  // The one run holds the service 2 s: every other request, sent with it, found it going.
  assert.equal(accepted.length, 1, `${accepted.length} of ${answers.length} requests were run`);
  assert.deepEqual(
    runs.map((r) => [r.id, r.status]),
    [[accepted[0]!.body.run.id, 'success']],
  );
  assert.equal(cms.calls.filter((c) => c.path === '/skip').length, 1);
}

for (const backend of backends) {
  describe(`HTTP jobs: ${AT_ONCE} "run now" at once, one server (${backend.name})`, () => {
    const cms = service();
    let chronops: Running;
    const runNow = async (job: string): Promise<Answer> => {
      const response = await chronops.app.request(`/api/jobs/${job}/run`, { method: 'POST' });
      return { status: response.status, body: (await response.json()) as Answer['body'] };
    };
    const ended: RunsOf = async (job) => {
      const { store } = (chronops.capabilities.jobs as JobsCapability).service;
      const runs = await store.db.query<{ id: string; status: string; finished_at: Date | null }>(
        `SELECT id, status, finished_at FROM ${store.s}.job_runs WHERE job = $1`,
        [job],
      );
      return runs.every((r) => r.finished_at) ? runs.map((r) => ({ id: r.id, status: r.status })) : undefined;
    };

    before(async () => {
      await cms.start();
      chronops = await runChronops(backend, { config: parseConfig(jobsConfig(cms), {}) });
    });
    after(async () => {
      await chronops.stopAll();
      await cms.stop();
    });

    it('overlap queue: one run at a time at the service, every request runs', async () => {
      // Act
      const answers = await Promise.all(Array.from({ length: AT_ONCE }, () => runNow('queued')));

      // Assess
      await assertQueue(cms, answers, ended);
    });

    it('overlap skip: one request runs, the others are refused with 409', async () => {
      // Act
      const answers = await Promise.all(Array.from({ length: AT_ONCE }, () => runNow('skipped')));

      // Assess
      await assertSkip(cms, answers, ended);
    });

    // PostgreSQL only: on the embedded database one connection serves every transaction, so nothing else can
    // hold the job's row meanwhile (registered there only, not skipped).
    if (backend.name !== 'pglite') {
      it('a job held by a run now at its due time is run when the hold ends, not left for the sweep', async () => {
        // Prepare: a job due in 4 s (its fire locks the jobs due 2 s ahead of their time)
        const at = new Date(Math.ceil((Date.now() + 4000) / 1000) * 1000);
        const created = await chronops.app.request('/api/jobs', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            name: 'timed',
            service: 'cms',
            path: '/timed',
            at: at.toISOString(),
            overlap: 'skip',
          }),
        });
        assert.equal(created.status, 201, await created.text());
        const { store } = (chronops.capabilities.jobs as JobsCapability).service;

        // Act: another transaction holds the job's row, as a run now does for a few statements, from before the
        // fire until half a second after the job's time
        const holder = new PostgresDb(POSTGRES_URL, { max: 1 });
        try {
          await holder.transaction(async (tx) => {
            await tx.query(`SELECT 1 FROM ${store.s}.jobs WHERE name = 'timed' FOR UPDATE`);
            await new Promise((r) => setTimeout(r, at.getTime() + 500 - Date.now()));
          });
        } finally {
          await holder.close();
        }
        const run = await eventually(
          async () => (await store.history({ job: 'timed', limit: 1 }))[0],
          20_000,
          'the scheduled run',
        );

        // Assess: the fire waited for the row (skipped, the run came with the sweep, 5 s late or more)
        assert.equal(run.dueAt.toISOString(), at.toISOString());
        const late = run.createdAt.getTime() - at.getTime();
        assert.ok(late < 3000, `the run was written ${late} ms after its time`);
        assert.equal(run.trigger, 'schedule');
      });
    }
  });
}

describe(`HTTP jobs: "run now" at once on two servers of one PostgreSQL schema (${AT_ONCE} to each)`, () => {
  const schema = freshSchema();
  const cms = service();
  const servers: ServerProcess[] = [];
  const db = new PostgresDb(POSTGRES_URL, { max: 1 });
  const ended: RunsOf = async (job) => {
    const runs = await db.query<{ id: string; status: string; finished_at: Date | null }>(
      `SELECT id, status, finished_at FROM ${schema}.job_runs WHERE job = $1`,
      [job],
    );
    return runs.every((r) => r.finished_at) ? runs.map((r) => ({ id: r.id, status: r.status })) : undefined;
  };
  const both = (job: string) =>
    Promise.all(
      servers.flatMap((s) =>
        Array.from({ length: AT_ONCE }, () => api(s.url, 'POST', `/api/jobs/${job}/run`) as Promise<Answer>),
      ),
    );

  before(async () => {
    await cms.start();
    const path = writeConfig(jobsConfig(cms));
    const env = { DATABASE_URL: POSTGRES_URL, CHRONOPS_SCHEMA: schema };
    // The first migrates; the second starts against the migrated schema.
    servers.push(await startServer(path, env));
    servers.push(await startServer(path, env));
  });
  after(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    await db.close();
    await cms.stop();
    await dropSchemas(schema);
  });

  it('overlap queue: one run at a time at the service, every request runs', async () => {
    // Act
    const answers = await both('queued');

    // Assess
    await assertQueue(cms, answers, ended);
  });

  it('overlap skip: one request runs, the others are refused with 409', async () => {
    // Act
    const answers = await both('skipped');

    // Assess
    await assertSkip(cms, answers, ended);
  });
});
