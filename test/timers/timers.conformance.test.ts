// The timer loop on both databases: due rows run at their time, once, one at a time per key; a busy or failing
// key never holds up another; scheduling twice is harmless; cancel and replace; retries; several servers.
import assert from 'node:assert/strict';
import { after, afterEach, describe, it } from 'node:test';
import type { PgBoss } from 'pg-boss';
import { createLogger } from '../../src/kernel/logger.ts';
import type { Db } from '../../src/store/db.ts';
import { migrate } from '../../src/store/migrations.ts';
import type { PgliteDb } from '../../src/store/pglite-db.ts';
import { startBoss } from '../../src/timers/boss.ts';
import { timersMigrations } from '../../src/timers/migrations.ts';
import type { FiredTimer, TimerHandler } from '../../src/timers/port.ts';
import { Timers, type TimersOptions } from '../../src/timers/timers.ts';
import { backends, eventually, freshSchema } from '../support/harness.ts';
import { memoryPglite } from '../support/pglite.ts';

interface Node {
  timers: Timers;
  boss: PgBoss;
}

const logger = createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

async function startNode(
  db: Db,
  schema: string,
  handlers: TimerHandler[],
  name: string,
  options: Partial<TimersOptions> = {},
): Promise<Node> {
  const boss = await startBoss(db, schema, { maintenance: false });
  const timers = new Timers({ db, boss, schema, node: name, logger, pollMs: 100, ...options });
  for (const h of handlers) timers.handle(h);
  await timers.start();
  return { timers, boss };
}

async function stopNode(n: Node): Promise<void> {
  await n.timers.stop();
  await n.boss.stop({ graceful: false });
}

