// Slack end to end, on the embedded database and on PostgreSQL: signed requests in, the local fake Slack Web API
// out. The alert's thread gets the plan and then the progress of the window; the Cancel button cancels and
// updates the plan; a webhook delivered four times (together, and again after a restart) gives one window and one
// reply.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { AwsGateway } from '../../src/aws/gateway.ts';
import { AwsSimulator } from '../../src/aws/simulator.ts';
import { type Chronops, startChronops } from '../../src/hosts/server.ts';
import type { Config } from '../../src/kernel/config.ts';
import { createLogger } from '../../src/kernel/logger.ts';
import { type FakeMessage, FakeSlack } from '../support/fake-slack.ts';
import {
  type Backend,
  backends,
  eventually,
  type Running,
  runChronops,
  simulatorSpec,
} from '../support/harness.ts';
import {
  ALERT,
  cancelBody,
  commandBody,
  deliver,
  mentionBody,
  slackConfig,
  uniqueId,
} from '../support/slack.ts';

const CHANNEL = 'C0OPS';

/** Everything received is handled and everything queued is sent (or given up). */
async function settled(run: Chronops): Promise<void> {
  await eventually(
    async () => {
      const inbox = await run.gateway.inbox.list(1000);
      const outbox = await run.chat.store.listOutbox({ limit: 1000 });
      return (
        inbox.every((r) => r.status === 'done' || r.status === 'failed') &&
        outbox.every((r) => r.status === 'posted' || r.status === 'failed')
      );
    },
    15_000,
    'chat inbox and outbox to drain',
  );
}

function hasCancelButton(m: FakeMessage): boolean {
  return JSON.stringify(m.blocks ?? []).includes('"action_id":"chronops_cancel"');
}

