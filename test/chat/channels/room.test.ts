// JANDI and Teams channels: a stored delivery → ChatEvent → the router → the answer in the held HTTP response when
// it is quick, else "started" at once and the outcome later through the room's incoming webhook (a real fake JANDI
// or Teams receiver on loopback), recorded so that a re-run of the delivery sends nothing twice.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { jandiAnswer, jandiEvent, withoutKeyword } from '../../../src/chat/channels/jandi/events.ts';
import type { HeldRequest } from '../../../src/chat/channels/respond.ts';
import { RoomChannel } from '../../../src/chat/channels/room.ts';
import { teamsAnswer, teamsEvent, teamsText } from '../../../src/chat/channels/teams/events.ts';
import { ChatStore, HTTP_RESPONSE } from '../../../src/chat/chat-store.ts';
import type { ChatEvent } from '../../../src/chat/port.ts';
import { textReply } from '../../../src/chat/reply.ts';
import { CommandRouter } from '../../../src/chat/router.ts';
import { migrationModules } from '../../../src/hosts/modules.ts';
import { createLogger } from '../../../src/kernel/logger.ts';
import { DESTINATION_DEFAULTS, type Destination } from '../../../src/notify/config.ts';
import { OutboxSender } from '../../../src/notify/outbox.ts';
import { migrate } from '../../../src/store/migrations.ts';
import type { PgliteDb } from '../../../src/store/pglite-db.ts';
import { FakeWebhook } from '../../support/fake-webhooks.ts';
import { eventually } from '../../support/harness.ts';
import { memoryPglite } from '../../support/pglite.ts';

const logger = createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

/** A held request as the gateway gives it: answers until `late` says the deadline passed. */
function heldRequest(late = false) {
  const answers: Array<{ status: number; json?: unknown }> = [];
  const held: HeldRequest = {
    reply: (answer) => {
      if (late) return false;
      answers.push(answer);
      return true;
    },
    replyWanted: () => !late,
  };
  return { held, answers };
}

/** A JANDI message as the gateway stores it: the token left out, the configured room it matched added. */
function jandiBody(text: string, room = 'ops') {
  return JSON.stringify({
    room,
    teamName: 'Toss Lab, Inc.',
    roomName: '운영팀',
    writerName: '김개발',
    writerEmail: 'kim@example.com',
    text,
    keyword: 'chronops',
    createdAt: '2026-11-23T05:00:00.000Z',
  });
}

