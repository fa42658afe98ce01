// The relay to Kafka against librdkafka's mock cluster (kcat), messages read back with kcat's consumer: routes,
// keys, headers and order per key; Kafka unreachable then back (the gateway keeps answering, nothing lost or
// doubled); and a chronops killed with -9 while a produce was in flight, restarted: every delivery exactly once.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseConfig } from '../../src/kernel/config.ts';
import { backends, eventually, type Running, runChronops } from '../support/harness.ts';
import { MockKafka } from '../support/kafka.ts';
import { preparedDataDir, startServer, writeConfig } from '../support/process.ts';
import { deliver, mentionBody, SIGNING_SECRET, slackConfigObject } from '../support/slack.ts';

let n = 0;
/** A signed-able Slack event the worker closes without a word (it only mentions count as commands). */
function reactionBody(channel: string, eventId = `EvR${Date.now().toString(36)}${++n}`): string {
  return JSON.stringify({
    token: 'legacy-token',
    team_id: 'T0TEAM',
    api_app_id: 'A0APP',
    type: 'event_callback',
    event_id: eventId,
    event_time: Math.floor(Date.now() / 1000),
    event: {
      type: 'reaction_added',
      user: 'U0ALICE',
      reaction: 'eyes',
      item: { type: 'message', channel, ts: '1.1' },
    },
  });
}

const SLACK_ENV = {
  SLACK_SIGNING_SECRET: SIGNING_SECRET,
  SLACK_BOT_TOKEN: 'xoxb-test-relay',
  SLACK_API_URL: 'http://127.0.0.1:9/api/',
};

function kafkaSection(brokers: string[], extra: Record<string, unknown> = {}) {
  return {
    brokers,
    routes: [
      {
        source: 'slack',
        types: ['event_callback'],
        subtypes: ['reaction_added'],
        topics: ['slack-reactions'],
      },
      { source: 'slack', types: ['event_callback'], topics: ['slack-events'] },
    ],
    ...extra,
  };
}

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : Number.NaN;
}

