// HTTP jobs run by real `chronops serve` processes (the README's way):
// - kill -9 while the service is holding the request: after the restart the run is sent again with the same
//   Idempotency-Key, ends once, and its Teams message and alert are sent once (the fake receivers record every
//   payload);
// - two servers on one PostgreSQL schema, many jobs of one service due at once: each run is done exactly once
//   and the service never sees more calls at once than its `concurrency` (the limit is shared by the servers).
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { PostgresDb } from '../../../src/store/postgres-db.ts';
import { FakeWebhook } from '../../support/fake-webhooks.ts';
import { dropSchemas, eventually, freshSchema, isoIn, POSTGRES_URL } from '../../support/harness.ts';
import { contract, JobService } from '../../support/job-service.ts';
import { api, preparedDataDir, type ServerProcess, startServer, writeConfig } from '../../support/process.ts';

const envRef = (name: string) => `\${${name}}`;

// The two kill -9 scenarios run at the same time: each has its own service, receivers, database and servers, and
// spends its time waiting (a restart, a lease running out, the wait for a duplicate).
describe('HTTP jobs: kill -9 during a run', { concurrency: 2 }, () => {
  describe('embedded database, restarted', () => {
    const cms = new JobService();
    const teams = new FakeWebhook('teams');
    const alerts = new FakeWebhook('teams');
    let server: ServerProcess | undefined;
    after(async () => {
      await server?.kill9();
      await Promise.all([cms.stop(), teams.stop(), alerts.stop()]);
    });

    it('the run is sent again with the same Idempotency-Key after the restart, ends once, is reported once', async () => {
      // Prepare: the service holds the first call (no answer) and answers the next with a failed tenant
      await Promise.all([cms.start(), teams.start(), alerts.start()]);
      cms.script = (_call, n) =>
        n === 1 ? { ...contract(), delayMs: 600_000 } : contract([{ tenant: 'umbrella' }], ['acme']);
      const path = writeConfig({
        timezone: 'UTC',
        server: { host: '127.0.0.1', port: 0 },
        database: { dataDir: preparedDataDir() },
        services: [{ name: 'cms', baseUrl: cms.url, timeoutSeconds: 120 }],
        notify: {
          destinations: {
            'ops-teams': { kind: 'teams', url: envRef('T_TEAMS') },
            oncall: { kind: 'teams', url: envRef('T_ALERTS') },
          },
        },
      });
      const env = { T_TEAMS: teams.url('ops'), T_ALERTS: alerts.url('oncall') };
      server = await startServer(path, env);
      const created = await api(server.url, 'POST', '/api/jobs', {
        name: 'leave-status',
        service: 'cms',
        path: '/scheduling-api/leave-status',
        at: isoIn(2000),
        notify: { to: 'ops-teams', when: 'always', alert: 'oncall' },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const first = await eventually(async () => cms.calls[0], 60_000, 'the first call');

      // Act: the server dies while the service holds the request; it is started again on the same data
      await server.kill9();
      server = await startServer(path, env);
      const again = await eventually(async () => cms.calls[1], 60_000, 'the call after the restart');
      const run = await eventually(
        async () => {
          const runs = (await api(server!.url, 'GET', '/api/jobs/runs?job=leave-status')).body.runs;
          return runs[0]?.finishedAt ? runs : undefined;
        },
        30_000,
        'the run to end',
      );
      await eventually(
        async () => teams.requests.length >= 1 && alerts.requests.length >= 1,
        30_000,
        'the Teams message and the alert',
      );
      // Time for a duplicate to show up, had there been one.
      await new Promise((r) => setTimeout(r, 3000));

      // Assess
      assert.equal(run.length, 1, 'one run');
      assert.equal(run[0].status, 'partial');
      assert.deepEqual(run[0].tenants.failed, ['umbrella']);
      assert.equal(first.headers['idempotency-key'], run[0].id);
      assert.equal(again.headers['idempotency-key'], run[0].id, 'the same Idempotency-Key');
      assert.equal(cms.calls.length, 2, 'sent twice: before the kill and after the restart');
      assert.equal(teams.requests.length, 1, 'one Teams message');
      assert.equal(alerts.requests.length, 1, 'one alert');
      assert.match(JSON.stringify(teams.requests[0]!.body), /umbrella/);
    });
  });

  describe('two servers on PostgreSQL', () => {
    const schema = freshSchema();
    const cms = new JobService();
    const teams = new FakeWebhook('teams');
    const servers: ServerProcess[] = [];
    after(async () => {
      await Promise.all(servers.map((s) => s.kill9()));
      await Promise.all([cms.stop(), teams.stop()]);
      await dropSchemas(schema);
    });

    it('the server running it dies: the other sends it again with the same Idempotency-Key, reports once', async () => {
      // Prepare: the service holds the first call (no answer) and answers the next
      await Promise.all([cms.start(), teams.start()]);
      cms.script = (_call, n) => (n === 1 ? { ...contract(), delayMs: 600_000 } : contract());
      const path = writeConfig({
        timezone: 'UTC',
        server: { host: '127.0.0.1', port: 0 },
        services: [{ name: 'cms', baseUrl: cms.url, timeoutSeconds: 120 }],
        notify: { destinations: { 'ops-teams': { kind: 'teams', url: envRef('T_TEAMS') } } },
      });
      const env = { DATABASE_URL: POSTGRES_URL, CHRONOPS_SCHEMA: schema, T_TEAMS: teams.url('ops') };
      servers.push(await startServer(path, env));
      servers.push(await startServer(path, env));
      const created = await api(servers[0]!.url, 'POST', '/api/jobs', {
        name: 'leave-status',
        service: 'cms',
        path: '/scheduling-api/leave-status',
        at: isoIn(3000),
        notify: { to: 'ops-teams', when: 'always' },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const first = await eventually(async () => cms.calls[0], 60_000, 'the first call');
      const runId = first.headers['idempotency-key']!;
      const db = new PostgresDb(POSTGRES_URL, { max: 1 });
      const node = await db
        .query<{ node: string }>(`SELECT node FROM ${schema}.job_runs WHERE id = $1`, [runId])
        .finally(() => db.close());
      const pid = Number(
        String(node[0]?.node ?? '')
          .split(':')
          .pop(),
      );
      const dying = servers.find((s) => s.child.pid === pid);
      assert.ok(dying, `the run's server (${node[0]?.node}) is one of the two`);

      // Act
      await dying.kill9();
      const survivor = servers.find((s) => s !== dying)!;
      const again = await eventually(async () => cms.calls[1], 120_000, 'the call by the other server');
      const run = await eventually(
        async () => {
          const r = (await api(survivor.url, 'GET', `/api/jobs/runs/${runId}`)).body.run;
          return r.finishedAt ? r : undefined;
        },
        30_000,
        'the run to end',
      );
      await eventually(async () => teams.requests.length >= 1, 30_000, 'the Teams message');
      await new Promise((r) => setTimeout(r, 3000));

      // Assess
      assert.equal(again.headers['idempotency-key'], runId, 'the same Idempotency-Key');
      assert.equal(run.status, 'success');
      assert.equal(cms.calls.length, 2);
      assert.equal(teams.requests.length, 1, 'one Teams message');
    });
  });
});

describe('HTTP jobs: two servers on one PostgreSQL schema', () => {
  const schema = freshSchema();
  const cms = new JobService({ script: () => ({ ...contract(), delayMs: 150 }) });
  const servers: ServerProcess[] = [];
  after(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    await cms.stop();
    await dropSchemas(schema);
  });

  it('60 jobs of one service due at three times: each run done once, never above the service limit', async (t) => {
    // Prepare
    await cms.start();
    const path = writeConfig({
      timezone: 'UTC',
      server: { host: '127.0.0.1', port: 0 },
      services: [{ name: 'cms', baseUrl: cms.url, concurrency: 3, timeoutSeconds: 30 }],
    });
    const env = { DATABASE_URL: POSTGRES_URL, CHRONOPS_SCHEMA: schema };
    // The first migrates; the second starts against the migrated schema.
    servers.push(await startServer(path, env));
    servers.push(await startServer(path, env));
    const base = Date.now() + 8000;
    const created = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        api(servers[i % 2]!.url, 'POST', '/api/jobs', {
          name: `sync-${String(i).padStart(2, '0')}`,
          service: 'cms',
          path: `/sync/${i}`,
          at: new Date(Math.floor(base / 1000) * 1000 + (i % 3) * 1000).toISOString(),
        }),
      ),
    );
    assert.deepEqual(
      created.filter((c) => c.status !== 201),
      [],
    );

    // Act
    const db = new PostgresDb(POSTGRES_URL, { max: 1 });
    let runs: Array<{ job: string; status: string; attempt: number; node: string }> = [];
    try {
      runs = await eventually(
        async () => {
          const rows = await db.query<{ job: string; status: string; attempt: number; node: string }>(
            `SELECT job, status, attempt, node FROM ${schema}.job_runs WHERE finished_at IS NOT NULL`,
          );
          return rows.length >= 60 ? rows : undefined;
        },
        90_000,
        'every run',
      );
      await new Promise((r) => setTimeout(r, 1000));
      runs = await db.query(`SELECT job, status, attempt, node FROM ${schema}.job_runs`);
    } finally {
      await db.close();
    }

    // Assess
    assert.equal(runs.length, 60, 'one run per job');
    assert.deepEqual(
      runs.filter((r) => r.status !== 'success' || r.attempt !== 1),
      [],
    );
    const perJob = new Map<string, number>();
    for (const c of cms.calls)
      perJob.set(c.headers['x-chronops-job']!, (perJob.get(c.headers['x-chronops-job']!) ?? 0) + 1);
    assert.equal(cms.calls.length, 60, 'each run called the service once');
    assert.equal(perJob.size, 60);
    assert.equal(new Set(cms.calls.map((c) => c.headers['idempotency-key'])).size, 60);
    const nodes = new Map<string, number>();
    for (const r of runs) nodes.set(r.node, (nodes.get(r.node) ?? 0) + 1);
    t.diagnostic(
      `runs per server: ${[...nodes.values()].join(', ')}; most calls at once: ${cms.peakInFlight}`,
    );
    assert.ok(
      cms.peakInFlight <= 3,
      `the service saw ${cms.peakInFlight} calls at once (limit 3; runs by ${nodes.size} servers)`,
    );
  });
});
