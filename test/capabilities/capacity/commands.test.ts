// The one chat command handler, as every door calls it: real CapacityService and store (embedded database), the
// thread's parent text as a door hands it over, and the audit log read back.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { ConfigPermissions } from '../../../src/chat/permissions.ts';
import type { ChatEvent, Reply } from '../../../src/chat/port.ts';
import type { CommandRouter } from '../../../src/chat/router.ts';
import { parseConfig } from '../../../src/kernel/config.ts';
import { backends, type Running, runChronops } from '../../support/harness.ts';
import { ALERT, slackConfigObject, uniqueId } from '../../support/slack.ts';

const config = parseConfig(
  slackConfigObject({
    permissions: {
      create: { channels: ['C0OPS', 'C0WAR'] },
      delete: { users: ['U0ALICE'], userGroups: ['S0ONCALL'] },
      now: { channels: ['C0WAR'], users: ['U0ALICE'] },
    },
  }),
  {},
);

function event(text: string, extra: Partial<ChatEvent> = {}): ChatEvent {
  return {
    platform: 'slack',
    eventId: uniqueId('event:Ev'),
    user: { id: 'U0ALICE' },
    channel: 'C0OPS',
    messageTs: '4102444800.000200',
    text: `<@UCHRONOPS> ${text}`,
    ...extra,
  };
}

/** A mention in the thread of the alert. */
function inThread(text: string, extra: Partial<ChatEvent> = {}): ChatEvent {
  return event(text, { threadTs: '4102444800.000100', parentText: ALERT, ...extra });
}

function blocksText(reply: Reply): string {
  return JSON.stringify(reply.blocks ?? []);
}

