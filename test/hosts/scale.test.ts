// Three `chronops serve` processes on one PostgreSQL server share the work: 200 windows, every transition
// carried out exactly once.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Store } from '../../src/capabilities/capacity/store.ts';
import { PostgresDb } from '../../src/store/postgres-db.ts';
import { dropSchemas, freshSchema, POSTGRES_URL } from '../support/harness.ts';
import { api, type ServerProcess, startServer, writeConfig } from '../support/process.ts';

const services = Array.from({ length: 10 }, (_, i) => `svc${i}`);

describe('several servers on PostgreSQL', () => {
  const schema = freshSchema();
  after(() => dropSchemas(schema));

  it('three servers, 200 windows: every transition carried out exactly once', async () => {
    // Prepare
    const path = writeConfig({
      timezone: 'Asia/Seoul',
      dryRun: true,
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
            services.map((name) => [name, { cluster: 'shop', service: name, desiredCount: 2 }]),
          ),
        },
      },
    });
    const env = { DATABASE_URL: POSTGRES_URL, CHRONOPS_SCHEMA: schema };
    // The first migrates; the other two start together against the migrated schema.
    const servers: ServerProcess[] = [await startServer(path, env)];
    servers.push(...(await Promise.all([startServer(path, env), startServer(path, env)])));
    try {
      // Act: 200 windows through the three servers in turn (10 s to create them, even on a busy machine), their 400
      // transitions due within ~6 s after
      const base = Date.now() + 10_000;
      const creates = Array.from({ length: 200 }, (_, i) =>
        api(servers[i % 3]!.url, 'POST', '/api/windows', {
          name: `p${i}`,
          ecs: [{ resource: services[i % services.length], amount: 3 + (i % 20) }],
          timing: {
            mode: 'explicit',
            at: new Date(base + (i % 20) * 100).toISOString(),
            until: new Date(base + 2500 + (i % 30) * 100).toISOString(),
          },
        }),
      );
      const results = await Promise.all(creates);
      assert.ok(
        results.every((r) => r.status === 201),
        JSON.stringify(results.find((r) => r.status !== 201)),
      );
      // Assess
      const db = new PostgresDb(POSTGRES_URL, { max: 2 });
      try {
        const store = new Store(db, schema);
        const deadline = Date.now() + 60_000;
        let transitions = await store.listTransitions({ limit: 10_000 });
        while (transitions.some((t) => t.status !== 'done') && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 250));
          transitions = await store.listTransitions({ limit: 10_000 });
        }
        assert.equal(transitions.length, 400);
        assert.deepEqual(
          transitions.filter((t) => t.status !== 'done').map((t) => t.status),
          [],
          'every transition done',
        );
        const executions = await store.listExecutions({ limit: 10_000 });
        // Carried out once: by its own execution, or covered by one execution of the same resource.
        const perTransition = new Map<string, number>();
        for (const e of executions.filter((x) => x.status === 'done'))
          perTransition.set(e.transitionId, (perTransition.get(e.transitionId) ?? 0) + 1);
        for (const t of transitions.filter((x) => x.coveredBy))
          perTransition.set(t.id, (perTransition.get(t.id) ?? 0) + 1);
        assert.equal(perTransition.size, 400);
        assert.deepEqual([...new Set(perTransition.values())], [1], 'no transition carried out twice');
        const nodes = new Set(executions.map((e) => e.node));
        assert.ok(nodes.size >= 2, `work shared between servers (nodes: ${[...nodes].join(', ')})`);
      } finally {
        await db.close();
      }
    } finally {
      await Promise.all(servers.map((s) => s.stop()));
    }
  });
});