describe('the Kafka relay', () => {
  let mock: MockKafka;

  before(async () => {
    mock = await MockKafka.start();
  });
  after(async () => {
    await mock.stop();
  });

  describe('in one process', () => {
    let run: Running;
    before(async () => {
      const { slack, ...base } = slackConfigObject();
      run = await runChronops(backends[0]!, {
        config: parseConfig({ ...base, slack, kafka: kafkaSection(mock.brokers) }, SLACK_ENV),
        gatewayWorker: false,
      });
    });
    after(async () => {
      await run.stopAll();
    });

    it('relays stored deliveries by route, keyed by team/channel, with headers, in order per key', async () => {
      // Prepare: 30 reactions over 3 channels, and a mention (to slack-events only)
      const bodies = Array.from({ length: 30 }, (_, i) => reactionBody(`C0CH${i % 3}`, `EvORDER${i}`));
      // Act: one at a time (the order of the inbox is the order they were stored)
      for (const body of bodies) assert.equal((await deliver(run.app, 'events', body)).status, 200);
      const mention = mentionBody({ text: 'help', eventId: 'EvMENTION1', channel: 'C0CH0' });
      assert.equal((await deliver(run.app, 'events', mention)).status, 200);
      // Assess
      const reactions = await eventually(async () => {
        const read = await mock.read('slack-reactions');
        return read.length >= 30 ? read : undefined;
      });
      const events = await eventually(async () => {
        const read = await mock.read('slack-events');
        return read.length >= 31 ? read : undefined;
      });
      assert.equal(reactions.length, 30);
      assert.equal(events.length, 31);
      for (const channel of ['C0CH0', 'C0CH1', 'C0CH2']) {
        const ofKey = reactions
          .filter((m) => m.key === `T0TEAM/${channel}`)
          .sort((a, b) => a.offset - b.offset);
        assert.equal(ofKey.length, 10);
        const order = ofKey.map((m) => Number(/EvORDER(\d+)/.exec(m.headers['delivery-id']!)![1]));
        assert.deepEqual(
          order,
          [...order].sort((a, b) => a - b),
          `${channel} in order`,
        );
      }
      const m = events.find((e) => e.headers['delivery-id'] === 'slack:event:EvMENTION1')!;
      assert.equal(m.value, mention);
      assert.equal(m.key, 'T0TEAM/C0CH0');
      assert.equal(m.headers.source, 'slack');
      assert.equal(m.headers.type, 'event_callback');
      assert.equal(m.headers.subtype, 'app_mention');
      assert.equal(m.headers['content-type'], 'application/json');
      assert.ok(Math.abs(Date.parse(m.headers['received-at']!) - Date.now()) < 60_000);
      assert.ok(
        !reactions.some((r) => r.headers['delivery-id'] === 'slack:event:EvMENTION1'),
        'not routed there',
      );
    });

    it('keeps answering and storing while Kafka does not answer, then catches up: nothing lost, nothing twice', async () => {
      // Prepare: Kafka stops answering
      mock.pause();
      const bodies = Array.from({ length: 40 }, (_, i) => reactionBody('C0DOWN', `EvDOWN${i}`));
      let slowest = 0;
      try {
        // Act
        for (const body of bodies) {
          const started = Date.now();
          assert.equal((await deliver(run.app, 'events', body)).status, 200);
          slowest = Math.max(slowest, Date.now() - started);
        }
        const waiting = await run.gateway.relay!.backlog();
        assert.ok(waiting.waiting >= 40, `backlog ${waiting.waiting}`);
        await new Promise((resolve) => setTimeout(resolve, 1500)); // a produce is in flight, unanswered
      } finally {
        mock.resume();
      }
      // Assess
      assert.ok(slowest < 500, `an answer took ${slowest} ms while Kafka was down`);
      await eventually(
        async () => (await run.gateway.relay!.backlog()).waiting === 0,
        60_000,
        'the relay to catch up',
      );
      const read = (await mock.read('slack-reactions')).filter((m) =>
        m.headers['delivery-id']?.includes('EvDOWN'),
      );
      const ids = read.map((m) => m.headers['delivery-id']);
      assert.equal(new Set(ids).size, 40, 'every delivery');
      assert.equal(ids.length, 40, 'none twice');
      const text = await (await run.app.request('/metrics')).text();
      assert.match(text, /chronops_relay_backlog 0/);
      assert.match(text, /chronops_relay_lag_seconds 0/);
      // The embedded database's quiet-moment vacuums are counted there too
      assert.match(text, /chronops_embedded_db_vacuums \d+/);
      assert.match(text, /chronops_embedded_db_vacuum_seconds \d/);
    });
  });

  it('after a kill -9 with a produce in flight, the restarted relay sends every delivery exactly once', async () => {
    // Prepare: chronops serve (a real process) on its own data directory, relaying to the mock
    const dataDir = preparedDataDir();
    const { slack, ...base } = slackConfigObject();
    const path = writeConfig({
      ...base,
      slack,
      database: { dataDir },
      kafka: kafkaSection(mock.brokers, { routes: [{ source: 'slack', topics: ['slack-kill9'] }] }),
    });
    let server = await startServer(path, SLACK_ENV);
    try {
      const first = Array.from({ length: 20 }, (_, i) => reactionBody('C0K', `EvKILLA${i}`));
      for (const body of first) assert.equal((await deliver(server.url, 'events', body)).status, 200);
      await eventually(async () => (await metric(server.url, 'chronops_relay_backlog')) === 0, 30_000);
      // Act: Kafka stops answering; more deliveries come; the relay's produce is sent and hangs; kill -9.
      mock.pause();
      const second = Array.from({ length: 30 }, (_, i) => reactionBody('C0K', `EvKILLB${i}`));
      try {
        for (const body of second) assert.equal((await deliver(server.url, 'events', body)).status, 200);
        await new Promise((resolve) => setTimeout(resolve, 1500));
        await server.kill9();
      } finally {
        mock.resume();
      }
      server = await startServer(path, SLACK_ENV);
      await eventually(async () => (await metric(server.url, 'chronops_relay_backlog')) === 0, 60_000);
      const found = await metric(server.url, 'chronops_relay_found_produced_total');
      // Assess
      const ids = (await mock.read('slack-kill9')).map((m) => m.headers['delivery-id']);
      const all = [...first, ...second].map((b) => `slack:event:${JSON.parse(b).event_id}`);
      assert.deepEqual(
        all.filter((k) => !ids.includes(k)),
        [],
      );
      assert.equal(ids.length, 50, `${ids.length} messages for 50 deliveries`);
      assert.equal(new Set(ids).size, 50);
      // The produce in flight at the kill reached Kafka when it came back: found there, not sent again.
      assert.ok(found >= 1, `found ${found} already produced`);
    } finally {
      await server.stop();
    }
  });
});
