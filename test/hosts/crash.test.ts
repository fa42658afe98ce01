// kill -9 the server with transitions due; restart; each transition is carried out once. And a second process
// may not open the same embedded data directory.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Store } from '../../src/capabilities/capacity/store.ts';
import { PgliteDb } from '../../src/store/pglite-db.ts';
import { simulatorSpec } from '../support/harness.ts';
import { api, preparedDataDir, startServer, writeConfig } from '../support/process.ts';

function config(dataDir: string, extra: Record<string, unknown> = {}) {
  return {
    timezone: 'Asia/Seoul',
    dryRun: true,
    resources: {
      ecs: [
        { name: 'web', cluster: 'shop', service: 'web', region: 'ap-northeast-2', maxTasks: 20 },
        { name: 'api', cluster: 'shop', service: 'api', region: 'ap-northeast-2', maxTasks: 20 },
      ],
    },
    server: { host: '127.0.0.1', port: 0 },
    database: { dataDir },
    aws: {
      simulate: {
        ecs: {
          web: { cluster: 'shop', service: 'web', desiredCount: 2, scalableTarget: { min: 2, max: 10 } },
          api: { cluster: 'shop', service: 'api', desiredCount: 3 },
        },
        aurora: simulatorSpec().aurora,
      },
    },
    ...extra,
  };
}

// The three run at once: each has its own data directory and servers, and spends its time waiting on them (starts,
// transitions falling due while the server is down).
describe('crash and restart (embedded database)', { concurrency: 3 }, () => {
  it('after kill -9, a restarted server runs what fell due while it was down, each transition once', async () => {
    // Prepare: a server with 10 windows whose transitions fall due 10–14 s from now (time to create them on a
    // busy machine)
    const dataDir = preparedDataDir();
    const path = writeConfig(config(dataDir));
    const first = await startServer(path);
    const base = Date.now();
    const ids: string[] = [];
    try {
      for (let i = 0; i < 10; i++) {
        const at = new Date(base + 10_000 + i * 200).toISOString();
        const until = new Date(base + 12_000 + i * 200).toISOString();
        const created = await api(first.url, 'POST', '/api/windows', {
          name: `w${i}`,
          ecs: [{ resource: i % 2 ? 'web' : 'api', amount: 5 + i }],
          timing: { mode: 'explicit', at, until },
        });
        assert.equal(created.status, 201, JSON.stringify(created.body));
        ids.push(created.body.window.id);
      }
    } finally {
      // Act: the process dies before anything is due
      await first.kill9();
    }
    await new Promise((r) => setTimeout(r, Math.max(0, base + 15_000 - Date.now())));
    const second = await startServer(path);
    try {
      // Assess: everything ran, once
      const done = async () => {
        const { body } = await api(second.url, 'GET', '/api/windows?status=all');
        return body.windows.every((w: { status: string }) => w.status === 'done');
      };
      const deadline = Date.now() + 20_000;
      while (!(await done()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      assert.ok(await done(), 'every window done after the restart');
    } finally {
      await second.stop();
    }
    const db = await PgliteDb.open(dataDir);
    try {
      const store = new Store(db);
      const transitions = await store.listTransitions({});
      assert.equal(transitions.length, 20);
      assert.ok(
        transitions.every((t) => t.status === 'done'),
        JSON.stringify(transitions.map((t) => t.status)),
      );
      const executions = await store.listExecutions({ limit: 1000 });
      // Carried out once: by its own execution, or covered by one execution of the same resource.
      const perTransition = new Map<string, number>();
      for (const e of executions.filter((x) => x.status === 'done'))
        perTransition.set(e.transitionId, (perTransition.get(e.transitionId) ?? 0) + 1);
      for (const t of transitions.filter((x) => x.coveredBy))
        perTransition.set(t.id, (perTransition.get(t.id) ?? 0) + 1);
      assert.equal(perTransition.size, 20);
      assert.deepEqual([...new Set(perTransition.values())], [1], 'exactly one execution per transition');
      assert.ok(executions.every((e) => e.status === 'done'));
      const ids = new Set(executions.map((e) => e.id));
      assert.ok(
        transitions.every((t) => !t.coveredBy || ids.has(t.coveredBy)),
        'covered by a real execution',
      );
    } finally {
      await db.close();
    }
  });

  it('a start transition later than the grace is missed (and reported), its end still runs', async () => {
    const dataDir = preparedDataDir();
    const path = writeConfig(config(dataDir, { graceMinutes: 0 }));
    const first = await startServer(path);
    let id: string;
    const base = Date.now();
    try {
      const created = await api(first.url, 'POST', '/api/windows', {
        ecs: [{ resource: 'web', amount: 9 }],
        timing: {
          mode: 'explicit',
          at: new Date(base + 2000).toISOString(),
          // The end falls due while the server is down too: late like the start, and it must still run
          until: new Date(base + 3000).toISOString(),
        },
      });
      id = created.body.window.id;
    } finally {
      await first.kill9();
    }
    await new Promise((r) => setTimeout(r, Math.max(0, base + 3500 - Date.now())));
    const second = await startServer(path);
    try {
      // biome-ignore lint/suspicious/noExplicitAny: tests read JSON answers loosely
      let details: any;
      const deadline = Date.now() + 15_000;
      do {
        details = (await api(second.url, 'GET', `/api/windows/${id}`)).body;
        if (details.transitions.every((t: { status: string }) => !['pending', 'fired'].includes(t.status)))
          break;
        await new Promise((r) => setTimeout(r, 200));
      } while (Date.now() < deadline);
      assert.equal(details.transitions[0].kind, 'start');
      assert.equal(details.transitions[0].status, 'missed');
      assert.match(details.transitions[0].error, /missed/);
      // Ends are never skipped, however late: capacity is not left raised
      assert.equal(details.transitions[1].kind, 'end');
      assert.equal(details.transitions[1].status, 'done', JSON.stringify(details.transitions[1]));
      assert.equal(details.executions.length, 1, 'one execution: the end, nothing for the missed start');
      assert.equal(details.executions[0].transitionId, details.transitions[1].id);
    } finally {
      await second.stop();
    }
  });

  it('refuses a second process on the same data directory', async () => {
    const dataDir = preparedDataDir();
    const path = writeConfig(config(dataDir));
    const first = await startServer(path);
    try {
      await assert.rejects(startServer(path), (error: Error & { code?: number }) => {
        assert.match(error.message, /in use by chronops process/);
        assert.equal(error.code, 1);
        return true;
      });
      const health = await api(first.url, 'GET', '/healthz');
      assert.equal(health.status, 200, 'the first server is unaffected');
    } finally {
      await first.stop();
    }
  });
});
