// One conformance suite for the schedule backends: the same behaviour on embedded PGlite and on the PostgreSQL
// server. chronops runs in this process with a simulated AWS; requests go through the real HTTP API.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { readerIdentifier } from '../../src/capabilities/capacity/actions/aurora-replicas.ts';
import { type Backend, backends, eventually, isoIn, type Running, runChronops } from '../support/harness.ts';

async function scalableTarget(run: Running): Promise<{ min: number; max: number }> {
  const out = (await run.simulator.send('Application Auto Scaling', 'DescribeScalableTargets', {
    ServiceNamespace: 'ecs',
    ResourceIds: ['service/shop/web'],
    ScalableDimension: 'ecs:service:DesiredCount',
  })) as { ScalableTargets: Array<{ MinCapacity: number; MaxCapacity: number }> };
  const t = out.ScalableTargets[0]!;
  return { min: t.MinCapacity, max: t.MaxCapacity };
}

async function readers(run: Running): Promise<string[]> {
  const out = (await run.simulator.send('RDS', 'DescribeDBInstances', {
    Filters: [{ Name: 'db-cluster-id', Values: ['shop-aurora'] }],
  })) as { DBInstances: Array<{ DBInstanceIdentifier: string; DBInstanceStatus: string }> };
  return out.DBInstances.filter((i) => i.DBInstanceStatus !== 'deleting')
    .map((i) => i.DBInstanceIdentifier)
    .sort();
}

