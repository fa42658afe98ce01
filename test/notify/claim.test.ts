// The outbox's claims across servers: a server whose claim on a message was taken over (its heartbeat in `nodes`
// lapsed — a loaded machine, or a server stopping — while it waited to send) does not send the message as well.
// The interleaving is forced, not left to load: sender A claims the message and waits for its lane's pace; its
// heartbeat is made to lapse; sender B takes the message over and posts it; then A's wait ends.
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { SlackTransport } from '../../src/chat/channels/slack/transport.ts';
import { ChatStore } from '../../src/chat/chat-store.ts';
import { InboxStore } from '../../src/gateway/inbox-store.ts';
import { migrationModules } from '../../src/hosts/modules.ts';
import { createLogger } from '../../src/kernel/logger.ts';
import { OutboxSender } from '../../src/notify/outbox.ts';
import type { Db } from '../../src/store/db.ts';
import { migrate } from '../../src/store/migrations.ts';
import { FakeSlack } from '../support/fake-slack.ts';
import { backends, eventually } from '../support/harness.ts';
import { BOT_TOKEN, mentionDelivery } from '../support/slack.ts';

const logger = createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const PACE_MS = 1500;

for (const backend of backends) {
  describe(`the outbox when another server takes over a claim (${backend.name})`, () => {
    let fake: FakeSlack;
    let db: Db;
    let schema: string;
    let drop: () => Promise<void>;
    let store: ChatStore;
    const senders: OutboxSender[] = [];
    /** Lets a held request through (the second test's); every test ends with it. */
    let release = () => {};

    const slack = () => new SlackTransport({ token: BOT_TOKEN, apiUrl: fake.url, logger, readRetries: 0 });
    const sender = (node: string, postIntervalMs: number, transport: SlackTransport = slack()) => {
      const s = new OutboxSender({
        store,
        transports: { slack: transport },
        node,
        logger,
        postIntervalMs,
        pollMs: 50,
        leaseMs: 60_000,
      });
      senders.push(s);
      s.start();
      return s;
    };
    const row = async (key: string) =>
      (
        await db.query<{ locked_by: string | null; status: string }>(
          `SELECT locked_by, status FROM ${schema}.chat_outbox WHERE key = $1`,
          [key],
        )
      )[0];

    before(async () => {
      fake = await new FakeSlack().start();
      ({ db, schema, drop } = await backend.open());
      await migrate(db, schema, migrationModules);
      store = new ChatStore(db, schema);
      await db.query(
        `INSERT INTO ${schema}.nodes (node, lease_until) VALUES ('server-a', clock_timestamp()),
           ('server-b', clock_timestamp())`,
      );
    });
    beforeEach(async () => {
      fake.calls.length = 0;
      // Two live servers.
      await db.query(`UPDATE ${schema}.nodes SET lease_until = clock_timestamp() + interval '1 hour'`);
    });
    afterEach(async () => {
      release();
      await Promise.all(senders.splice(0).map((s) => s.stop()));
    });
    after(async () => {
      await drop();
      await fake.stop();
    });

    it('the server whose heartbeat lapsed while it waited to send does not post what the other posted', async () => {
      // Prepare: the lane was just called, so the first sender to claim waits PACE_MS
      await db.query(
        `INSERT INTO ${schema}.notify_lanes (lane, last_at) VALUES ('C1LAPSE', clock_timestamp())
         ON CONFLICT (lane) DO UPDATE SET last_at = EXCLUDED.last_at`,
      );
      const key = 'test:lapse:done';
      await store.enqueue([
        { key, platform: 'slack', op: 'post', role: 'reply', channel: 'C1LAPSE', text: 'done' },
      ]);
      const started = Date.now();
      sender('server-a', PACE_MS);
      await eventually(async () => (await row(key))?.locked_by === 'server-a', 5000, 'server-a to claim it');

      // Act: server-a's heartbeat lapses while it waits; server-b takes the message over and posts it
      await db.query(
        `UPDATE ${schema}.nodes SET lease_until = clock_timestamp() - interval '1 second' WHERE node = 'server-a'`,
      );
      sender('server-b', 0);
      await eventually(async () => (await row(key))?.status === 'posted', 5000, 'server-b to post it');
      assert.ok(Date.now() - started < PACE_MS, 'server-b posted while server-a was still waiting');
      // server-a's wait ends; time for its post, had it made one
      await new Promise((r) => setTimeout(r, PACE_MS + 1000 - (Date.now() - started)));

      // Assess
      assert.equal(fake.posted('C1LAPSE').length, 1, 'posted once');
      assert.equal(fake.callsOf('chat.postMessage').length, 1);
      assert.equal((await row(key))?.status, 'posted');
    });

    it('a server whose heartbeat would lapse during the call does not start it; the other posts once', async () => {
      // Prepare: server-a's lease (its last heartbeat) runs out 2.5 s after the lane's last call — 1 s after its
      // pace lets it send, within the outbox's 2 s margin. Its request, were it made, would take until released.
      const lane = await db.query<{ at: Date }>(
        `INSERT INTO ${schema}.notify_lanes (lane, last_at) VALUES ('C1SLOW', clock_timestamp())
         ON CONFLICT (lane) DO UPDATE SET last_at = EXCLUDED.last_at RETURNING last_at AS at`,
      );
      await db.query(
        `UPDATE ${schema}.nodes SET lease_until = $1::timestamptz + interval '2500 milliseconds'
         WHERE node = 'server-a'`,
        [lane[0]!.at],
      );
      const key = 'test:slow:done';
      await store.enqueue([
        { key, platform: 'slack', op: 'post', role: 'reply', channel: 'C1SLOW', text: 'done' },
      ]);
      const held = new Promise<void>((resolve) => {
        release = resolve;
      });
      class HeldSlack extends SlackTransport {
        override async post(...args: Parameters<SlackTransport['post']>) {
          await held;
          return super.post(...args);
        }
      }
      sender(
        'server-a',
        PACE_MS,
        new HeldSlack({ token: BOT_TOKEN, apiUrl: fake.url, logger, readRetries: 0 }),
      );
      await eventually(async () => (await row(key))?.locked_by === 'server-a', 5000, 'server-a to claim it');

      // Act: once server-a is dead to the others, server-b comes; then server-a's request (if any) arrives
      await eventually(
        async () =>
          (
            await db.query(
              `SELECT 1 FROM ${schema}.nodes WHERE node = 'server-a' AND lease_until < clock_timestamp()`,
            )
          ).length === 1,
        10_000,
        "server-a's lease to run out",
      );
      sender('server-b', 0);
      await eventually(async () => (await row(key))?.status === 'posted', 10_000, 'the message to be posted');
      release();
      await new Promise((r) => setTimeout(r, 1000));

      // Assess
      assert.equal(fake.posted('C1SLOW').length, 1, 'posted once');
      assert.equal(fake.callsOf('chat.postMessage').length, 1);
    });
  });
}

