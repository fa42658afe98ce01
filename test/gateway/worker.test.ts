// The worker behind the gateway: handlers per source kind, the reply hook end to end (a quick answer in the HTTP
// response; a slow one too late, sent another way), deliveries nobody handles closed, and a storm from one source
// not starving another.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Delivery, InboxStore } from '../../src/gateway/inbox-store.ts';
import { createGateway, type GatewayRuntime } from '../../src/gateway/wiring.ts';
import { type HandleContext, InboxWorker } from '../../src/gateway/worker.ts';
import { migrationModules } from '../../src/hosts/modules.ts';
import { parseConfig } from '../../src/kernel/config.ts';
import { createLogger } from '../../src/kernel/logger.ts';
import { Metrics } from '../../src/kernel/metrics.ts';
import { migrate } from '../../src/store/migrations.ts';
import type { PgliteDb } from '../../src/store/pglite-db.ts';
import { eventually } from '../support/harness.ts';
import { memoryPglite } from '../support/pglite.ts';
import { githubHeaders, JANDI_TOKENS, jandiMessage, WEBHOOK_ENV } from '../support/webhooks.ts';

/** `n` stored JANDI messages of `source`, keyed `<prefix>-<i>`, for the inbox. */
const jandiItems = (source: string, prefix: string, n: number, body: (i: number) => string = () => '{}') =>
  Array.from({ length: n }, (_, i) => ({
    key: `${prefix}-${i}`,
    source,
    kind: 'jandi',
    type: 'message',
    subtype: source === 'storm' ? 'storm' : null,
    body: body(i),
    retryNum: null,
    partitionKey: null,
    topics: null,
  }));

describe('the gateway worker', () => {
  let db: PgliteDb;
  let gw: GatewayRuntime;
  const handled: string[] = [];
  const lateReplies: Array<{ text: string; delivered: boolean }> = [];

  before(async () => {
    db = await memoryPglite();
    await migrate(db, 'chronops', migrationModules);
    const config = parseConfig(
      {
        sources: [
          {
            kind: 'jandi',
            name: 'webhook',
            rooms: [{ name: 'ops', token: `\${JANDI_TOKEN_OPS}` }],
            replyWithinMs: 400,
          },
          {
            kind: 'jandi',
            name: 'storm',
            rooms: [{ name: 'storm', token: `\${JANDI_TOKEN_INFRA}` }],
            replyWithinMs: 0,
          },
          {
            kind: 'jandi',
            name: 'quiet',
            rooms: [{ name: 'quiet', token: `\${JANDI_TOKEN_OPS}` }],
            replyWithinMs: 0,
          },
          { kind: 'generic', name: 'github', scheme: 'github', secret: `\${GITHUB_SECRET}` },
        ],
      },
      WEBHOOK_ENV,
    );
    gw = createGateway({
      config,
      db,
      schema: 'chronops',
      metrics: new Metrics(),
      logger: createLogger({ level: 'silent' }),
      node: 'test',
      pollMs: 100,
    });
    gw.register('jandi', {
      handle: async (d: Delivery, ctx: HandleContext) => {
        const text = JSON.parse(d.body).text as string;
        handled.push(`${d.source}:${text}`);
        if (text.startsWith('slow')) {
          await new Promise((resolve) => setTimeout(resolve, 700));
          lateReplies.push({ text, delivered: ctx.reply({ status: 200, json: { body: 'late' } }) });
        } else if (text.startsWith('fast')) {
          assert.equal(ctx.replyWanted(), true);
          ctx.reply({ status: 200, json: { body: `answer to ${text}` } });
        }
        return undefined;
      },
    });
    gw.start();
  });
  after(async () => {
    await gw.stop();
    await db.close();
  });

  const post = (path: string, body: string, headers: Record<string, string>) =>
    gw.routes.request(path, { method: 'POST', headers, body });
  const json = { 'content-type': 'application/json' };

  it('answers the HTTP request with the handler’s quick reply, ahead of the queue', async () => {
    // Prepare: a backlog on another source, stored but not yet handled
    await gw.inbox.accept(
      jandiItems('storm', 'storm:backlog', 50, (i) => JSON.stringify({ text: `backlog ${i}` })),
    );
    // Act
    const started = Date.now();
    const answer = await post('/jandi/webhook', JSON.stringify(jandiMessage({ text: 'fast help' })), json);
    const ms = Date.now() - started;
    // Assess
    assert.equal(answer.status, 200);
    assert.deepEqual(await answer.json(), { body: 'answer to fast help' });
    assert.ok(ms < 400, `answered after ${ms} ms`);
  });

  it('answers the fallback when the reply is late, and tells the handler its reply went nowhere', async () => {
    const started = Date.now();
    const answer = await post('/jandi/webhook', JSON.stringify(jandiMessage({ text: 'slow start' })), json);
    const ms = Date.now() - started;
    assert.equal(answer.status, 200);
    assert.match(JSON.stringify(await answer.json()), /answer follows in this room/);
    assert.ok(ms >= 390 && ms < 2000, `fallback after ${ms} ms`);
    await eventually(async () => lateReplies.length === 1);
    assert.deepEqual(lateReplies, [{ text: 'slow start', delivered: false }]);
  });

  it('closes deliveries of a kind nobody handles, keeping them', async () => {
    const body = JSON.stringify({ action: 'opened' });
    const answer = await post('/hooks/github', body, githubHeaders(body, { delivery: 'gh-1' }));
    assert.equal(answer.status, 200);
    gw.worker!.notify();
    const row = await eventually(async () => {
      const r = await gw.inbox.get('github:gh-1');
      return r?.status === 'done' ? r : undefined;
    });
    assert.equal(row.error, 'no handler');
  });

  it('handles a quiet source’s delivery among the first while another source has a backlog of 300', async () => {
    // Prepare: wait for the earlier backlog to drain, then a storm of 300 and one quiet delivery after it
    await eventually(
      async () => ((await gw.inbox.backlog()).storm ?? 0) === 0,
      10_000,
      'the backlog to drain',
    );
    handled.length = 0;
    await gw.inbox.accept(jandiItems('storm', 'storm:s', 300, (i) => JSON.stringify({ text: `storm ${i}` })));
    const quiet = await post(
      '/jandi/quiet',
      JSON.stringify(jandiMessage({ text: 'quiet one', token: JANDI_TOKENS.ops })),
      json,
    );
    assert.equal(quiet.status, 200);
    // Act
    gw.worker!.notify();
    await eventually(async () => handled.includes('quiet:quiet one'), 10_000, 'the quiet delivery');
    // Assess: far fewer than the 300 before it were handled first (a claim takes half its batch from each source)
    const position = handled.indexOf('quiet:quiet one');
    assert.ok(position <= 40, `handled after ${position} storm deliveries`);
  });
});

