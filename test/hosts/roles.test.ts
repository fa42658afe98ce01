// `chronops serve --role front` on PostgreSQL: a front verifies, stores and answers webhooks (and handles a JANDI
// command whose request waits for it), but runs none of the work — a Slack command stored by the front waits until
// a server that runs the work (role all) is up, which then handles it and replies in the thread. The embedded
// database refuses the role (it belongs to one process, which must also run the work).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AwsGateway } from '../../src/aws/gateway.ts';
import { AwsSimulator } from '../../src/aws/simulator.ts';
import { type Chronops, type ChronopsOptions, startChronops } from '../../src/hosts/server.ts';
import { type Config, parseConfig } from '../../src/kernel/config.ts';
import { ConfigError } from '../../src/kernel/errors.ts';
import { createLogger } from '../../src/kernel/logger.ts';
import { PostgresDb } from '../../src/store/postgres-db.ts';
import { FakeSlack } from '../support/fake-slack.ts';
import {
  dropSchemas,
  eventually,
  freshSchema,
  POSTGRES_URL,
  simulatorSpec,
  testConfig,
} from '../support/harness.ts';
import { memoryPglite, releasePglite } from '../support/pglite.ts';
import { deliver, mentionBody, slackConfigObject, slackEnv } from '../support/slack.ts';
import { JANDI_TOKENS, jandiMessage, WEBHOOK_ENV } from '../support/webhooks.ts';

const CHANNEL = 'C0ROLES';

describe('chronops serve --role front (PostgreSQL)', () => {
  const fake = new FakeSlack();
  const schema = freshSchema();
  const servers: Chronops[] = [];
  let config: Config;

  function start(role: ChronopsOptions['role'], pollMs = 250): Promise<Chronops> {
    return startChronops(config, {
      db: new PostgresDb(POSTGRES_URL, { max: 4 }),
      schema,
      ...(role ? { role } : {}),
      gateway: new AwsGateway({
        dryRun: false,
        simulator: new AwsSimulator(simulatorSpec()),
        sink: { record: async () => {} },
      }),
      pollMs,
      logger: createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
    }).then((c) => {
      servers.push(c);
      return c;
    });
  }

  before(async () => {
    await fake.start();
    config = parseConfig(
      {
        ...slackConfigObject(),
        sources: [
          {
            kind: 'jandi',
            name: 'jandi',
            rooms: [{ name: 'ops', token: `\${JANDI_TOKEN_OPS}`, locale: 'en' }],
            replyWithinMs: 1500,
          },
        ],
      },
      { ...slackEnv(fake), ...WEBHOOK_ENV },
    );
  });
  after(async () => {
    for (const s of servers) await s.close().catch(() => {});
    for (const s of servers) await s.db.close().catch(() => {});
    await fake.stop();
    await dropSchemas(schema);
  });

  it('a front alone answers a JANDI command whose request waits for it', async () => {
    // Prepare
    const front = await start('front');
    // Act
    const response = await fetch(`${front.url}/jandi/jandi`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(jandiMessage({ token: JANDI_TOKENS.ops, text: '/chronops lsit' })),
    });
    // Assess: the answer in the response (handled by the front itself), not "started"
    assert.equal(response.status, 200);
    const body = (await response.json()) as { body: string };
    assert.match(body.body, /unknown command "lsit".*"list"/i);
  });

  it('a Slack command stored by the front waits for a server running the work, which replies in the thread', async () => {
    // Prepare
    const front = servers[0]!;
    const ts = fake.seed(CHANNEL, '<@UCHRONOPS> list');
    // Act
    const answer = await deliver(front.url, 'events', mentionBody({ text: 'list', channel: CHANNEL, ts }));
    // Assess: stored and answered by the front, then left for the work
    assert.equal(answer.status, 200);
    await new Promise((resolve) => setTimeout(resolve, 1500)); // six of the front's poll intervals
    const waiting = (await front.gateway.inbox.list(100)).filter((d) => d.source === 'slack');
    assert.deepEqual(
      waiting.map((d) => d.status),
      ['pending'],
      'the front handled nothing from the queue',
    );
    assert.equal(fake.posted(CHANNEL, ts).length, 0, 'nothing replied');
    // Act: a server that runs the work starts (it looks at the inbox at once, then polls only every minute)
    const worker = await start(undefined, 60_000);
    // Assess: it handles the command and replies in the mention's thread
    const [reply] = await eventually(
      async () => {
        const posted = fake.posted(CHANNEL, ts);
        return posted.length > 0 ? posted : undefined;
      },
      10_000,
      'the reply in the thread',
    );
    assert.match(reply!.text, /window|no .*windows/i);
    await eventually(
      async () =>
        (await worker.gateway.inbox.list(100))
          .filter((d) => d.source === 'slack')
          .every((d) => d.status === 'done'),
      10_000,
      'the delivery done',
    );
  });

  it('the front tells the servers running the work at once (NOTIFY): no wait for their next poll', async () => {
    // Prepare: the server running the work polls only every minute (above)
    const front = servers[0]!;
    const ts = fake.seed(CHANNEL, '<@UCHRONOPS> list');
    // Act
    const answer = await deliver(front.url, 'events', mentionBody({ text: 'list', channel: CHANNEL, ts }));
    // Assess: replied long before the worker's next poll
    assert.equal(answer.status, 200);
    await eventually(async () => fake.posted(CHANNEL, ts).length === 1, 10_000, 'the reply in the thread');
  });

  it('the embedded database refuses the role', async () => {
    const db = await memoryPglite();
    try {
      await assert.rejects(
        startChronops(testConfig(), {
          db,
          schema: 'chronops',
          role: 'front',
          logger: createLogger({ level: 'silent' }),
        }),
        (error: unknown) => error instanceof ConfigError && /needs PostgreSQL/.test(error.message),
      );
    } finally {
      await releasePglite(db);
    }
  });
});