async function post(run: Running, path: string, body?: unknown) {
  const response = await run.app.request(path, {
    method: 'POST',
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

function mutatingCalls(run: Running) {
  return run.calls.filter((c) => !c.dryRun && /^(Update|Register|Create|Delete)/.test(c.command));
}

/** Resolves once every transition of the window is finished (its end included): the loop went past it. */
async function finished(run: Running, windowId: string, timeoutMs: number): Promise<void> {
  await eventually(
    async () => {
      const ts = await run.store.listTransitions({ windowId });
      return ts.length > 0 && ts.every((t) => t.status !== 'pending' && t.status !== 'fired');
    },
    timeoutMs,
    `the transitions of window ${windowId} finished`,
  );
}

for (const backend of backends) {
  describe(`schedule backend: ${backend.name}`, () => {
    let run: Running;
    before(async () => {
      if (backend.name === 'postgres') await assertPostgres(backend);
    });
    afterEach(async () => {
      await run?.stopAll();
    });

    it('fires a window on time: ECS min raised, then restored to the stored baseline', async () => {
      // Prepare
      run = await runChronops(backend);
      // Act
      const created = await post(run, '/api/windows', {
        name: '12345',
        ecs: [{ resource: 'web', amount: 12 }],
        timing: { mode: 'explicit', at: isoIn(1200), until: isoIn(2600) },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const id = created.body.window.id as string;
      // Assess: scaled out, then back
      await eventually(async () => (await scalableTarget(run)).min === 12, 8000, 'scale-out');
      assert.deepEqual(await scalableTarget(run), { min: 12, max: 12 });
      await eventually(async () => (await scalableTarget(run)).min === 2, 8000, 'scale-in');
      assert.deepEqual(await scalableTarget(run), { min: 2, max: 10 });
      const details = await eventually(async () => {
        const d = await run.service.details(id);
        return d.window.status === 'done' ? d : undefined;
      });
      assert.deepEqual(
        details.transitions.map((t) => [t.kind, t.status]),
        [
          ['start', 'done'],
          ['end', 'done'],
        ],
      );
      assert.equal(details.executions.length, 2, 'one execution per transition');
      assert.ok(
        details.calls.some((c) => c.action === 'aws:Application Auto Scaling.RegisterScalableTarget'),
      );
      assert.ok(
        details.calls.every((c) => c.executionId),
        'every cloud call is tied to its execution',
      );
      assert.equal(await run.store.baselines.get('web'), null, 'baseline cleared once restored');
    });

    it('refuses bad input with the field named, storing nothing', async () => {
      run = await runChronops(backend);
      const cases: Array<[unknown, number, RegExp]> = [
        [
          {
            ecs: [{ resource: 'web', amount: 5 }],
            timing: { mode: 'explicit', at: isoIn(-60_000), until: isoIn(60_000) },
          },
          400,
          /past/,
        ],
        [
          {
            ecs: [{ resource: 'nope', amount: 5 }],
            timing: { mode: 'explicit', at: isoIn(60_000), until: isoIn(120_000) },
          },
          400,
          /unknown resource/,
        ],
        [
          {
            ecs: [{ resource: 'web', amount: 99 }],
            timing: { mode: 'explicit', at: isoIn(60_000), until: isoIn(120_000) },
          },
          400,
          /20/,
        ],
        [
          {
            ecs: [{ resource: 'web', amount: 5 }],
            timing: { mode: 'explicit', at: isoIn(120_000), until: isoIn(60_000) },
          },
          400,
          /until/,
        ],
        [{ ecs: [{ resource: 'web', amount: 5 }], timing: { mode: 'sometime' } }, 400, /timing/],
        [
          {
            ecs: [{ resource: 'web', amount: 5 }],
            timing: { mode: 'auto', open: isoIn(3_600_000) },
            extra: 1,
          },
          400,
          /extra/,
        ],
      ];
      for (const [body, status, message] of cases) {
        const response = await post(run, '/api/windows', body);
        assert.equal(response.status, status, JSON.stringify(body));
        assert.match(response.body.error.message, message);
      }
      const malformed = await run.app.request('/api/windows', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"ecs": [',
      });
      assert.equal(malformed.status, 400);
      assert.deepEqual(await run.store.listWindows({}), []);
      assert.equal(await run.store.countPendingTransitions(), 0);
      const refusals = await run.store.listAudit({ action: 'window.create' });
      assert.equal(refusals.length, 4, 'each refused create that reached the service is audited');
      assert.ok(refusals.every((r) => r.outcome === 'refused' && r.actor === 'tester'));
    });

    it('cancel before the start: nothing happens on AWS', async () => {
      run = await runChronops(backend);
      const timing = { mode: 'explicit', at: isoIn(1500), until: isoIn(3000) };
      const created = await post(run, '/api/windows', {
        ecs: [{ resource: 'web', amount: 8 }],
        aurora: [{ resource: 'shop-db', amount: 2 }],
        timing,
      });
      // A dry-run window on the same resources at the same times: once both its transitions are done, the loop
      // has gone past the cancelled window's times (it only records what it would do, so AWS stays untouched).
      const witness = await post(run, '/api/windows', {
        ecs: [{ resource: 'web', amount: 8 }],
        aurora: [{ resource: 'shop-db', amount: 2 }],
        timing,
        dryRun: true,
      });
      assert.equal(witness.status, 201, JSON.stringify(witness.body));
      const cancelled = await post(run, `/api/windows/${created.body.window.id}/cancel`);
      assert.equal(cancelled.status, 200);
      assert.equal(cancelled.body.window.status, 'cancelled');
      await finished(run, witness.body.window.id, 15_000);
      assert.ok(
        run.calls.some((c) => c.dryRun),
        'the witness converged (dry-run)',
      );
      assert.deepEqual(mutatingCalls(run), []);
      assert.deepEqual(await scalableTarget(run), { min: 2, max: 10 });
      const again = await post(run, `/api/windows/${created.body.window.id}/cancel`);
      assert.equal(again.status, 409);
      const missing = await post(run, '/api/windows/zzzzzzzz/cancel');
      assert.equal(missing.status, 404);
    });

    it('cancel during: the resource goes back to what the plan says without that window', async () => {
      run = await runChronops(backend);
      // Prepare: a long window at 6 tasks and a shorter one at 12 inside it
      const a = await post(run, '/api/windows', {
        ecs: [{ resource: 'web', amount: 6 }],
        timing: { mode: 'explicit', at: isoIn(800), until: isoIn(60_000) },
      });
      const b = await post(run, '/api/windows', {
        ecs: [{ resource: 'web', amount: 12 }],
        timing: { mode: 'explicit', at: isoIn(800), until: isoIn(60_000) },
      });
      await eventually(async () => (await scalableTarget(run)).min === 12, 8000, 'scale-out to 12');
      // Act
      assert.equal((await post(run, `/api/windows/${b.body.window.id}/cancel`)).status, 200);
      // Assess: down to a's 6, not to the baseline
      await eventually(async () => (await scalableTarget(run)).min === 6, 15_000, 'back to 6');
      assert.equal((await post(run, `/api/windows/${a.body.window.id}/cancel`)).status, 200);
      await eventually(async () => (await scalableTarget(run)).min === 2, 15_000, 'back to baseline');
      assert.deepEqual(await scalableTarget(run), { min: 2, max: 10 });
    });

    it('overlapping windows: the end of the first does not remove readers the second still needs', async () => {
      run = await runChronops(backend);
      // Prepare: a [0.8 s, 2.5 s) and b [1.5 s, 60 s), both +2 readers
      const first = await post(run, '/api/windows', {
        name: 'first',
        aurora: [{ resource: 'shop-db', amount: 2 }],
        timing: { mode: 'explicit', at: isoIn(800), until: isoIn(2500) },
      });
      const second = await post(run, '/api/windows', {
        name: 'second',
        aurora: [{ resource: 'shop-db', amount: 2 }],
        timing: { mode: 'explicit', at: isoIn(1500), until: isoIn(60_000) },
      });
      await eventually(async () => (await readers(run)).length === 4, 8000, '2 extra readers');
      const during = await readers(run);
      // Act: the first window's end is carried out
      await finished(run, first.body.window.id, 10_000);
      // Assess: still the same two extra readers (none deleted, none created)
      assert.deepEqual(await readers(run), during);
      assert.equal(mutatingCalls(run).filter((c) => c.command === 'DeleteDBInstance').length, 0);
      // Then without the second (cancelled: its end is not waited for) the readers go
      assert.equal((await post(run, `/api/windows/${second.body.window.id}/cancel`)).status, 200);
      await eventually(
        async () => (await readers(run)).length === 2,
        8000,
        'readers removed after the second',
      );
      assert.deepEqual(
        await readers(run),
        ['shop-aurora-1', 'shop-aurora-2'],
        'writer and unmanaged reader untouched',
      );
    });

    it('no resource blocks another: a converge longer than the gap to its next transition, others due meanwhile', async () => {
      // Prepare: every AWS change to ECS web takes 2 s; web's window opens at +1.0 s and closes at +1.5 s (its
      // end falls due while its start converge still runs); shop-db's opens at +1.3 s, during web's converge
      run = await runChronops(backend);
      const send = run.simulator.send.bind(run.simulator);
      let webBusy = 0;
      run.simulator.send = async (service, command, input) => {
        if (command === 'RegisterScalableTarget' && JSON.stringify(input).includes('service/shop/web')) {
          webBusy++;
          await new Promise((r) => setTimeout(r, 2000));
          webBusy--;
        }
        return send(service, command, input);
      };
      const web = await post(run, '/api/windows', {
        name: 'web',
        ecs: [{ resource: 'web', amount: 12 }],
        timing: { mode: 'explicit', at: isoIn(1000), until: isoIn(1500) },
      });
      const db = await post(run, '/api/windows', {
        name: 'db',
        aurora: [{ resource: 'shop-db', amount: 1 }],
        timing: { mode: 'explicit', at: isoIn(1300), until: isoIn(60_000) },
      });
      assert.equal(web.status, 201, JSON.stringify(web.body));
      assert.equal(db.status, 201, JSON.stringify(db.body));
      // Act + Assess: shop-db is converged while web's slow converge still runs
      let webBusyWhenDbDone = -1;
      const dbStart = await eventually(
        async () => {
          const d = await run.service.details(db.body.window.id);
          const e = d.executions.find((x) => x.status === 'done');
          if (e && webBusyWhenDbDone < 0) webBusyWhenDbDone = webBusy;
          return e;
        },
        10_000,
        'shop-db converged',
      );
      const dueAt = new Date(db.body.window.holds[0].from).getTime();
      const lateMs = dbStart.startedAt.getTime() - dueAt;
      assert.ok(lateMs < 1000, `shop-db converged ${lateMs} ms after its time, not behind web`);
      assert.equal(webBusyWhenDbDone, 1, "web's converge was still under way when shop-db's was done");
      // web: both transitions done, one converge at a time, and back to its baseline in the end
      const webDetails = await eventually(
        async () => {
          const d = await run.service.details(web.body.window.id);
          return d.transitions.every((t) => t.status === 'done') ? d : undefined;
        },
        15_000,
        "web's start and end done",
      );
      const runs = webDetails.executions
        .map((e) => [e.startedAt.getTime(), e.finishedAt!.getTime()] as const)
        .sort((a, b) => a[0] - b[0]);
      for (let i = 1; i < runs.length; i++)
        assert.ok(
          runs[i]![0] >= runs[i - 1]![1] - 5,
          `never two converges of web at once: ${JSON.stringify(webDetails.executions)}`,
        );
      await eventually(async () => (await scalableTarget(run)).min === 2, 8000, 'web back to its baseline');
      assert.deepEqual(await scalableTarget(run), { min: 2, max: 10 });
    });

    it('a resource removed from the config since its window was made is not touched: the transition fails, saying why', async () => {
      // Prepare: a window on web, then web leaves the allow-list (the config the converge reads)
      run = await runChronops(backend);
      const created = await post(run, '/api/windows', {
        name: 'gone',
        ecs: [{ resource: 'web', amount: 12 }],
        timing: { mode: 'explicit', at: isoIn(800), until: isoIn(60_000) },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      delete (run.config.resources as Record<string, unknown>).web;
      // Act
      const start = await eventually(
        async () => {
          const d = await run.service.details(created.body.window.id);
          const t = d.transitions.find((x) => x.kind === 'start');
          return t?.status === 'failed' ? t : undefined;
        },
        8000,
        'the start refused',
      );
      // Assess: nothing sent to AWS for web, and the reason recorded
      assert.match(start.error ?? '', /"web" is no longer in the configuration; nothing was changed/);
      assert.deepEqual(mutatingCalls(run), []);
      assert.deepEqual(await scalableTarget(run), { min: 2, max: 10 });
    });

    it('follows a new reader until available and records its time to ready', async () => {
      run = await runChronops(backend);
      const seen: number[] = [];
      run.events.on('reader.available', (e) => seen.push(e.timeToReadyMs));
      await post(run, '/api/windows', {
        aurora: [{ amount: 1 }],
        timing: { mode: 'explicit', at: isoIn(500), until: isoIn(30_000) },
      });
      const reader = await eventually(
        async () => (await run.store.listReaders()).find((r) => r.status === 'available'),
        12_000,
        'reader available',
      );
      assert.ok(reader.availableAt! > reader.requestedAt);
      assert.equal(seen.length, 1);
      assert.ok(seen[0]! >= 1500, `time to ready ${seen[0]} ms reflects the simulated creation time`);
    });

    it('follows a reader that an earlier firing created but never recorded (a crash in between)', async () => {
      run = await runChronops(backend);
      const seen: string[] = [];
      run.events.on('reader.available', (e) => seen.push(e.reader.instanceId));
      const created = await post(run, '/api/windows', {
        aurora: [{ amount: 1 }],
        timing: { mode: 'explicit', at: isoIn(1000), until: isoIn(30_000) },
      });
      // Prepare: the reader this window asks for is already being created, as a process killed right after its
      // CreateDBInstance call leaves it (the call made, its outcome not recorded)
      const windowId: string = created.body.window.id;
      const instanceId = readerIdentifier(windowId, 1);
      await run.simulator.send('RDS', 'CreateDBInstance', {
        DBInstanceIdentifier: instanceId,
        DBClusterIdentifier: 'shop-aurora',
        DBInstanceClass: 'db.r6g.large',
        Engine: 'aurora-mysql',
        PromotionTier: 15,
        Tags: [
          { Key: 'chronops:managed', Value: 'true' },
          { Key: 'chronops:window', Value: windowId },
        ],
      });
      // Act: the window fires; its converge finds the reader on its way and creates nothing
      const reader = await eventually(
        async () => (await run.store.listReaders()).find((r) => r.status === 'available'),
        12_000,
        'the reader followed until available',
      );
      // Assess
      assert.equal(reader.instanceId, instanceId);
      assert.equal(reader.windowId, windowId);
      assert.deepEqual(seen, [instanceId]);
      assert.equal(mutatingCalls(run).filter((c) => c.command === 'CreateDBInstance').length, 0);
    });
  });
}

async function assertPostgres(backend: Backend) {
  const { db, drop } = await backend.open();
  try {
    await db.query('SELECT 1');
  } catch (error) {
    throw new Error(
      `PostgreSQL on 127.0.0.1:5432 is part of the test suite and is not reachable: ${(error as Error).message}`,
    );
  } finally {
    await drop();
  }
}

after(() => {});
