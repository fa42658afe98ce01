// The outbox against fake Slack, Teams and JANDI incoming webhooks (real HTTP servers on loopback): each
// destination's payload shape, the 28 KB cut, the pace per webhook (also across two servers), retries with
// Retry-After and backoff, and never a message twice — not after a lost answer, not after a crash between the
// send and its record.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, afterEach, before, describe, it } from 'node:test';
import { ChatStore } from '../../src/chat/chat-store.ts';
import { migrationModules } from '../../src/hosts/modules.ts';
import { createLogger, type Logger } from '../../src/kernel/logger.ts';
import { DESTINATION_DEFAULTS, type Destination, type DestinationKind } from '../../src/notify/config.ts';
import type { Notification } from '../../src/notify/notification.ts';
import { Notifier } from '../../src/notify/notifier.ts';
import { OutboxSender } from '../../src/notify/outbox.ts';
import { migrate } from '../../src/store/migrations.ts';
import type { PgliteDb } from '../../src/store/pglite-db.ts';
import { FakeWebhook, TEAMS_MAX_BYTES } from '../support/fake-webhooks.ts';
import { eventually } from '../support/harness.ts';
import { memoryPglite } from '../support/pglite.ts';

const silent = createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

/** The seed's job result: one failed tenant with its stack trace. */
const RESULT: Notification = {
  title: 'cms leave-status: 1 tenant failed',
  text: 'POST /scheduling-api/leave-status answered in 2.4 s',
  severity: 'error',
  fields: [
    { title: 'Job', value: 'leave-status' },
    { title: 'Duration', value: '2.4 s' },
    { title: 'Succeeded', value: '2' },
  ],
  sections: [
    { title: 'Failed tenants', items: ['tenant-b'] },
    { title: 'Succeeded tenants', items: ['tenant-a', 'tenant-c'] },
    {
      title: 'tenant-b',
      text: 'java.lang.IllegalStateException: no leave policy\n\tat LeaveService.run(LeaveService.java:42)',
      code: true,
    },
  ],
  link: { label: 'Open the run', url: 'http://127.0.0.1:3000/jobs/runs/r_1' },
  footer: 'run r_1',
};