describe('chat channels that answer in the HTTP response (JANDI, Teams)', () => {
  let db: PgliteDb;
  let store: ChatStore;
  let sender: OutboxSender;
  const jandiHook = new FakeWebhook('jandi');
  const teamsHook = new FakeWebhook('teams');
  const events: ChatEvent[] = [];
  let n = 0;

  const router = new CommandRouter({ locale: 'en' });
  router
    .command('quick', {
      run: async (_input, ctx) => {
        events.push(ctx.event);
        return [textReply(`quick answer for ${ctx.event.user.name}`)];
      },
      usage: { syntax: 'quick', about: { en: 'quick', ko: '빠름' }, example: 'quick' },
    })
    .command('slow', {
      run: async () => {
        await new Promise((resolve) => setTimeout(resolve, 400));
        return [textReply(':white_check_mark: rds start done')];
      },
      usage: { syntax: 'slow', about: { en: 'slow', ko: '느림' }, example: 'slow' },
    });

  const destinations: Record<string, Destination> = {};
  function destination(kind: 'jandi' | 'teams', name: string, url: string): Destination {
    return {
      name,
      kind,
      url,
      ...DESTINATION_DEFAULTS[kind],
      minIntervalMs: 0,
      timeoutMs: 2000,
      onUncertain: 'skip',
    };
  }

  function jandi(room: { replyTo?: string; locale?: 'en' | 'ko' } = {}) {
    return new RoomChannel({
      platform: 'jandi',
      router,
      store,
      destinations,
      decode: (d) => jandiEvent(d.key, d.body, () => ({ locale: 'en', ...room })),
      render: jandiAnswer,
      quickMs: 150,
      onQueued: () => sender.notify(),
    });
  }

  before(async () => {
    db = await memoryPglite();
    await migrate(db, 'chronops', migrationModules);
    store = new ChatStore(db, 'chronops');
    await Promise.all([jandiHook.start(), teamsHook.start()]);
    destinations['ops-room'] = destination('jandi', 'ops-room', jandiHook.url('ops'));
    destinations['ops-teams'] = destination('teams', 'ops-teams', teamsHook.url('ops'));
    sender = new OutboxSender({
      store,
      transports: {},
      destinations,
      node: 't',
      logger,
      postIntervalMs: 0,
      pollMs: 50,
    });
    sender.start();
  });
  after(async () => {
    await sender.stop();
    await db.close();
    await Promise.all([jandiHook.stop(), teamsHook.stop()]);
  });

  async function rowsOf(key: string) {
    return (await store.listOutbox({ limit: 5000 })).filter((r) => r.eventKey === key);
  }

  it('JANDI: a quick command is answered in the response, in JANDI format, and recorded as answered', async () => {
    // Prepare
    n += 1;
    const key = `jandi:ops:${n}`;
    const { held, answers } = heldRequest();
    // Act
    const outcome = await jandi({ replyTo: 'ops-room' }).handle(
      { key, body: jandiBody('/chronops quick') },
      held,
    );
    // Assess
    assert.equal(outcome, 'answered');
    assert.equal(answers.length, 1);
    assert.equal(answers[0]!.status, 200);
    assert.deepEqual(answers[0]!.json, {
      body: 'quick answer for 김개발',
      connectColor: '#2F80ED',
      connectInfo: [],
    });
    const event = events.at(-1)!;
    assert.deepEqual(
      [event.platform, event.user.id, event.channel, event.text],
      ['jandi', 'kim@example.com', 'ops', 'quick'],
    );
    const rows = await rowsOf(key);
    assert.deepEqual(
      rows.map((r) => [r.status, r.ts]),
      [['posted', HTTP_RESPONSE]],
    );
    assert.equal(jandiHook.delivered('ops').length, 0);
  });

  it('JANDI: a slow command answers "started" at once and the outcome later through the room webhook, once', async () => {
    // Prepare
    n += 1;
    const key = `jandi:ops:${n}`;
    const { held, answers } = heldRequest();
    const before = jandiHook.delivered('ops').length;
    // Act
    const started = Date.now();
    const outcome = await jandi({ replyTo: 'ops-room', locale: 'ko' }).handle(
      { key, body: jandiBody('/chronops slow') },
      held,
    );
    // Assess
    assert.equal(outcome, 'later');
    assert.equal(answers.length, 1);
    assert.match(
      (answers[0]!.json as { body: string }).body,
      /처리 중입니다\. 결과는 이 방에 알려 드리겠습니다/,
    );
    await eventually(async () => jandiHook.delivered('ops').length === before + 1);
    const later = jandiHook.delivered('ops').at(-1)!;
    assert.equal((later.body as { body: string }).body, '✅ rds start done');
    assert.ok(later.at - started >= 390);
    // A re-run of the same delivery (its worker died after answering) sends nothing again.
    await jandi({ replyTo: 'ops-room', locale: 'ko' }).handle(
      { key, body: jandiBody('/chronops slow') },
      undefined,
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(jandiHook.delivered('ops').length, before + 1);
  });

  it('JANDI: a quick answer whose request is no longer held goes through the webhook instead', async () => {
    n += 1;
    const key = `jandi:ops:${n}`;
    const { held } = heldRequest(true);
    const before = jandiHook.delivered('ops').length;
    const outcome = await jandi({ replyTo: 'ops-room' }).handle(
      { key, body: jandiBody('/chronops quick') },
      held,
    );
    assert.equal(outcome, 'later');
    await eventually(async () => jandiHook.delivered('ops').length === before + 1);
    assert.match(JSON.stringify(jandiHook.delivered('ops').at(-1)!.body), /quick answer for 김개발/);
  });

  it('JANDI: a room without an incoming webhook says the answer cannot follow, and nothing is queued', async () => {
    n += 1;
    const key = `jandi:ops:${n}`;
    const { held, answers } = heldRequest();
    const outcome = await jandi().handle({ key, body: jandiBody('/chronops slow') }, held);
    assert.equal(outcome, 'lost');
    assert.match((answers[0]!.json as { body: string }).body, /no incoming webhook configured/);
    assert.deepEqual(
      (await rowsOf(key)).map((r) => r.status),
      ['posted'],
    );
  });

  it('JANDI: a typo is answered in the response with the nearest command, in Korean for a Korean room', async () => {
    n += 1;
    const { held, answers } = heldRequest();
    await jandi({ replyTo: 'ops-room', locale: 'ko' }).handle(
      { key: `jandi:ops:${n}`, body: jandiBody('/chronops quik') },
      held,
    );
    const body = (answers[0]!.json as { body: string; connectColor: string }).body;
    assert.match(body, /⚠️ 알 수 없는 명령 "quik" 입니다.*"quick" 을\(를\) 입력하려고 하셨나요/);
    assert.equal((answers[0]!.json as { connectColor: string }).connectColor, '#F2994A');
  });

  it('Teams: the mention is read off, the answer is an Adaptive Card in the response; slow ones follow by the Workflows webhook', async () => {
    // Prepare
    const teams = new RoomChannel({
      platform: 'teams',
      router,
      store,
      destinations,
      decode: (d) => teamsEvent(d.key, d.body, { locale: 'en', replyTo: 'ops-teams' }),
      render: teamsAnswer,
      quickMs: 150,
      onQueued: () => sender.notify(),
    });
    const activity = (text: string, id: string) =>
      JSON.stringify({
        type: 'message',
        id,
        text,
        from: { id: '29:1abc', name: 'Kim', aadObjectId: 'aad-kim' },
        conversation: { id: `19:ops@thread.tacv2;messageid=${id}` },
        channelData: { teamsChannelId: '19:ops@thread.tacv2' },
      });
    const quick = heldRequest();
    const slow = heldRequest();
    // Act
    await teams.handle(
      { key: 'teams:ops:1', body: activity('<at>chronops</at>&nbsp;quick', '1') },
      quick.held,
    );
    await teams.handle({ key: 'teams:ops:2', body: activity('<at>chronops</at> slow', '2') }, slow.held);
    // Assess
    const event = events.at(-1)!;
    assert.deepEqual(
      [event.platform, event.user.id, event.channel, event.text],
      ['teams', 'aad-kim', '19:ops@thread.tacv2', 'quick'],
    );
    const card = quick.answers[0]!.json as {
      type: string;
      attachments: Array<{ contentType: string; content: { body: unknown[] } }>;
    };
    assert.equal(card.type, 'message');
    assert.equal(card.attachments[0]!.contentType, 'application/vnd.microsoft.card.adaptive');
    assert.match(JSON.stringify(card), /quick answer for Kim/);
    assert.match(JSON.stringify(slow.answers[0]!.json), /Working on it/);
    await eventually(async () => teamsHook.delivered('ops').length === 1);
    assert.match(JSON.stringify(teamsHook.delivered('ops')[0]!.body), /rds start done/);
  });
});

describe('reading JANDI and Teams text', () => {
  it('drops the JANDI keyword, with or without its slash', () => {
    assert.equal(withoutKeyword('/chronops office-hours status', 'chronops'), 'office-hours status');
    assert.equal(withoutKeyword('chronops help', 'chronops'), 'help');
    assert.equal(withoutKeyword('/Chronops', 'chronops'), '');
    assert.equal(withoutKeyword('/chronopsx help', 'chronops'), '/chronopsx help');
    assert.equal(withoutKeyword('/스케줄 office-hours status', undefined), 'office-hours status');
  });

  it('reads Teams HTML: the mention, tags and entities', () => {
    assert.equal(teamsText('<at>chronops</at> jobs run <b>cms</b>&nbsp;&amp; more'), 'jobs run cms & more');
    assert.equal(teamsText('<p><at>chronops</at> help</p>'), 'help');
  });
});