for (const backend of backends) {
  describe(`the outbox claim: each channel's first ready message (${backend.name})`, () => {
    it('skips a message held behind a command still being handled, takes one per channel, in order', async () => {
      // Prepare
      const { db, schema, drop } = await backend.open();
      try {
        await migrate(db, schema, migrationModules);
        const store = new ChatStore(db, schema);
        await db.query(
          `INSERT INTO ${schema}.nodes (node, lease_until) VALUES ('server-a', clock_timestamp() + interval '1 hour')`,
        );
        // A command still waiting to be handled: an answer held behind it is not ready.
        await new InboxStore(db, schema).accept([mentionDelivery('slack:event:Ev-running')]);
        const put = (key: string, channel: string, status: string, afterKey: string | null = null) =>
          db.query(
            `INSERT INTO ${schema}.chat_outbox (key, platform, op, role, channel, text, status, after_key)
             VALUES ($1, 'slack', 'post', 'reply', $2, $1, $3, $4)`,
            [key, channel, status, afterKey],
          );
        await put('a1-held', 'CA', 'held', 'slack:event:Ev-running');
        await put('a2', 'CA', 'pending');
        await put('a3', 'CA', 'pending');
        await put('b1', 'CB', 'pending');
        await put('b2', 'CB', 'pending');
        await put('c1-held-done', 'CC', 'held', 'slack:event:Ev-handled-long-ago');
        await put('c2', 'CC', 'pending');
        await put('d1-posted', 'CD', 'posted');

        // Act
        const first = await store.claimOutbox('server-a', 60_000, 10);
        const again = await store.claimOutbox('server-a', 60_000, 10);
        const limited = await (async () => {
          await db.query(
            `UPDATE ${schema}.chat_outbox SET locked_by = NULL, locked_until = NULL, claim = NULL`,
          );
          return store.claimOutbox('server-a', 60_000, 2);
        })();

        // Assess
        assert.deepEqual(first.map((r) => r.key).sort(), ['a2', 'b1', 'c1-held-done']);
        assert.deepEqual(again, [], 'the heads are claimed: nothing else of their channels goes meanwhile');
        assert.deepEqual(
          limited.map((r) => r.key),
          ['a2', 'b1'],
          'within the limit, the oldest first (by their order in the outbox)',
        );
      } finally {
        await drop();
      }
    });
  });
}