function inMs(ms: number): Date {
  return new Date(Date.now() + ms);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** No run under way in this node (each run's outcome recorded or dropped). */
function idle(n: Node): boolean {
  return (n.timers as unknown as { running: Map<string, unknown> }).running.size === 0;
}

for (const backend of backends) {
  describe(`timer loop: ${backend.name}`, () => {
    let opened: Awaited<ReturnType<typeof backend.open>> | undefined;
    const nodes: Node[] = [];
    // One embedded database for the whole file (starting one costs seconds), a fresh schema per test.
    let shared: PgliteDb | undefined;
    after(async () => {
      await shared?.close();
    });
    async function open(): Promise<Awaited<ReturnType<typeof backend.open>>> {
      if (backend.name !== 'pglite') return backend.open();
      shared ??= await memoryPglite();
      const db = shared;
      const schema = freshSchema();
      return {
        db,
        schema,
        drop: async () => {
          await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
          await db.query(`DROP SCHEMA IF EXISTS ${schema}_boss CASCADE`);
        },
      };
    }

    async function setUp(
      handlers: TimerHandler[],
      count = 1,
      options: Partial<TimersOptions> = {},
    ): Promise<Node[]> {
      opened = await open();
      await migrate(opened.db, opened.schema, [timersMigrations]);
      for (let i = 0; i < count; i++) {
        nodes.push(await startNode(opened.db, opened.schema, handlers, `node-${i}`, options));
      }
      return nodes;
    }

    async function addNode(
      handlers: TimerHandler[],
      name: string,
      options: Partial<TimersOptions> = {},
    ): Promise<Node> {
      const n = await startNode(opened!.db, opened!.schema, handlers, name, options);
      nodes.push(n);
      return n;
    }

    /** A handler whose runs on `stuckOn` never end by themselves (a hung or dead server), until aborted. */
    function stuckHandler(stuckOn: string, runs: Array<{ node: string; attempt: number; resumed: boolean }>) {
      let release: () => void = () => {};
      const released = new Promise<void>((r) => {
        release = r;
      });
      const handler: TimerHandler = {
        kind: 'test.long',
        run: async (_timers, ctx) => {
          runs.push({ node: ctx.node, attempt: ctx.attempt, resumed: ctx.resumed });
          if (ctx.node === stuckOn) {
            await Promise.race([
              released,
              new Promise((r) => ctx.signal.addEventListener('abort', r, { once: true })),
            ]);
          }
        },
      };
      return { handler, release: () => release() };
    }

    it('a server whose lease runs out (hung, or killed) has its key taken over by another within the lease', async () => {
      // Prepare: node-0 runs r1, then hangs (its heartbeat stops); node-1 is healthy
      const runs: Array<{ node: string; attempt: number; resumed: boolean }> = [];
      const stuck = stuckHandler('node-0', runs);
      const [a] = await setUp([stuck.handler], 1, { leaseMs: 600, heartbeatMs: 100 });
      await a!.timers.schedule([{ kind: 'test.long', key: 'r1', dueAt: inMs(50), dedupe: 'x' }]);
      await eventually(async () => runs.length === 1, 10_000, 'node-0 running r1');
      clearInterval((a!.timers as unknown as { heartbeat: NodeJS.Timeout }).heartbeat);
      const b = await addNode([stuck.handler], 'node-1', { leaseMs: 600, heartbeatMs: 100 });
      const t0 = Date.now();
      // Act: node-0 never renews its lease
      await eventually(async () => (await statuses()).x === 'done', 5000, 'r1 done by node-1');
      // Assess
      const tookMs = Date.now() - t0;
      assert.ok(tookMs < 5000, `taken over ${tookMs} ms after node-1 started (lease 600 ms)`);
      assert.deepEqual(runs, [
        { node: 'node-0', attempt: 0, resumed: false },
        { node: 'node-1', attempt: 1, resumed: true },
      ]);
      // The hung server's late outcome is dropped (once its run has ended), and the key is free
      stuck.release();
      await eventually(async () => idle(a!), 5000, "node-0's late run ended");
      assert.deepEqual(await statuses(), { x: 'done' });
      assert.deepEqual(await opened!.db.query(`SELECT * FROM ${opened!.schema}.timer_keys`), []);
      assert.ok(b);
    });

    it('a server whose lease ran out while it fetched does not run the job sent for its keys: it hands it back', async () => {
      // Prepare: node-0 runs r1 and hangs (its heartbeat stops), but still believes its lease holds — the moment
      // between its lease check and its fetch, made to last. node-1 takes r1 over and fetches nothing itself.
      const runs: Array<{ node: string; attempt: number; resumed: boolean }> = [];
      const stuck = stuckHandler('node-0', runs);
      const [a] = await setUp([stuck.handler], 1, { leaseMs: 600, heartbeatMs: 100 });
      await a!.timers.schedule([{ kind: 'test.long', key: 'r1', dueAt: inMs(50), dedupe: 'x' }]);
      await eventually(async () => runs.length === 1, 10_000, 'node-0 running r1');
      const hung = a!.timers as unknown as {
        heartbeat: NodeJS.Timeout;
        beating: Promise<void> | undefined;
        leaseHeldUntil: number;
      };
      clearInterval(hung.heartbeat);
      await hung.beating; // a renewal under way would set its belief back
      hung.leaseHeldUntil = Number.POSITIVE_INFINITY;
      await addNode([stuck.handler], 'node-1', { leaseMs: 600, heartbeatMs: 100, concurrency: 0 });
      const key = () =>
        opened!.db.query<{ job_id: string; takeovers: number; node: string | null }>(
          `SELECT job_id, takeovers, node FROM ${opened!.schema}.timer_keys`,
        );
      const job = async (id: string) =>
        (
          await opened!.db.query<{ state: string }>(
            `SELECT state FROM ${opened!.schema}_boss.job WHERE id = $1`,
            [id],
          )
        )[0]?.state;
      const sent = await eventually(
        async () => (await key()).find((k) => k.takeovers === 1)?.job_id,
        10_000,
        'r1 taken over by node-1',
      );
      // Act: node-0, the only server fetching, fetches the job sent for its own key
      // (or, already, having handed it back: then it knows its lease is gone and fetches nothing more)
      await eventually(
        async () => hung.leaseHeldUntil === 0 || (await job(sent)) !== 'created',
        10_000,
        'node-0 fetching the new job',
      );
      const c = await addNode([stuck.handler], 'node-2', { leaseMs: 600, heartbeatMs: 100 });
      // Assess: node-0 did not run it again; it went back, and a live server ran it
      await eventually(async () => (await statuses()).x === 'done', 10_000, 'r1 done by node-2');
      assert.deepEqual(runs, [
        { node: 'node-0', attempt: 0, resumed: false },
        { node: 'node-2', attempt: 1, resumed: true },
      ]);
      stuck.release();
      await eventually(async () => idle(a!), 5000, "node-0's late run ended");
      assert.ok(c);
    });

    it('the embedded database case: a server started with takeBackAtStart resumes every key at once', async () => {
      const runs: Array<{ node: string; attempt: number; resumed: boolean }> = [];
      const stuck = stuckHandler('node-0', runs);
      // node-0's lease would last an hour: only takeBackAtStart can free its keys. Its pool holds its two runs and
      // no more, so it fetches nothing after them (like the dead process it stands for).
      const [a] = await setUp([stuck.handler], 1, { leaseMs: 3_600_000, concurrency: 2 });
      await a!.timers.schedule([
        { kind: 'test.long', key: 'r1', dueAt: inMs(50), dedupe: 'x' },
        { kind: 'test.long', key: 'r2', dueAt: inMs(50), dedupe: 'y' },
      ]);
      await eventually(async () => runs.length === 2, 5000, 'node-0 running r1 and r2');
      // Measured from node-1 started (the product's bound counts from the restarted server listening): its own
      // start — pg-boss on the schema, seconds on a loaded machine — is not the take-back.
      await addNode([stuck.handler], 'node-1', { takeBackAtStart: true });
      const t0 = Date.now();
      await eventually(
        async () => Object.values(await statuses()).every((s) => s === 'done'),
        5000,
        'r1 and r2 done by node-1',
      );
      assert.ok(Date.now() - t0 < 5000, `resumed in ${Date.now() - t0} ms`);
      assert.deepEqual(
        runs.filter((r) => r.node === 'node-1'),
        [
          { node: 'node-1', attempt: 1, resumed: true },
          { node: 'node-1', attempt: 1, resumed: true },
        ],
      );
      stuck.release();
    });

    it('stop hands runs still under way back after handBackMs; another server resumes them', async () => {
      const runs: Array<{ node: string; attempt: number; resumed: boolean }> = [];
      const stuck = stuckHandler('node-0', runs);
      const [a] = await setUp([stuck.handler], 1, { handBackMs: 200, leaseMs: 3_600_000 });
      await addNode([stuck.handler], 'node-1', { leaseMs: 3_600_000 });
      await a!.timers.schedule([{ kind: 'test.long', key: 'r1', dueAt: inMs(50), dedupe: 'x' }]);
      await eventually(async () => runs.length === 1, 5000, 'a run started');
      if (runs[0]!.node !== 'node-0') return; // node-1 took it first: nothing to hand back in this draw
      const t0 = Date.now();
      await a!.timers.stop();
      const stopMs = Date.now() - t0;
      assert.ok(stopMs < 1000, `stop bounded (${stopMs} ms)`);
      await eventually(async () => (await statuses()).x === 'done', 5000, 'r1 done by node-1');
      assert.deepEqual(runs[1], { node: 'node-1', attempt: 1, resumed: true });
      const leases = await opened!.db.query<{ node: string }>(`SELECT node FROM ${opened!.schema}.nodes`);
      assert.deepEqual(
        leases.map((l) => l.node),
        ['node-1'],
        'the stopped server gave up its lease',
      );
    });

    afterEach(async () => {
      for (const n of nodes.splice(0)) await stopNode(n).catch(() => {});
      await opened?.drop();
      opened = undefined;
    });

    async function statuses(): Promise<Record<string, string>> {
      const rows = await opened!.db.query<{ dedupe: string; status: string }>(
        `SELECT dedupe, status FROM ${opened!.schema}.timers`,
      );
      return Object.fromEntries(rows.map((r) => [r.dedupe, r.status]));
    }

    it('runs a row at its time with its payload, once, even when scheduled twice', async () => {
      // Prepare
      const ran: Array<{ timer: FiredTimer<{ n: number }>; at: number }> = [];
      const [node] = await setUp([
        {
          kind: 'test.ping',
          run: async (timers) => {
            for (const timer of timers as FiredTimer<{ n: number }>[]) ran.push({ timer, at: Date.now() });
          },
        },
      ]);
      const due = inMs(400);
      // Act
      await node!.timers.schedule([
        { kind: 'test.ping', key: 'a', dueAt: due, payload: { n: 1 }, dedupe: 'p1' },
      ]);
      await node!.timers.schedule([
        { kind: 'test.ping', key: 'a', dueAt: due, payload: { n: 2 }, dedupe: 'p1' },
      ]);
      // Assess: one row (the second schedule was dropped), done: it cannot run again
      await eventually(async () => (await statuses()).p1 === 'done' && idle(node!), 5000, 'the row run');
      assert.equal(ran.length, 1, 'scheduled twice, run once');
      assert.deepEqual(ran[0]!.timer.payload, { n: 1 });
      assert.ok(ran[0]!.at >= due.getTime(), 'not before its time');
      assert.ok(ran[0]!.at - due.getTime() < 1000, `on time (${ran[0]!.at - due.getTime()} ms late)`);
      assert.deepEqual(await statuses(), { p1: 'done' });
    });

    it('cancel drops a pending row; replace moves it', async () => {
      const ran: string[] = [];
      const [node] = await setUp([
        { kind: 'test.ping', run: async (timers) => void ran.push(...timers.map((t) => t.dedupe!)) },
      ]);
      // `after` falls due after the cancelled row would have: once it has run, so would have `gone`.
      await node!.timers.schedule([
        { kind: 'test.ping', key: 'a', dueAt: inMs(300), dedupe: 'gone' },
        { kind: 'test.ping', key: 'b', dueAt: inMs(60_000), dedupe: 'moved' },
        { kind: 'test.ping', key: 'a', dueAt: inMs(500), dedupe: 'after' },
      ]);
      assert.equal(await node!.timers.cancel({ kind: 'test.ping', dedupe: ['gone'] }), 1);
      await node!.timers.schedule([{ kind: 'test.ping', key: 'b', dueAt: inMs(200), dedupe: 'moved' }], {
        replace: true,
      });
      // Run, and recorded done (the record follows the run function's end: a turn later under load).
      await eventually(
        async () => ran.includes('moved') && ran.includes('after') && idle(node!),
        5000,
        'the moved row and the one after the cancelled row run',
      );
      assert.deepEqual([...ran].sort(), ['after', 'moved']);
      assert.deepEqual(await statuses(), { gone: 'cancelled', moved: 'done', after: 'done' });
      assert.equal(
        await node!.timers.cancel({ kind: 'test.ping', dedupe: ['moved'] }),
        0,
        'finished: not cancelled',
      );
    });

    it('one run at a time per key; a slow key never holds up the others', async () => {
      // Prepare: key `slow` runs for 1.5 s; its second row falls due while the first still runs, and so do
      // rows of five other keys
      const log: Array<{ key: string; dedupe: string; start: number; end: number }> = [];
      let concurrentSlow = 0;
      let maxConcurrentSlow = 0;
      const [node] = await setUp([
        {
          kind: 'test.work',
          run: async (timers, ctx) => {
            const start = Date.now();
            if (ctx.key === 'slow') {
              concurrentSlow++;
              maxConcurrentSlow = Math.max(maxConcurrentSlow, concurrentSlow);
              await sleep(1500);
              concurrentSlow--;
            }
            for (const t of timers) log.push({ key: ctx.key, dedupe: t.dedupe!, start, end: Date.now() });
          },
        },
      ]);
      const t0 = Date.now() + 300;
      await node!.timers.schedule([
        { kind: 'test.work', key: 'slow', dueAt: new Date(t0), dedupe: 'slow-1' },
        ...[1, 2, 3, 4, 5].map((i) => ({
          kind: 'test.work',
          key: `k${i}`,
          dueAt: new Date(t0 + 200 + i * 50),
          dedupe: `k${i}`,
        })),
      ]);
      // slow-2 falls due while slow-1 runs (scheduled once it does: due together, a late claim would hand both
      // rows to one run)
      await eventually(async () => concurrentSlow === 1, 10_000, 'slow-1 running');
      await node!.timers.schedule([{ kind: 'test.work', key: 'slow', dueAt: inMs(0), dedupe: 'slow-2' }]);
      // Act
      await eventually(async () => log.length === 7, 10_000, 'every row run');
      // Assess
      assert.equal(maxConcurrentSlow, 1, 'never two runs of one key at once');
      const slow1 = log.find((l) => l.dedupe === 'slow-1')!;
      const slow2 = log.find((l) => l.dedupe === 'slow-2')!;
      assert.ok(slow2.start >= slow1.end, 'the second row of a busy key waits for the first run');
      assert.ok(slow2.start - slow1.end < 1000, `then runs at once (${slow2.start - slow1.end} ms later)`);
      for (const l of log.filter((x) => x.key.startsWith('k'))) {
        const due = t0 + 200 + Number(l.key.slice(1)) * 50;
        assert.ok(l.start - due < 1000, `${l.key} ran ${l.start - due} ms after its time, not behind slow`);
        assert.ok(l.end < slow1.end, `${l.key} finished while slow was still running`);
      }
    });

    it('a failed run is retried; after the last attempt its rows fail and the key is free again', async () => {
      const attempts: Record<string, number> = {};
      const [node] = await setUp([
        {
          kind: 'test.flaky',
          retry: { limit: 1, delaySeconds: 0, backoff: false },
          run: async (timers, ctx) => {
            const name = timers[0]!.dedupe!;
            attempts[name] = (attempts[name] ?? 0) + 1;
            if (name === 'once' && ctx.attempt === 0) throw new Error('first attempt fails');
            if (name === 'never') throw new Error('always fails');
          },
        },
      ]);
      await node!.timers.schedule([
        { kind: 'test.flaky', key: 'x', dueAt: inMs(100), dedupe: 'once' },
        { kind: 'test.flaky', key: 'y', dueAt: inMs(100), dedupe: 'never' },
      ]);
      // `after` falls due once `never` runs (its key busy): a row due together with it would be claimed with it
      // and share its run — and its failure (what a row 50 ms behind did whenever the claim came 50 ms late).
      await eventually(async () => attempts.never !== undefined, 10_000, 'never running');
      await node!.timers.schedule([{ kind: 'test.flaky', key: 'y', dueAt: inMs(0), dedupe: 'after' }]);
      await eventually(
        async () => (await statuses()).after === 'done',
        10_000,
        'the row behind the failed one run',
      );
      assert.deepEqual(attempts, { once: 2, never: 2, after: 1 });
      assert.deepEqual(await statuses(), { once: 'done', never: 'failed', after: 'done' });
      const keys = await opened!.db.query(`SELECT * FROM ${opened!.schema}.timer_keys`);
      assert.deepEqual(keys, [], 'no key left busy');
    });

    it('onFire runs in the claim and can skip rows', async () => {
      const fired: string[] = [];
      const ran: string[] = [];
      const [node] = await setUp([
        {
          kind: 'test.gate',
          onFire: async (_tx, timers) => {
            fired.push(...timers.map((t) => t.dedupe!));
            return { skip: timers.filter((t) => t.dedupe === 'skip-me').map((t) => t.id) };
          },
          run: async (timers) => void ran.push(...timers.map((t) => t.dedupe!)),
        },
      ]);
      await node!.timers.schedule([
        { kind: 'test.gate', key: 'a', dueAt: inMs(100), dedupe: 'skip-me' },
        { kind: 'test.gate', key: 'b', dueAt: inMs(100), dedupe: 'run-me' },
      ]);
      await eventually(async () => (await statuses())['run-me'] === 'done', 5000, 'run-me');
      assert.deepEqual(fired.sort(), ['run-me', 'skip-me']);
      assert.deepEqual(ran, ['run-me']);
      assert.equal((await statuses())['skip-me'], 'skipped');
    });

    it('rows of kinds no handler is registered for are refused at schedule time', async () => {
      const [node] = await setUp([{ kind: 'test.ping', run: async () => {} }]);
      await assert.rejects(
        node!.timers.schedule([{ kind: 'test.unknown', key: 'a', dueAt: inMs(100) }]),
        /no handler registered for timer kind test.unknown/,
      );
    });

    if (backend.name === 'postgres') {
      it('three servers: each row run once, one run per key at a time, work shared', async () => {
        const runs: Array<{ node: string; key: string; dedupe: string }> = [];
        const busy = new Set<string>();
        let overlap = 0;
        const handler: TimerHandler = {
          kind: 'test.shared',
          run: async (timers, ctx) => {
            if (busy.has(ctx.key)) overlap++;
            busy.add(ctx.key);
            await sleep(100);
            busy.delete(ctx.key);
            for (const t of timers) runs.push({ node: ctx.node, key: ctx.key, dedupe: t.dedupe! });
          },
        };
        // Five runs at a time per server and 100 ms a run: one server alone needs 400 ms for the 20 keys' first
        // runs, so the others (polling every 100 ms) find jobs waiting. With 25 at a time and 20 ms it could take
        // every key itself before they looked (failed once in CI: all 300 rows on one server).
        const [a] = await setUp([handler], 3, { concurrency: 5 });
        const base = Date.now() + 500;
        await a!.timers.schedule(
          Array.from({ length: 300 }, (_, i) => ({
            kind: 'test.shared',
            key: `k${i % 20}`,
            dueAt: new Date(base + (i % 10) * 30),
            dedupe: `r${i}`,
          })),
        );
        for (const n of nodes.slice(1)) n.timers.noteDue(new Date(base));
        // Every row done and no key busy: nothing can run again.
        await eventually(
          async () =>
            runs.length >= 300 &&
            Object.values(await statuses()).every((s) => s === 'done') &&
            (await opened!.db.query(`SELECT 1 FROM ${opened!.schema}.timer_keys`)).length === 0 &&
            nodes.every(idle),
          20_000,
          'all 300 rows run',
        );
        assert.equal(runs.length, 300);
        assert.equal(new Set(runs.map((r) => r.dedupe)).size, 300, 'each row once');
        assert.equal(overlap, 0, 'never two runs of a key at once');
        assert.ok(new Set(runs.map((r) => r.node)).size >= 2, 'work shared between servers');
      });
    }
  });
}

after(() => {});