for (const backend of backends) {
  describe(`Slack end to end: ${backend.name}`, () => {
    let fake: FakeSlack;
    let run: Running | undefined;

    before(async () => {
      fake = await new FakeSlack().start();
    });
    after(async () => {
      await fake.stop();
    });
    afterEach(async () => {
      await run?.stopAll();
      run = undefined;
    });

    async function start(slack: Record<string, unknown> = {}): Promise<Running> {
      run = await runChronops(backend, { config: slackConfig(fake, slack) });
      return run;
    }

    it('create in the alert thread: reads the parent, posts the plan in the thread with a Cancel button', async () => {
      // Prepare
      const r = await start();
      const parent = fake.seed(CHANNEL, ALERT);
      // Act
      const answer = await deliver(
        r.app,
        'events',
        mentionBody({ text: 'create 2 --ecs 12 --rds 2 --auto', threadTs: parent }),
      );
      // Assess
      assert.equal(answer.status, 200);
      const [plan] = await eventually(
        async () => fake.posted(CHANNEL, parent).length > 0 && fake.posted(CHANNEL, parent),
      );
      assert.ok(plan && hasCancelButton(plan), JSON.stringify(plan));
      assert.match(plan.text, /^Plan for 12377 아이폰 18 Pro 사전예약: ECS web → 12 tasks from 17:50/);
      assert.equal(plan.metadata?.event_type, 'chronops_message');
      const read = fake.callsOf('conversations.replies')[0]!;
      assert.equal(read.params.ts, parent);
      assert.equal(read.token, 'xoxb-test-0000-bot-token');
      const [window] = await r.service.list(['scheduled']);
      assert.equal(window?.name, '12377');
      assert.equal((window!.origin!.chat as { threadTs: string }).threadTs, parent);
    });

    it('events chronops does not act on are closed without a word', async () => {
      // Prepare
      const r = await start();
      const reaction = JSON.stringify({
        type: 'event_callback',
        event_id: uniqueId('Ev'),
        event: {
          type: 'reaction_added',
          user: 'U0ALICE',
          reaction: 'eyes',
          item: { type: 'message', channel: CHANNEL, ts: '1.1' },
        },
      });
      const calls = fake.calls.length;
      // Act
      const answer = await deliver(r.app, 'events', reaction);
      // Assess
      assert.equal(answer.status, 200);
      await settled(r);
      const [row] = await r.gateway.inbox.list(1);
      assert.equal(row?.status, 'done');
      assert.equal(fake.calls.length, calls);
    });

    it('now in a thread: the plan, then each transition started and done, and the new replica, in order', async () => {
      // Prepare
      const r = await start();
      const parent = fake.seed(CHANNEL, ALERT);
      // Act
      await deliver(
        r.app,
        'events',
        mentionBody({ text: 'now --ecs 12 --rds 1 --for 30m', threadTs: parent }),
      );
      // Assess
      const thread = await eventually(
        async () => {
          const messages = fake.posted(CHANNEL, parent);
          return messages.some((m) => /replica .* available after/.test(m.text)) && messages;
        },
        20_000,
        'progress in the thread',
      );
      const texts = thread.map((m) => m.text);
      assert.match(texts[0]!, /^Plan for now \d\d:\d\d/);
      const ecsDone = texts.findIndex((t) => /ECS web \(shop\/web\) min 2→12, max 10→12 done/.test(t));
      const ecsStarted = texts.findIndex((t) =>
        /ECS web \(shop\/web\) scale-out: scaling to 12 tasks/.test(t),
      );
      assert.ok(ecsStarted > 0 && ecsDone > ecsStarted, texts.join('\n'));
      assert.ok(
        texts.some((t) =>
          /Aurora shop-db \(shop-aurora\) 1 reader \(0 chronops\) → 2 readers \(1 chronops\) done; new readers: hot-/.test(
            t,
          ),
        ),
      );
      assert.ok(texts.some((t) => /replica hot-[a-z0-9]+-1 available after \d+s/.test(t)));
    });

    it('a transition that fails is reported in the thread with the reason', async () => {
      // Prepare: the ECS service is missing from the (simulated) account.
      run = await runChronops(backend, {
        config: slackConfig(fake),
        spec: { aurora: simulatorSpec().aurora },
      });
      const parent = fake.seed(CHANNEL, ALERT);
      // Act
      await deliver(run.app, 'events', mentionBody({ text: 'now --ecs 5 --for 10m', threadTs: parent }));
      // Assess
      const failed = await eventually(
        async () => fake.posted(CHANNEL, parent).find((m) => /failed/.test(m.text)),
        15_000,
        'a failure report',
      );
      assert.match(
        failed.text,
        /^:x: ECS web \(shop\/web\) scale-out failed: .*not found.*\(chronops will retry\)/,
      );
    });

    it('the same event four times at once, then again after a restart: one window, one reply', async () => {
      // Prepare: chronops on a database that outlives it.
      const { db, schema, drop } = await backend.open();
      const config = slackConfig(fake);
      const boot = () => startOn(config, db, schema);
      const parent = fake.seed(CHANNEL, ALERT);
      const body = mentionBody({
        text: 'create 1 --ecs 8 --auto',
        threadTs: parent,
        eventId: uniqueId('Ev'),
      });
      // Closed in `finally`: a failing assertion must not leave servers running (npm test would hang).
      const opened: Array<{ close(): Promise<void> }> = [];
      try {
        const first = await boot();
        opened.push(first);
        // Act: the delivery and three retries arrive together.
        const answers = await Promise.all(
          [undefined, 1, 2, 3].map((retryNum) =>
            deliver(first.app, 'events', body, retryNum === undefined ? {} : { retryNum }),
          ),
        );
        await settled(first);
        await first.close();
        const second = await boot();
        opened.push(second);
        const again = await Promise.all([
          deliver(second.app, 'events', body, { retryNum: 0 }),
          deliver(second.app, 'events', body, { retryNum: 3 }),
        ]);
        await settled(second);
        // Assess
        assert.deepEqual(
          [...answers, ...again].map((a) => a.status),
          [200, 200, 200, 200, 200, 200],
        );
        assert.equal((await second.service.list(['scheduled'])).length, 1);
        assert.equal(fake.posted(CHANNEL, parent).length, 1);
      } finally {
        for (const c of opened) await c.close().catch(() => {});
        await drop();
      }
    });

    it('the Cancel button cancels the window and updates the plan message', async () => {
      // Prepare
      const r = await start();
      const parent = fake.seed(CHANNEL, ALERT);
      await deliver(r.app, 'events', mentionBody({ text: 'create 1 --ecs 8 --auto', threadTs: parent }));
      const [plan] = await eventually(
        async () => fake.posted(CHANNEL, parent).length > 0 && fake.posted(CHANNEL, parent),
      );
      const [window] = await r.service.list(['scheduled']);
      // Act
      const answer = await deliver(
        r.app,
        'interactions',
        cancelBody({ windowId: window!.id, messageTs: plan!.ts, threadTs: parent, user: 'U0BOB' }),
      );
      // Assess
      assert.equal(answer.status, 200);
      const updated = await eventually(async () => {
        const m = fake.message(CHANNEL, plan!.ts);
        return m?.edited && m;
      });
      assert.equal((await r.service.get(window!.id)).status, 'cancelled');
      assert.match(updated.text, /^Cancelled: plan for 12345 나이키 덩크 로우/);
      assert.equal(hasCancelButton(updated), false);
      assert.match(JSON.stringify(updated.blocks), /cancelled by <@U0BOB>/);
      await settled(r);
      assert.equal(fake.callsOf('chat.update').length, 1);
      assert.equal(fake.posted(CHANNEL, parent).length, 1, 'no new message, the plan is updated');
      const [audit] = await r.store.listAudit({ action: 'chat.cancel' });
      assert.equal(audit?.actor, 'U0BOB');
      assert.equal(audit?.outcome, 'ok');
    });

    it('delete <id> in the thread also updates the plan message', async () => {
      // Prepare
      const r = await start();
      const parent = fake.seed(CHANNEL, ALERT);
      await deliver(r.app, 'events', mentionBody({ text: 'create 3 --rds 1 --auto', threadTs: parent }));
      const [plan] = await eventually(
        async () => fake.posted(CHANNEL, parent).length > 0 && fake.posted(CHANNEL, parent),
      );
      const [window] = await r.service.list(['scheduled']);
      // Act
      await deliver(r.app, 'events', mentionBody({ text: `delete ${window!.id}`, threadTs: parent }));
      // Assess
      await eventually(async () => fake.message(CHANNEL, plan!.ts)?.edited);
      const replies = await eventually(
        async () => fake.posted(CHANNEL, parent).length === 2 && fake.posted(CHANNEL, parent),
      );
      assert.match(replies[1]!.text, new RegExp(`Cancelled window \`${window!.id}\``));
    });

    it('/chronops now: the plan at the top of the channel, the progress in its thread', async () => {
      // Prepare
      const r = await start();
      // Act
      const answer = await deliver(
        r.app,
        'commands',
        commandBody({ text: 'now --ecs 4 --for 10m', channel: 'C0WAR' }),
      );
      // Assess
      assert.equal(answer.status, 200);
      const plan = await eventually(async () => fake.posted('C0WAR').find((m) => !m.thread_ts));
      assert.match(plan.text, /^Plan for now/);
      const done = await eventually(
        async () => fake.posted('C0WAR', plan.ts).find((m) => /done/.test(m.text)),
        15_000,
        'progress in the plan thread',
      );
      assert.match(
        done.text,
        /ECS web \(shop\/web\) min 2→4, max 10→10 done|ECS web \(shop\/web\) min 2→4 done/,
      );
    });

    it('a command the allow-list refuses gets a polite reply in the thread, and an audit record', async () => {
      // Prepare
      const r = await start({ permissions: { create: { users: ['U0ALICE'] } } });
      const parent = fake.seed(CHANNEL, ALERT);
      // Act
      await deliver(
        r.app,
        'events',
        mentionBody({ text: 'create 2 --ecs 12 --auto', threadTs: parent, user: 'U0MALLORY' }),
      );
      // Assess
      const [reply] = await eventually(
        async () => fake.posted(CHANNEL, parent).length > 0 && fake.posted(CHANNEL, parent),
      );
      assert.match(
        reply!.text,
        /^Sorry <@U0MALLORY>, I can't do that: only listed people and groups may use `create`/,
      );
      assert.deepEqual(await r.service.list(['scheduled']), []);
      const [audit] = await r.store.listAudit({ action: 'chat.create' });
      assert.equal(audit?.outcome, 'refused');
      assert.equal(audit?.actor, 'U0MALLORY');
      assert.equal(audit?.details?.channel, CHANNEL);
      assert.equal(audit?.details?.text, '<@UCHRONOPS> create 2 --ecs 12 --auto');
    });

    it('a member of an allowed user group may delete (usergroups.users.list)', async () => {
      // Prepare
      fake.groups.set('S0ONCALL', ['U0CAROL']);
      const r = await start({ permissions: { delete: { userGroups: ['S0ONCALL'] } } });
      const parent = fake.seed(CHANNEL, ALERT);
      await deliver(r.app, 'events', mentionBody({ text: 'create 1 --ecs 8 --auto', threadTs: parent }));
      const [plan] = await eventually(
        async () => fake.posted(CHANNEL, parent).length > 0 && fake.posted(CHANNEL, parent),
      );
      const [window] = await r.service.list(['scheduled']);
      // Act
      await deliver(
        r.app,
        'interactions',
        cancelBody({ windowId: window!.id, messageTs: plan!.ts, threadTs: parent, user: 'U0CAROL' }),
      );
      // Assess
      await eventually(async () => (await r.service.get(window!.id)).status === 'cancelled');
      assert.equal(fake.callsOf('usergroups.users.list').at(-1)?.params.usergroup, 'S0ONCALL');
    });
  });
}

/** chronops on a given database (a restart keeps it). */
async function startOn(config: Config, db: Awaited<ReturnType<Backend['open']>>['db'], schema: string) {
  const simulator = new AwsSimulator(simulatorSpec());
  return startChronops(config, {
    db,
    schema,
    gateway: new AwsGateway({ dryRun: false, simulator, sink: { record: async () => {} } }),
    pollMs: 250,
    logger: createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
  });
}