describe('the outbox, for every destination kind', () => {
  let db: PgliteDb;
  let store: ChatStore;
  const fakes = {
    teams: new FakeWebhook('teams'),
    slack: new FakeWebhook('slack-webhook'),
    jandi: new FakeWebhook('jandi'),
  };
  const senders: OutboxSender[] = [];
  let n = 0;

  before(async () => {
    db = await memoryPglite();
    await migrate(db, 'chronops', migrationModules);
    store = new ChatStore(db, 'chronops');
    await Promise.all(Object.values(fakes).map((f) => f.start()));
  });
  after(async () => {
    await db.close();
    await Promise.all(Object.values(fakes).map((f) => f.stop()));
  });
  afterEach(async () => {
    await Promise.all(senders.splice(0).map((s) => s.stop()));
  });

  function destination(kind: DestinationKind, name: string, url: string, extra: Partial<Destination> = {}) {
    return {
      name,
      kind,
      url,
      minIntervalMs: DESTINATION_DEFAULTS[kind].minIntervalMs,
      maxBytes: DESTINATION_DEFAULTS[kind].maxBytes,
      timeoutMs: 2000,
      onUncertain: 'skip',
      ...extra,
    } satisfies Destination;
  }

  /** A fresh set of destinations on fresh hook paths, a sender (or two: two servers) and a notifier. */
  function setup(
    overrides: Partial<Destination> = {},
    options: { servers?: number; logger?: Logger; start?: boolean } = {},
  ) {
    n += 1;
    const names = { teams: `teams-${n}`, slack: `slack-${n}`, jandi: `jandi-${n}` };
    const destinations: Record<string, Destination> = {
      [names.teams]: destination('teams', names.teams, fakes.teams.url(names.teams), overrides),
      [names.slack]: destination('slack-webhook', names.slack, fakes.slack.url(names.slack), overrides),
      [names.jandi]: destination('jandi', names.jandi, fakes.jandi.url(names.jandi), overrides),
    };
    const make = (node: string) =>
      new OutboxSender({
        store,
        transports: {},
        destinations,
        node,
        logger: options.logger ?? silent,
        postIntervalMs: 0,
        pollMs: 50,
        leaseMs: 10_000,
      });
    const mine = Array.from({ length: options.servers ?? 1 }, (_, i) => make(`node-${n}-${i}`));
    senders.push(...mine);
    if (options.start !== false) for (const s of mine) s.start();
    const notifier = new Notifier({
      store,
      destinations,
      onQueued: () => {
        for (const s of mine) s.notify();
      },
    });
    return { names, notifier, senders: mine, destinations };
  }

  async function statusOf(key: string) {
    return (await store.listOutbox({ limit: 5000 })).find((r) => r.key === key);
  }
  const done = (key: string) =>
    eventually(async () => {
      const r = await statusOf(key);
      return r && !['pending', 'held'].includes(r.status) && r;
    });

  it('Teams gets the Workflows envelope with an Adaptive Card: facts, tenants, trace, link, red for a failure', async () => {
    // Prepare
    const { names, notifier } = setup();
    // Act
    await notifier.send(names.teams, RESULT, { key: `t:${n}:shape` });
    // Assess
    assert.equal((await done(`t:${n}:shape`)).status, 'posted');
    const [request] = fakes.teams.delivered(names.teams);
    assert.equal(request!.headers['content-type'], 'application/json; charset=utf-8');
    assert.equal(request!.headers['idempotency-key'], `t:${n}:shape`);
    // biome-ignore lint/suspicious/noExplicitAny: a card is read loosely
    const body = request!.body as { type: string; attachments: Array<{ contentType: string; content: any }> };
    assert.equal(body.type, 'message');
    assert.equal(body.attachments.length, 1);
    assert.equal(body.attachments[0]!.contentType, 'application/vnd.microsoft.card.adaptive');
    const card = body.attachments[0]!.content;
    assert.equal(card.type, 'AdaptiveCard');
    assert.equal(card.version, '1.4');
    assert.equal(card.body[0].style, 'attention');
    assert.equal(card.body[0].items[0].text, 'cms leave-status: 1 tenant failed');
    const facts = card.body.find((b: { type: string }) => b.type === 'FactSet').facts;
    assert.deepEqual(facts[0], { title: 'Job', value: 'leave-status' });
    const text = JSON.stringify(card);
    assert.match(text, /Failed tenants/);
    assert.match(text, /- tenant-b/);
    assert.match(text, /"fontType":"Monospace"/);
    assert.deepEqual(card.actions, [
      { type: 'Action.OpenUrl', title: 'Open the run', url: 'http://127.0.0.1:3000/jobs/runs/r_1' },
    ]);
  });

  it('a Slack incoming webhook gets Block Kit; JANDI its body, colour and connectInfo with its Accept header', async () => {
    // Prepare
    const { names, notifier } = setup();
    // Act
    await notifier.send(names.slack, RESULT, { key: `s:${n}:shape` });
    await notifier.send(names.jandi, RESULT, { key: `j:${n}:shape` });
    // Assess
    assert.equal((await done(`s:${n}:shape`)).status, 'posted');
    assert.equal((await done(`j:${n}:shape`)).status, 'posted');
    // biome-ignore lint/suspicious/noExplicitAny: blocks are read loosely
    const slack = fakes.slack.delivered(names.slack)[0]!.body as { text: string; blocks: any[] };
    assert.match(slack.text, /^:rotating_light: cms leave-status: 1 tenant failed/);
    assert.deepEqual(
      slack.blocks.map((b) => b.type),
      ['header', 'section', 'section', 'section', 'section', 'section', 'section', 'context'],
    );
    assert.equal(slack.blocks[2].fields[0].text, '*Job*\nleave-status');
    assert.match(slack.blocks[5].text.text, /```java\.lang\.IllegalStateException/);
    assert.equal(slack.blocks[6].text.text, '<http://127.0.0.1:3000/jobs/runs/r_1|Open the run>');
    const jandi = fakes.jandi.delivered(names.jandi)[0]!;
    assert.equal(jandi.headers.accept, 'application/vnd.tosslab.jandi-v2+json');
    const body = jandi.body as {
      body: string;
      connectColor: string;
      connectInfo: Array<{ title: string; description: string }>;
    };
    assert.match(body.body, /^\*\*cms leave-status: 1 tenant failed\*\*\nPOST \/scheduling-api/);
    assert.match(body.body, /\[Open the run\]\(http:\/\/127\.0\.0\.1:3000\/jobs\/runs\/r_1\)$/);
    assert.equal(body.connectColor, '#EB5757');
    assert.deepEqual(body.connectInfo[0], { title: 'Job', description: 'leave-status' });
    assert.deepEqual(body.connectInfo[3], { title: 'Failed tenants', description: '• tenant-b' });
  });

  it('cuts a result too big for Teams to fit 28 KB, stack traces first, and says so', async () => {
    // Prepare: 300 failed tenants, each with a long trace (Korean in it: 3 bytes a character).
    const trace = `java.lang.RuntimeException: 휴가 정책 없음\n${'\tat com.example.LeaveService.run(LeaveService.java:42)\n'.repeat(40)}`;
    const tenants = Array.from({ length: 300 }, (_, i) => `tenant-${String(i).padStart(3, '0')}`);
    const big: Notification = {
      ...RESULT,
      sections: [
        { title: 'Failed tenants', items: tenants },
        ...tenants.slice(0, 50).map((t) => ({ title: t, text: trace, code: true })),
      ],
    };
    const { names, notifier } = setup();
    // Act
    await notifier.send(names.teams, big, { key: `t:${n}:big` });
    // Assess
    assert.equal((await done(`t:${n}:big`)).status, 'posted');
    const [request] = fakes.teams.delivered(names.teams);
    assert.ok(request!.bytes <= 28_000, `${request!.bytes} bytes`);
    assert.ok(request!.bytes > 20_000, `used the room: ${request!.bytes} bytes`);
    const text = JSON.stringify(request!.body);
    assert.match(text, /characters cut to fit/);
    assert.match(text, /- tenant-000/);
    assert.match(text, /LeaveService\.run/);
    assert.ok(TEAMS_MAX_BYTES >= 28_000);
  });

  it('paces each Teams webhook at 4 requests a second; another webhook does not wait', async () => {
    // Prepare
    const { names, notifier, destinations } = setup();
    const other = `teams-other-${n}`;
    destinations[other] = destination('teams', other, fakes.teams.url(other));
    // Act
    for (let i = 0; i < 5; i++)
      await notifier.send(names.teams, { title: `paced ${i}` }, { key: `t:${n}:pace:${i}` });
    await notifier.send(other, { title: 'not paced' }, { key: `t:${n}:other` });
    // Assess
    await done(`t:${n}:pace:4`);
    const paced = fakes.teams.delivered(names.teams);
    assert.deepEqual(
      paced.map((r) => JSON.stringify(r.body).match(/paced \d/)![0]),
      ['paced 0', 'paced 1', 'paced 2', 'paced 3', 'paced 4'],
    );
    for (let i = 1; i < paced.length; i++) {
      assert.ok(paced[i]!.at - paced[i - 1]!.at >= 245, `gap ${paced[i]!.at - paced[i - 1]!.at} ms`);
    }
    const [o] = fakes.teams.delivered(other);
    assert.ok(o!.at < paced[2]!.at, 'the other webhook went out without waiting for the paced one');
  });

  it('keeps the pace of one webhook across two servers sharing the outbox', async () => {
    // Prepare
    const { names, notifier } = setup({ minIntervalMs: 300 }, { servers: 2 });
    // Act
    for (let i = 0; i < 4; i++)
      await notifier.send(names.jandi, { title: `two servers ${i}` }, { key: `j:${n}:two:${i}` });
    // Assess
    await done(`j:${n}:two:3`);
    const got = fakes.jandi.delivered(names.jandi);
    assert.equal(got.length, 4);
    for (let i = 1; i < got.length; i++) {
      assert.ok(got[i]!.at - got[i - 1]!.at >= 290, `gap ${got[i]!.at - got[i - 1]!.at} ms`);
    }
  });

  it('honours Retry-After on a 429 and retries a 5xx with backoff, delivering once', async () => {
    // Prepare
    const { names, notifier } = setup();
    fakes.teams.fail({ status: 429, retryAfter: 1 });
    fakes.slack.fail({ status: 500, body: 'rollup_error' });
    // Act
    await notifier.send(names.teams, { title: 'after the limit' }, { key: `t:${n}:429` });
    await notifier.send(names.slack, { title: 'after the 500' }, { key: `s:${n}:500` });
    // Assess
    assert.equal((await done(`t:${n}:429`)).status, 'posted');
    assert.equal((await done(`s:${n}:500`)).status, 'posted');
    const teams = fakes.teams.requests.filter((r) => r.path.endsWith(names.teams));
    assert.deepEqual(
      teams.map((r) => r.status),
      [429, 202],
    );
    assert.ok(teams[1]!.at - teams[0]!.at >= 1000, `waited ${teams[1]!.at - teams[0]!.at} ms`);
    const slack = fakes.slack.requests.filter((r) => r.path.endsWith(names.slack));
    assert.deepEqual(
      slack.map((r) => r.status),
      [500, 200],
    );
    assert.equal(fakes.slack.delivered(names.slack).length, 1);
  });

  it('gives up at once on an answer that retrying cannot change', async () => {
    const { names, notifier } = setup();
    fakes.slack.fail({ status: 404, body: 'no_service' });
    await notifier.send(names.slack, { title: 'to a removed webhook' }, { key: `s:${n}:404` });
    const row = await done(`s:${n}:404`);
    assert.equal(row.status, 'failed');
    assert.match(row.error ?? '', /HTTP 404 no_service/);
    assert.equal(fakes.slack.requests.filter((r) => r.path.endsWith(names.slack)).length, 1);
  });

  it('a message whose answer was lost is not sent again: recorded unknown (onUncertain: skip, the default)', async () => {
    // Prepare
    const { names, notifier } = setup();
    fakes.jandi.fail({ lostAnswer: true });
    // Act
    await notifier.send(names.jandi, { title: 'maybe arrived' }, { key: `j:${n}:lost` });
    // Assess
    const row = await done(`j:${n}:lost`);
    assert.equal(row.status, 'unknown');
    assert.match(row.error ?? '', /outcome is unknown.*not sent again/);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(fakes.jandi.delivered(names.jandi).length, 1);
  });

  it('with onUncertain: resend, it is sent again with the same Idempotency-Key', async () => {
    // Prepare
    const { names, notifier } = setup({ onUncertain: 'resend' });
    fakes.teams.fail({ lostAnswer: true });
    // Act
    await notifier.send(names.teams, { title: 'at least once' }, { key: `t:${n}:resend` });
    // Assess
    assert.equal((await done(`t:${n}:resend`)).status, 'posted');
    const got = fakes.teams.delivered(names.teams);
    assert.equal(got.length, 2);
    assert.equal(got[0]!.headers['idempotency-key'], got[1]!.headers['idempotency-key']);
  });

  it('a request with no answer within the timeout is unknown, not sent twice', async () => {
    const { names, notifier } = setup({ timeoutMs: 300 });
    fakes.teams.fail({ hold: true });
    await notifier.send(names.teams, { title: 'slow receiver' }, { key: `t:${n}:slow` });
    const row = await done(`t:${n}:slow`);
    fakes.teams.release();
    assert.equal(row.status, 'unknown');
    assert.match(row.error ?? '', /no answer within 300 ms/);
    assert.equal(fakes.teams.delivered(names.teams).length, 1);
  });

  it('a crash between the send and its record does not send twice', async () => {
    // Prepare: the previous process claimed the row, marked the attempt, sent it, and died before recording it
    // (its claim's lease ran out).
    const { names, notifier, senders } = setup({}, { start: false });
    await notifier.send(names.teams, { title: 'before the crash' }, { key: `t:${n}:crash` });
    const [row] = await store.claimOutbox('dead-node', 60_000, 1);
    assert.equal(row!.key, `t:${n}:crash`);
    assert.equal(await store.markAttempt(row!, { node: 'dead-node', marginMs: 0 }), true);
    await fetch(fakes.teams.url(names.teams), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        type: 'message',
        attachments: [{ contentType: 'application/vnd.microsoft.card.adaptive', content: {} }],
      }),
    });
    await db.query(
      `UPDATE chronops.chat_outbox SET locked_until = clock_timestamp() - interval '1 second' WHERE id = $1`,
      [row!.id],
    );
    // Act: a new process takes the row once the dead one's lease is over.
    senders[0]!.start();
    // Assess
    assert.equal((await done(`t:${n}:crash`)).status, 'unknown');
    assert.equal(fakes.teams.delivered(names.teams).length, 1);
  });

  it("inside the caller's transaction: queued if it commits, nothing if it rolls back", async () => {
    // Prepare
    const { names, notifier } = setup();
    // Act
    await db.transaction(async (tx) => {
      await notifier.send(names.jandi, { title: 'kept' }, { key: `j:${n}:tx-ok`, tx });
    });
    notifier.wake();
    await assert.rejects(
      db.transaction(async (tx) => {
        await notifier.send(names.jandi, { title: 'rolled back' }, { key: `j:${n}:tx-no`, tx });
        throw new Error('the run failed to record');
      }),
      /failed to record/,
    );
    // Assess
    assert.equal((await done(`j:${n}:tx-ok`)).status, 'posted');
    assert.equal(await statusOf(`j:${n}:tx-no`), undefined);
    assert.equal(fakes.jandi.delivered(names.jandi).length, 1);
  });

  it('the same key queued twice is one message', async () => {
    const { names, notifier } = setup();
    await notifier.send(names.jandi, { title: 'once' }, { key: `j:${n}:twice` });
    await notifier.send(names.jandi, { title: 'once' }, { key: `j:${n}:twice` });
    await done(`j:${n}:twice`);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(fakes.jandi.delivered(names.jandi).length, 1);
  });

  it('never writes a webhook URL to the log, not even when it fails', async () => {
    // Prepare
    let out = '';
    const sink = new Writable({
      write(chunk, _enc, cb) {
        out += chunk;
        cb();
      },
    });
    const url = fakes.slack.url(`secret-${n}`);
    const logger = createLogger({ level: 'debug', secrets: [url, new URL(url).pathname], destination: sink });
    const { names, notifier, destinations } = setup({}, { logger });
    destinations[names.slack]!.url = url;
    fakes.slack.fail({ status: 403, body: `invalid_token for ${url}` });
    // Act
    await notifier.send(names.slack, { title: 'refused' }, { key: `s:${n}:log` });
    // Assess
    await done(`s:${n}:log`);
    assert.match(out, /giving up/);
    assert.doesNotMatch(out, new RegExp(`secret-${n}`));
  });
});