describe('the gateway worker’s claims at a steady rate', () => {
  let db: PgliteDb;
  let inbox: InboxStore;
  before(async () => {
    db = await memoryPglite();
    await migrate(db, 'chronops', migrationModules);
    inbox = new InboxStore(db, 'chronops');
  });
  after(async () => {
    await db.close();
  });

  const items = (prefix: string, n: number) => jandiItems('ops', prefix, n);

  /** A worker over the real inbox, recording when each claim was made and how many it took. */
  function worker(gatherMs: number) {
    const claims: Array<{ at: number; rows: number }> = [];
    const handled: string[] = [];
    const counted = Object.create(inbox) as InboxStore;
    counted.claim = async (...args: Parameters<InboxStore['claim']>) => {
      const rows = await inbox.claim(...args);
      claims.push({ at: performance.now(), rows: rows.length });
      return rows;
    };
    const w = new InboxWorker({
      inbox: counted,
      node: 'test',
      logger: createLogger({ level: 'silent' }),
      sources: () => [{ name: 'ops', kind: 'jandi' }],
      pollMs: 50,
      batch: 4,
      gatherMs,
    });
    w.register('jandi', {
      handle: async (d: Delivery) => {
        handled.push(d.key);
        return undefined;
      },
    });
    return { w, claims, handled };
  }

  it('after a claim far from full, lets deliveries gather before the next claim', async () => {
    // Prepare
    const { w, claims, handled } = worker(400);
    await inbox.accept(items('trickle-a', 1));
    w.start();
    await eventually(async () => handled.length === 1);
    // Act: the next delivery arrives at once, and the worker is told
    await inbox.accept(items('trickle-b', 1));
    w.notify();
    await eventually(async () => handled.length === 2, 5000);
    await w.stop();
    // Assess: the claim that took it came at least the gather's 400 ms after the one that took the first
    const taking = claims.filter((c) => c.rows > 0);
    assert.equal(taking.length, 2);
    assert.ok(taking[1]!.at - taking[0]!.at >= 390, `${Math.round(taking[1]!.at - taking[0]!.at)} ms apart`);
  });

  it('takes a backlog without pausing: full claims follow one another', async () => {
    // Prepare: 12 waiting, claims of 4, a gather of 10 s that must not apply
    const { w, claims, handled } = worker(10_000);
    await inbox.accept(items('backlog', 12));
    // Act
    const started = performance.now();
    w.start();
    await eventually(async () => handled.filter((k) => k.startsWith('backlog')).length === 12, 5000);
    const took = performance.now() - started;
    await w.stop();
    // Assess
    assert.ok(took < 5000, `took ${Math.round(took)} ms`);
    assert.deepEqual(
      claims.filter((c) => c.rows > 0).map((c) => c.rows),
      [4, 4, 4],
    );
  });
});
