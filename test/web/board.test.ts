// The page's data: GET /api/board gives per resource the plan as steps (the merge rule of domain/plan.ts), the
// windows on it and its transitions; the upcoming transitions in order; executions with their AWS calls and
// replicas' time-to-ready.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { backends, eventually, isoIn, type Running, runChronops } from '../support/harness.ts';

const pglite = backends.find((b) => b.name === 'pglite')!;
const MIN = 60_000;

async function call(run: Running, method: string, path: string, body?: unknown) {
  const response = await run.app.request(path, {
    method,
    headers: {
      'content-type': 'application/json',
      'x-chronops-actor': 'tester',
      'x-chronops-source': 'test',
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  // biome-ignore lint/suspicious/noExplicitAny: tests read JSON answers loosely
  return { status: response.status, body: (await response.json()) as any };
}

// biome-ignore lint/suspicious/noExplicitAny: tests read JSON answers loosely
const resource = (board: any, name: string) => board.resources.find((r: { name: string }) => r.name === name);

describe('GET /api/board', () => {
  let run: Running;
  afterEach(async () => {
    await run?.stopAll();
  });

  it('gives the merged plan of overlapping windows per resource, their names, and upcoming transitions in order', async () => {
    // Prepare: two products 30 minutes apart, each asking for 12 tasks; the second also for 2 readers
    run = await runChronops(pglite);
    const first = await call(run, 'POST', '/api/windows', {
      name: '12345',
      ecs: [{ resource: 'web', amount: 12 }],
      timing: { mode: 'explicit', at: isoIn(60 * MIN), until: isoIn(120 * MIN) },
    });
    const second = await call(run, 'POST', '/api/windows', {
      name: '12377',
      ecs: [{ resource: 'web', amount: 8 }],
      aurora: [{ resource: 'shop-db', amount: 2 }],
      timing: { mode: 'explicit', at: isoIn(90 * MIN), until: isoIn(150 * MIN) },
    });
    assert.equal(first.status, 201);
    assert.equal(second.status, 201);
    // Act
    const { status, body: board } = await call(run, 'GET', '/api/board?range=24h');
    // Assess
    assert.equal(status, 200);
    assert.equal(board.timezone, 'Asia/Seoul');
    assert.equal(board.range.name, '24h');
    const web = resource(board, 'web');
    assert.equal(web.unit, 'tasks');
    assert.equal(web.cap, 20);
    assert.equal(web.baseline, null, 'the ECS baseline is unknown until chronops first reads the service');
    const [a, b] = [first.body.window.id, second.body.window.id];
    assert.deepEqual(
      web.steps.map((s: { amount: number | null; windowIds: string[] }) => [s.amount, s.windowIds]),
      [
        [null, []],
        [12, [a]],
        [12, [a, b]],
        [8, [b]],
        [null, []],
      ],
      'baseline; 12; still 12 when 8 is also asked (the larger holds); 8 once the first ends; baseline',
    );
    assert.deepEqual(
      web.holds.map((h: { windowName: string; amount: number }) => [h.windowName, h.amount]),
      [
        ['12345', 12],
        ['12377', 8],
      ],
    );
    const db = resource(board, 'shop-db');
    assert.equal(db.baseline, 0);
    assert.deepEqual(
      db.steps.map((s: { level: number }) => s.level),
      [0, 2, 0],
    );
    const due = board.upcoming.map((t: { dueAt: string }) => t.dueAt);
    assert.deepEqual(due, [...due].sort(), 'upcoming in due order');
    assert.equal(board.upcoming.length, 6);
    assert.ok(board.upcoming.every((t: { windowName: string }) => ['12345', '12377'].includes(t.windowName)));
    assert.deepEqual(
      board.windows.map((w: { name: string }) => w.name),
      ['12377', '12345'],
    );
  });

  it('a cancelled window leaves the plan, the upcoming transitions and the windows', async () => {
    // Prepare
    run = await runChronops(pglite);
    const created = await call(run, 'POST', '/api/windows', {
      name: 'gone',
      ecs: [{ resource: 'web', amount: 5 }],
      timing: { mode: 'explicit', at: isoIn(60 * MIN), until: isoIn(90 * MIN) },
    });
    // Act
    const cancelled = await call(run, 'POST', `/api/windows/${created.body.window.id}/cancel`);
    const { body: board } = await call(run, 'GET', '/api/board?range=7d');
    // Assess
    assert.equal(cancelled.status, 200);
    assert.equal(board.range.name, '7d');
    assert.deepEqual(resource(board, 'web').holds, []);
    assert.deepEqual(resource(board, 'web').steps.length, 1);
    assert.deepEqual(board.upcoming, []);
    assert.deepEqual(board.windows, []);
  });

  it('after a window ran: past transitions done, executions with their AWS calls, duration and replica time-to-ready', async () => {
    // Prepare: a short window on both resources (the simulated reader is ready after 2 s)
    run = await runChronops(pglite);
    const created = await call(run, 'POST', '/api/windows', {
      name: 'short',
      ecs: [{ resource: 'web', amount: 6 }],
      aurora: [{ resource: 'shop-db', amount: 1 }],
      timing: { mode: 'explicit', at: isoIn(1000), until: isoIn(2 * MIN) },
    });
    const id = created.body.window.id as string;
    await eventually(
      async () => (await run.store.listReaders()).some((r) => r.availableAt !== null),
      15_000,
      'the new reader available',
    );
    // Act
    const { body: board } = await call(run, 'GET', '/api/board?range=24h');
    // Assess
    const web = resource(board, 'web');
    assert.equal(web.baseline, 2, 'read from the service at the first change (scalable target min 2)');
    assert.deepEqual(
      web.transitions.map((t: { kind: string; status: string }) => [t.kind, t.status]),
      [
        ['start', 'done'],
        ['end', 'pending'],
      ],
    );
    const ecsRun = board.executions.find((e: { resource: string }) => e.resource === 'web');
    assert.equal(ecsRun.status, 'done');
    assert.equal(ecsRun.transition.windowId, id);
    assert.equal(ecsRun.transition.windowName, 'short');
    assert.equal(ecsRun.from, 'min 2 max 10');
    assert.equal(ecsRun.to, 'min 6 max 10');
    assert.ok(ecsRun.durationMs >= 0);
    assert.ok(
      ecsRun.calls.some(
        (c: { action: string; outcome: string }) =>
          c.action === 'Application Auto Scaling.RegisterScalableTarget' && c.outcome === 'ok',
      ),
      JSON.stringify(ecsRun.calls),
    );
    const dbRun = board.executions.find((e: { resource: string }) => e.resource === 'shop-db');
    assert.ok(dbRun.calls.some((c: { action: string }) => c.action === 'RDS.CreateDBInstance'));
    assert.equal(dbRun.replicas.length, 1);
    assert.match(dbRun.replicas[0].instanceId, new RegExp(id));
    assert.equal(dbRun.replicas[0].status, 'available');
    assert.ok(dbRun.replicas[0].timeToReadyMs >= 1000, `time to ready ${dbRun.replicas[0].timeToReadyMs}`);
  });

  it('a dry-run window is drawn apart: the real plan without it, the dry-run plan with it', async () => {
    // Prepare
    run = await runChronops(pglite);
    await call(run, 'POST', '/api/windows', {
      name: 'real',
      ecs: [{ resource: 'web', amount: 8 }],
      timing: { mode: 'explicit', at: isoIn(60 * MIN), until: isoIn(120 * MIN) },
    });
    await call(run, 'POST', '/api/windows', {
      name: 'trial',
      ecs: [{ resource: 'web', amount: 12 }],
      timing: { mode: 'explicit', at: isoIn(90 * MIN), until: isoIn(150 * MIN) },
      dryRun: true,
    });
    // Act
    const { body: board } = await call(run, 'GET', '/api/board?range=24h');
    // Assess
    const web = resource(board, 'web');
    assert.deepEqual(
      web.steps.map((s: { amount: number | null }) => s.amount),
      [null, 8, null],
    );
    assert.deepEqual(
      web.dryRunSteps.map((s: { amount: number | null }) => s.amount),
      [null, 8, 12, 12, null],
      '12 over 8 while both are active, then 12 alone',
    );
    assert.deepEqual(
      web.holds.map((h: { windowName: string; dryRun: boolean }) => [h.windowName, h.dryRun]),
      [
        ['real', false],
        ['trial', true],
      ],
    );
    assert.equal(resource(board, 'shop-db').dryRunSteps, null, 'no dry-run window there');
  });

  it('refuses an unknown range', async () => {
    run = await runChronops(pglite);
    const response = await call(run, 'GET', '/api/board?range=1y');
    assert.equal(response.status, 400);
    assert.match(response.body.error.message, /24h or 7d/);
  });
});
