// The outbox against the fake Slack Web API: Retry-After honoured, pacing per channel, order kept, and never a
// message posted twice — not after a lost answer, not after a crash between the post and its record.
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { SlackTransport } from '../../src/chat/channels/slack/transport.ts';
import { ChatStore, type OutboxMessage } from '../../src/chat/chat-store.ts';
import { InboxStore } from '../../src/gateway/inbox-store.ts';
import { migrationModules } from '../../src/hosts/modules.ts';
import { createLogger } from '../../src/kernel/logger.ts';
import { OutboxSender } from '../../src/notify/outbox.ts';
import { migrate } from '../../src/store/migrations.ts';
import type { PgliteDb } from '../../src/store/pglite-db.ts';
import { FakeSlack } from '../support/fake-slack.ts';
import { eventually } from '../support/harness.ts';
import { memoryPglite } from '../support/pglite.ts';
import { BOT_TOKEN, mentionDelivery } from '../support/slack.ts';

const logger = createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

describe('OutboxSender with the Slack transport', () => {
  let fake: FakeSlack;
  let db: PgliteDb;
  let store: ChatStore;
  let transport: SlackTransport;
  let sender: OutboxSender | undefined;
  let n = 0;

  before(async () => {
    fake = await new FakeSlack().start();
    db = await memoryPglite();
    await migrate(db, 'chronops', migrationModules);
    store = new ChatStore(db, 'chronops');
    transport = new SlackTransport({ token: BOT_TOKEN, apiUrl: fake.url, logger, readRetries: 0 });
  });
  after(async () => {
    await db.close();
    await fake.stop();
  });
  beforeEach(() => {
    fake.calls.length = 0;
  });
  afterEach(async () => {
    await sender?.stop();
    sender = undefined;
  });

  function startSender(postIntervalMs = 0): OutboxSender {
    sender = new OutboxSender({
      store,
      transports: { slack: transport },
      node: 'test',
      logger,
      postIntervalMs,
      pollMs: 100,
    });
    sender.start();
    return sender;
  }

  function message(channel: string, text: string, extra: Partial<OutboxMessage> = {}): OutboxMessage {
    n += 1;
    return {
      key: `test:${n}:${text}`,
      platform: 'slack',
      op: 'post',
      role: 'reply',
      channel,
      text,
      ...extra,
    };
  }

  async function statusOf(key: string) {
    return (await store.listOutbox({ limit: 1000 })).find((r) => r.key === key);
  }

  it('honours Retry-After on a rate-limited post, then posts once', async () => {
    // Prepare
    fake.fail('chat.postMessage', { ratelimited: 1 });
    const m = message('C1RATE', 'hello after the limit');
    await store.enqueue([m]);
    // Act
    startSender();
    // Assess
    await eventually(async () => (await statusOf(m.key))?.status === 'posted');
    const posts = fake.callsOf('chat.postMessage');
    assert.deepEqual(
      posts.map((c) => c.status),
      [429, 200],
    );
    assert.ok(posts[1]!.at - posts[0]!.at >= 1000, `waited ${posts[1]!.at - posts[0]!.at} ms`);
    assert.equal(fake.posted('C1RATE').length, 1);
  });

  it('a post whose answer was lost is found by its key, not posted again', async () => {
    // Prepare: Slack posts it, but the answer is a 503.
    fake.fail('chat.postMessage', { lostAnswer: true });
    const parent = fake.seed('C1LOST', 'parent');
    const m = message('C1LOST', 'posted once', { threadTs: parent });
    await store.enqueue([m]);
    // Act
    startSender();
    // Assess
    const row = await eventually(async () => {
      const r = await statusOf(m.key);
      return r?.status === 'posted' && r;
    });
    assert.equal(fake.callsOf('chat.postMessage').length, 1);
    const look = fake.callsOf('conversations.replies').at(-1)!;
    assert.equal(look.params.include_all_metadata, 'true');
    const posted = fake.posted('C1LOST', parent);
    assert.equal(posted.length, 1);
    assert.equal(row.ts, posted[0]!.ts);
  });

  it('a post that failed with a 503 before anything happened is looked for, then posted once', async () => {
    // Prepare
    fake.fail('chat.postMessage', { status: 503 });
    const m = message('C1FIVE', 'second time lucky');
    await store.enqueue([m]);
    // Act
    startSender();
    // Assess
    await eventually(async () => (await statusOf(m.key))?.status === 'posted');
    assert.deepEqual(
      fake.callsOf('chat.postMessage').map((c) => c.status),
      [503, 200],
    );
    assert.equal(fake.callsOf('conversations.history').length, 1, 'looked before posting again');
    assert.equal(fake.posted('C1FIVE').length, 1);
  });

  it('a crash between the post and its record does not post twice', async () => {
    // Prepare: the previous process posted with the key and died before recording it; its claim's lease ran out.
    const m = message('C1CRASH', 'before the crash');
    await store.enqueue([m]);
    const [row] = await store.claimOutbox('dead-node', 60_000, 1);
    assert.equal(await store.markAttempt(row!, { node: 'dead-node', marginMs: 0 }), true);
    await transport.post({ channel: m.channel, text: m.text, key: m.key });
    await db.query(
      `UPDATE chronops.chat_outbox SET locked_until = clock_timestamp() - interval '1 second' WHERE id = $1`,
      [row!.id],
    );
    // Act: a new process takes the row once the dead one's lease is over.
    startSender();
    // Assess
    await eventually(async () => (await statusOf(m.key))?.status === 'posted');
    assert.equal(fake.callsOf('chat.postMessage').length, 1);
    assert.equal(fake.posted('C1CRASH').length, 1);
  });

  it('gives up at once on an error that retrying cannot fix', async () => {
    // Prepare
    fake.missing.add('C1GONE');
    const m = message('C1GONE', 'nowhere');
    await store.enqueue([m]);
    // Act
    startSender();
    // Assess
    const row = await eventually(async () => {
      const r = await statusOf(m.key);
      return r?.status === 'failed' && r;
    });
    assert.match(row.error ?? '', /channel_not_found/);
    assert.equal(fake.callsOf('chat.postMessage').length, 1);
  });

  it('paces posts per channel and keeps their order; other channels do not wait', async () => {
    // Prepare
    const a = [1, 2, 3].map((i) => message('C1PACE', `paced ${i}`));
    const b = message('C1OTHER', 'other channel');
    await store.enqueue([...a, b]);
    // Act
    startSender(300);
    // Assess
    await eventually(async () => (await statusOf(a[2]!.key))?.status === 'posted');
    const posts = fake.callsOf('chat.postMessage');
    const paced = posts.filter((c) => c.params.channel === 'C1PACE');
    assert.deepEqual(
      paced.map((c) => c.params.text),
      ['paced 1', 'paced 2', 'paced 3'],
    );
    for (let i = 1; i < paced.length; i++) {
      assert.ok(paced[i]!.at - paced[i - 1]!.at >= 290, `gap ${paced[i]!.at - paced[i - 1]!.at} ms`);
    }
    const other = posts.find((c) => c.params.channel === 'C1OTHER')!;
    assert.ok(other.at < paced[1]!.at, 'the other channel went out without waiting for the paced one');
  });

  it("holds a window's progress until the command's own answers are queued, then posts them after", async () => {
    // Prepare: the command is still being handled when its window reports progress.
    const inboxStore = new InboxStore(store.db, 'chronops');
    await inboxStore.accept([mentionDelivery('slack:event:EvHOLD')]);
    const [inbox] = await inboxStore.claim('test', 60_000, ['slack'], 10);
    await store.enqueue([
      message('C1HOLD', 'progress: done', { role: 'progress', afterKey: 'slack:event:EvHOLD' }),
    ]);
    startSender();
    // Act
    await store.finishInbox(inbox!, [message('C1HOLD', 'the plan', { eventKey: 'slack:event:EvHOLD' })]);
    sender!.notify();
    // Assess
    await eventually(async () => fake.posted('C1HOLD').length === 2);
    assert.deepEqual(
      fake.posted('C1HOLD').map((m) => m.text),
      ['the plan', 'progress: done'],
    );
  });
});