describe('CommandHandler', () => {
  let run: Running;
  let handler: CommandRouter;

  before(async () => {
    run = await runChronops(backends[0]!, { config });
    handler = run.chat.handler;
  });
  after(async () => {
    await run.stopAll();
  });
  beforeEach(async () => {
    for (const w of await run.service.list(['scheduled', 'active']))
      await run.service.cancel(w.id, { id: 't', source: 't' });
  });

  async function lastAudit() {
    const [record] = await run.store.listAudit({ action: 'chat.', limit: 1 });
    return record!;
  }

  it('create --auto in the thread: plans around the product open time, in the team zone, with cost and a Cancel button', async () => {
    // Prepare
    const e = inThread('create 2 --ecs 12 --rds 2 --auto');
    // Act
    const [reply, ...rest] = await handler.handle(e);
    // Assess
    assert.equal(rest.length, 0);
    const window = await run.service.get(reply!.windowId!);
    assert.equal(window.name, '12377');
    // 2099-11-23 18:00 in Seoul is 09:00 UTC; ECS leads by 10 min, Aurora by 25, both end 60 min after.
    assert.deepEqual(
      window.holds.map((h) => [h.resource, h.amount, h.from.toISOString(), h.until.toISOString()]),
      [
        ['shop-db', 2, '2099-11-23T08:35:00.000Z', '2099-11-23T10:00:00.000Z'],
        ['web', 12, '2099-11-23T08:50:00.000Z', '2099-11-23T10:00:00.000Z'],
      ],
    );
    const blocks = blocksText(reply!);
    assert.match(blocks, /12377 아이폰 18 Pro 사전예약/);
    assert.match(blocks, /2099-11-23 18:00 \(Asia\/Seoul\)/);
    assert.match(blocks, /ECS 17:50 · Aurora 17:35/);
    assert.match(blocks, /Scale-in\*\\n19:00/);
    assert.match(blocks, /ECS web \(shop\/web\): baseline → 12 tasks/);
    assert.match(blocks, /Aurora shop-db \(shop-aurora\): \+0 → \+2 readers/);
    // 12 tasks × 70 min × $0.05 = $0.70; 2 readers × 85 min × $0.29 = $0.82
    assert.match(blocks, /Estimated cost\* ≈ \$1\.52/);
    const actions = reply!.blocks!.find((b) => b.type === 'actions');
    assert.ok(actions && actions.type === 'actions');
    assert.equal(actions.elements[0]!.action_id, 'chronops_cancel');
    assert.equal(actions.elements[0]!.value, window.id);
    assert.ok(actions.elements[0]!.confirm, 'the Cancel button asks for confirmation');
    assert.deepEqual(window.origin?.chat, {
      platform: 'slack',
      channel: 'C0OPS',
      eventKey: `slack:${e.eventId}`,
      user: { id: 'U0ALICE' },
      threadTs: '4102444800.000100',
      messageTs: '4102444800.000200',
    });
    const audit = await lastAudit();
    assert.equal(audit.action, 'chat.create');
    assert.equal(audit.outcome, 'ok');
    assert.equal(audit.actor, 'U0ALICE');
    assert.equal(audit.source, 'slack');
    assert.equal(audit.target, window.id);
    assert.equal(audit.details?.channel, 'C0OPS');
    assert.equal(audit.details?.text, e.text);
  });

  it('tolerates Slack formatting and Korean around the command', async () => {
    // Act
    const [reply] = await handler.handle(inThread('이거 create #1 —ecs “web=8” --auto 부탁해요 :pray:'));
    // Assess
    const window = await run.service.get(reply!.windowId!);
    assert.equal(window.name, '12345');
    assert.deepEqual(
      window.holds.map((h) => [h.resource, h.amount]),
      [['web', 8]],
    );
  });

  it('create --time HH:mm is on the date of the thread message; without --until it ends when --auto would', async () => {
    // Act
    const [reply] = await handler.handle(inThread('create 1 --ecs 6 --time 15:30'));
    // Assess: 15:30 on 2099-11-23 (the header), until 16:00 + 60 min.
    const window = await run.service.get(reply!.windowId!);
    assert.equal(window.holds[0]!.from.toISOString(), '2099-11-23T06:30:00.000Z');
    assert.equal(window.holds[0]!.until.toISOString(), '2099-11-23T08:00:00.000Z');
  });

  it('create --time/--until works outside a thread, named after the product number', async () => {
    // Act
    const [reply] = await handler.handle(event('create 7 --ecs 4 --time "2099-12-01 10:00" --until 11:30'));
    // Assess
    const window = await run.service.get(reply!.windowId!);
    assert.equal(window.name, 'product #7');
    assert.equal(window.holds[0]!.from.toISOString(), '2099-12-01T01:00:00.000Z');
    assert.equal(window.holds[0]!.until.toISOString(), '2099-12-01T02:30:00.000Z');
  });

  it('create --auto outside a thread says where to use it, with the usage', async () => {
    // Act
    const [reply] = await handler.handle(event('create 2 --ecs 12 --auto'));
    // Assess
    assert.equal(reply!.windowId, undefined);
    assert.match(reply!.text, /thread of the product alert/);
    assert.match(reply!.text, /Usage: create &lt;product#&gt;/);
    assert.equal((await lastAudit()).outcome, 'invalid');
    assert.deepEqual(await run.service.list(['scheduled']), []);
  });

  it('a thread whose parent could not be read says so', async () => {
    const [reply] = await handler.handle(inThread('create 2 --ecs 12', { parentText: null }));
    assert.match(reply!.text, /couldn't read the message this thread belongs to/);
  });

  it('a product number that is not in the message lists the products found', async () => {
    // Act
    const [reply] = await handler.handle(inThread('create 9 --ecs 12 --auto'));
    // Assess
    assert.match(
      reply!.text,
      /product #9 is not in this message; found: 1 \(12345\) 나이키 덩크 로우 16:00, 2 \(12377\)/,
    );
    assert.equal((await lastAudit()).outcome, 'not_found');
  });

  it('a bad flag or an unknown command gets a short error and that command usage', async () => {
    // Act
    const [badFlag] = await handler.handle(inThread('create 2 --ecs twelve'));
    const [unknown] = await handler.handle(event('scale 2'));
    // Assess
    assert.match(badFlag!.text, /--ecs wants a positive whole number/);
    assert.match(badFlag!.text, /Usage: create/);
    assert.doesNotMatch(badFlag!.text, /Usage: now/);
    assert.match(unknown!.text, /unknown command "scale"/);
    const audit = await lastAudit();
    assert.equal(audit.action, 'chat.invalid');
    assert.equal(audit.details?.text, '<@UCHRONOPS> scale 2');
  });

  it('a request the allow-list or the caps refuse is answered with every issue', async () => {
    const [reply] = await handler.handle(inThread('create 2 --ecs 99 --rds other=1 --auto'));
    assert.match(reply!.text, /99 tasks is above the cap of 20/);
    assert.match(reply!.text, /unknown resource "other"/);
    assert.equal((await lastAudit()).outcome, 'invalid');
  });

  it('the same event twice creates one window and shows the same plan', async () => {
    // Prepare
    const e = inThread('create 1 --ecs 5 --auto');
    // Act
    const [first] = await handler.handle(e);
    const [second] = await handler.handle({ ...e });
    // Assess
    assert.equal(second!.windowId, first!.windowId);
    assert.equal((await run.service.list(['scheduled'])).length, 1);
  });

  it('list shows active and upcoming windows with their ids', async () => {
    // Prepare
    const [a] = await handler.handle(inThread('create 1 --ecs 5 --auto'));
    const [b] = await handler.handle(inThread('create 3 --rds 1 --auto'));
    // Act
    const [reply] = await handler.handle(event('list'));
    // Assess
    assert.match(reply!.text, /Active and upcoming windows \(2\)/);
    assert.match(reply!.text, new RegExp(`\`${a!.windowId}\` 12345 — scheduled — ECS web 5`));
    assert.match(reply!.text, new RegExp(`\`${b!.windowId}\` 12401 — scheduled — Aurora shop-db \\+1`));
    assert.match(reply!.text, /by <@U0ALICE>/);
  });

  it('list with no windows says so', async () => {
    const [reply] = await handler.handle(event('list'));
    assert.equal(reply!.text, 'No active or upcoming windows.');
  });

  it('delete cancels a window; an unknown or finished one gets a plain answer', async () => {
    // Prepare
    const [plan] = await handler.handle(inThread('create 1 --ecs 5 --auto'));
    const id = plan!.windowId!;
    // Act
    const [done] = await handler.handle(event(`delete ${id}`));
    const [again] = await handler.handle(event(`delete ${id}`));
    const [unknown] = await handler.handle(event('delete zzzzzzzz'));
    // Assess
    assert.match(done!.text, new RegExp(`Cancelled window \`${id}\``));
    assert.equal((await run.service.get(id)).status, 'cancelled');
    assert.match(again!.text, /already cancelled/);
    assert.match(unknown!.text, /There is no window `zzzzzzzz`/);
  });

  it('the Cancel button cancels and answers with the plan marked cancelled, to replace the message', async () => {
    // Prepare
    const [plan] = await handler.handle(inThread('create 1 --ecs 5 --auto'));
    // Act
    const [reply] = await handler.handle(
      event(`[Cancel button] ${plan!.windowId}`, { action: { id: 'cancel', value: plan!.windowId! } }),
    );
    // Assess
    assert.equal(reply!.replaceOriginal, true);
    assert.equal(reply!.windowId, plan!.windowId);
    assert.match(blocksText(reply!), /Cancelled · 12345/);
    assert.match(blocksText(reply!), /cancelled by <@U0ALICE>/);
    assert.equal(
      reply!.blocks!.some((b) => b.type === 'actions'),
      false,
    );
    const audit = await lastAudit();
    assert.equal(audit.action, 'chat.cancel');
    assert.equal(audit.outcome, 'ok');
  });

  it('now holds capacity from now for --for', async () => {
    // Prepare
    const before = Date.now();
    // Act
    const [reply] = await handler.handle(event('now --ecs 3 --for 90m --dry-run', { channel: 'C0WAR' }));
    // Assess
    const window = await run.service.get(reply!.windowId!);
    const hold = window.holds[0]!;
    assert.ok(hold.from.getTime() >= before && hold.from.getTime() <= before + 3000, 'starts within seconds');
    assert.equal(hold.until.getTime() - hold.from.getTime(), 90 * 60_000);
    assert.equal(window.dryRun, true);
    assert.match(blocksText(reply!), /dry-run/);
  });

  it('help lists every command, or one in detail', async () => {
    const [all] = await handler.handle(event('help'));
    const [one] = await handler.handle(event('help now'));
    for (const name of ['create', 'list', 'delete', 'now', 'help'])
      assert.match(all!.text, new RegExp(`• ${name}`));
    assert.match(one!.text, /Usage: now/);
    // `<` and `>` are Slack markup: the usage's placeholders go as entities, or Slack would show broken links
    assert.match(all!.text, /create &lt;product#&gt;/);
    assert.match(all!.text, /delete &lt;id&gt;/);
    assert.doesNotMatch(all!.text, /<product#>|<id>/);
  });

  it('what a person typed and the thread says is echoed as text, never as Slack markup', async () => {
    // Act: Slack sends a typed `<` as `&lt;`
    const [unknown] = await handler.handle(event('scale &lt;!channel&gt; &amp; more'));
    const [badFlag] = await handler.handle(inThread('create 2 --ecs twelve'));
    const [plan] = await handler.handle(
      inThread('create 1 --ecs 12 --auto', {
        parentText: ALERT.replace('나이키 덩크 로우', 'Dunk &lt;Low&gt; &amp; co'),
      }),
    );
    // Assess
    assert.match(unknown!.text, /unknown command "scale"/);
    assert.doesNotMatch(unknown!.text, /<!channel>/);
    assert.match(badFlag!.text, /create &lt;product#&gt;/);
    assert.doesNotMatch(badFlag!.text, /<product#>/);
    assert.match(blocksText(plan!), /Dunk &lt;Low&gt; &amp; co/);
    assert.doesNotMatch(blocksText(plan!), /"type":"mrkdwn","text":"[^"]*Dunk <Low>/);
    assert.match(blocksText(plan!), /"type":"plain_text","text":"Plan · 12345 Dunk <Low> & co"/);
  });

  it('refuses politely outside the allowed channels and users, and audits the refusal', async () => {
    // Act
    const [create] = await handler.handle(inThread('create 2 --ecs 12 --auto', { channel: 'C0RANDOM' }));
    const [now] = await handler.handle(event('now --ecs 3', { channel: 'C0WAR', user: { id: 'U0BOB' } }));
    // Assess
    assert.match(create!.text, /^Sorry <@U0ALICE>, I can't do that: `create` is not enabled in this channel/);
    assert.match(create!.text, /slack\.permissions\.create/);
    assert.match(now!.text, /^Sorry <@U0BOB>, I can't do that: only listed people and groups may use `now`/);
    const audit = await lastAudit();
    assert.equal(audit.outcome, 'refused');
    assert.equal(audit.actor, 'U0BOB');
    assert.equal(audit.details?.channel, 'C0WAR');
    assert.equal(audit.details?.text, '<@UCHRONOPS> now --ecs 3');
    assert.deepEqual(await run.service.list(['scheduled']), []);
  });

  it('console events are not bound by the Slack allow-lists', async () => {
    const [reply] = await handler.handle(
      inThread('create 2 --ecs 12 --auto', {
        platform: 'console',
        channel: 'console',
        user: { id: 'ops@laptop' },
      }),
    );
    assert.ok(reply!.windowId);
    assert.match(blocksText(reply!), /by ops@laptop/);
  });
});

describe('ConfigPermissions', () => {
  it('lets members of an allowed user group through, reading the group once per cache period', async () => {
    // Prepare
    let reads = 0;
    const policy = new ConfigPermissions({
      rules: { slack: { delete: { users: ['U0ALICE'], userGroups: ['S0ONCALL'] } } },
      groups: {
        members: async () => {
          reads++;
          return ['U0CAROL'];
        },
      },
    });
    const e = (user: string) => event('delete abc', { user: { id: user } });
    // Act
    const carol = await policy.check('delete', e('U0CAROL'));
    const dave = await policy.check('delete', e('U0DAVE'));
    const alice = await policy.check('delete', e('U0ALICE'));
    // Assess
    assert.deepEqual(carol, { allowed: true });
    assert.equal(dave.allowed, false);
    assert.deepEqual(alice, { allowed: true });
    assert.equal(reads, 1);
  });

  it('does not grant through a group it cannot read', async () => {
    const policy = new ConfigPermissions({
      rules: { slack: { create: { userGroups: ['S0ONCALL'] } } },
      groups: {
        members: async () => {
          throw new Error('missing_scope');
        },
      },
    });
    const decision = await policy.check('create', event('create 1'));
    assert.equal(decision.allowed, false);
  });

  it('leaves commands without a rule open', async () => {
    const policy = new ConfigPermissions({ rules: {} });
    assert.deepEqual(await policy.check('now', event('now --ecs 1')), { allowed: true });
  });
});

describe("CommandHandler with a team's own alert pattern", () => {
  it('finds the product with the configured regex', async () => {
    // Prepare
    const pattern = String.raw`^(?<number>\d+)\) \[(?<id>[A-Z0-9-]+)\] (?<name>.+?) @ (?<time>\d{1,2}:\d{2})$`;
    const run = await runChronops(backends[0]!, {
      config: parseConfig(slackConfigObject({ threadPattern: pattern }), {}),
    });
    try {
      const alert = 'Drops on 2099-11-23\n1) [SKU-1] Red shoes @ 10:00\n2) [SKU-2] Blue hat @ 13:30';
      // Act
      const [reply] = await run.chat.handler.handle(
        event('create 2 --ecs 4 --auto', { threadTs: '1.1', parentText: alert }),
      );
      // Assess
      const window = await run.service.get(reply!.windowId!);
      assert.equal(window.name, 'SKU-2');
      assert.equal(window.holds[0]!.from.toISOString(), '2099-11-23T04:20:00.000Z');
    } finally {
      await run.stopAll();
    }
  });

  it('a pattern without the named groups stops chronops at start, naming the field', () => {
    assert.throws(
      () => parseConfig(slackConfigObject({ threadPattern: '^(\\d+) (.+)$' }), {}),
      /slack\.threadPattern: needs the named groups/,
    );
  });
});

describe('capacity commands in Korean (config locale: ko)', () => {
  it('answers refusals, errors and usage in Korean', async () => {
    // Prepare
    const run = await runChronops(backends[0]!, {
      config: parseConfig({ ...slackConfigObject(), locale: 'ko' }, {}),
    });
    try {
      // Act
      const [bad] = await run.chat.handler.handle(event('create 2 --ecs 0'));
      const [outside] = await run.chat.handler.handle(event('create 2 --ecs 3 --auto'));
      const [none] = await run.chat.handler.handle(event('delete zzzzzzzz'));
      // Assess
      assert.match(bad!.text, /--ecs 에는 양의 정수가 필요합니다/);
      assert.match(bad!.text, /사용법: create &lt;product#&gt;/);
      assert.match(outside!.text, /create --auto 는 상품 알림 메시지의 스레드에서만 쓸 수 있습니다/);
      assert.match(none!.text, /`zzzzzzzz` 윈도우가 없습니다/);
      const [empty] = await run.chat.handler.handle(event('list'));
      const [plan] = await run.chat.handler.handle(inThread('create 2 --ecs 12 --auto'));
      assert.equal(empty!.text, '진행 중이거나 예정된 윈도우가 없습니다.');
      assert.match(blocksText(plan!), /"text":"계획 · 12377 아이폰 18 Pro 사전예약"/);
      assert.match(blocksText(plan!), /\*상품\*\\n#2/);
      assert.match(blocksText(plan!), /ECS web \(shop\/web\): 기본값 → 12 태스크/);
      assert.match(plan!.text, /^12377 아이폰 18 Pro 사전예약 계획: ECS web → 태스크 12개 \(17:50 부터\)/);
    } finally {
      await run.stopAll();
    }
  });

  it('a permission rule for a key no command uses stops chronops at start, naming the field', async () => {
    await assert.rejects(
      runChronops(backends[0]!, {
        config: parseConfig(slackConfigObject({ permissions: { crate: { users: ['U0ALICE'] } } }), {}),
      }),
      /slack\.permissions\.crate: no chat command uses this permission key \(keys: create, delete, now, rules\.run, jobs\.run, power\.exception, power\.force\)/,
    );
  });
});
