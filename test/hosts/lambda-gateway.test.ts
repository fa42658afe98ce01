// The gateway's Lambda handler under a local Lambda-shaped harness, with API Gateway HTTP API (payload 2.0) event
// fixtures: url_verification answered by the handler; JSON, form and base64 bodies of Slack, JANDI and Teams
// produced to Kafka (librdkafka's mock cluster, read back with kcat: key, headers) or sent to SQS (the exact
// SendMessage, through the one AWS gateway, asserted with aws-sdk-client-mock); forged, stale, oversized, unknown
// and non-POST requests refused with nothing produced; Kafka unreachable → 500 (the sender retries).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { AwsGateway, type CloudCall } from '../../src/aws/gateway.ts';
import { KafkaClient } from '../../src/gateway/kafka.ts';
import { createLambdaGateway, kafkaSink, sqsSink } from '../../src/hosts/lambda-gateway.ts';
import { parseConfig } from '../../src/kernel/config.ts';
import { createLogger } from '../../src/kernel/logger.ts';
import { MockKafka } from '../support/kafka.ts';
import { httpApiEvent, invoke } from '../support/lambda.ts';
import {
  commandBody,
  mentionBody,
  SIGNING_SECRET,
  signedHeaders,
  slackConfigObject,
} from '../support/slack.ts';
import {
  JANDI_TOKENS,
  jandiMessage,
  teamsActivity,
  teamsHeaders,
  WEBHOOK_ENV,
  webhookSources,
} from '../support/webhooks.ts';

const ENV = { ...WEBHOOK_ENV, SLACK_SIGNING_SECRET: SIGNING_SECRET, SLACK_BOT_TOKEN: 'xoxb-lambda-test' };
const logger = createLogger({ level: 'silent' });

function config(brokers: string[] = ['127.0.0.1:9']) {
  return parseConfig(
    {
      ...slackConfigObject({ maxBodyBytes: 4096 }),
      sources: webhookSources({ maxBodyBytes: 4096 }),
      kafka: {
        brokers,
        routes: [
          {
            source: 'slack',
            types: ['event_callback'],
            subtypes: ['app_mention'],
            topics: ['lambda-mentions'],
          },
          { source: 'slack', types: ['command'], topics: ['lambda-commands'] },
          { source: 'webhook', topics: ['lambda-rooms'] },
          { source: 'teams', topics: ['lambda-rooms'] },
        ],
      },
    },
    ENV,
  );
}

describe('the Lambda gateway, producing to Kafka', () => {
  let mock: MockKafka;
  let handler: ReturnType<typeof createLambdaGateway>;
  before(async () => {
    mock = await MockKafka.start();
    const c = config(mock.brokers);
    handler = createLambdaGateway({
      config: c,
      sink: kafkaSink(new KafkaClient({ brokers: c.kafka!.brokers, timeoutMs: 3000, retries: 0 }), logger),
      logger,
    });
  });
  after(async () => {
    await handler?.close();
    await mock?.stop();
  });

  it('answers url_verification itself, producing nothing', async () => {
    const body = JSON.stringify({ token: 'legacy', challenge: 'chal-123', type: 'url_verification' });
    const res = await invoke(
      handler,
      httpApiEvent('/slack/events', { body, headers: signedHeaders(body, 'application/json') }),
    );
    assert.equal(res.statusCode, 200);
    assert.match(res.body, /chal-123/);
  });

  it('produces a base64 JSON event, a base64 form command, a JANDI form and a Teams JSON body, one produce each', async () => {
    const mention = mentionBody({ text: 'list', channel: 'C0LAMBDA', eventId: 'EvLAMBDA1' });
    const command = commandBody({ text: 'help', channel: 'C0LAMBDA', triggerId: 'trig.lambda.1' });
    const jandi = new URLSearchParams(
      Object.entries(jandiMessage({ text: '/chronops help' })).map(([k, v]) => [k, String(v)]),
    ).toString();
    const teams = teamsActivity({ text: 'help', id: 'lambda-teams-1' });
    const answers = await Promise.all([
      invoke(
        handler,
        httpApiEvent('/slack/events', {
          body: mention,
          base64: true,
          headers: signedHeaders(mention, 'application/json'),
        }),
      ),
      invoke(
        handler,
        httpApiEvent('/slack/commands', {
          stage: 'prod',
          body: command,
          base64: true,
          headers: signedHeaders(command, 'application/x-www-form-urlencoded'),
        }),
      ),
      invoke(
        handler,
        httpApiEvent('/jandi/webhook', {
          body: jandi,
          base64: true,
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
        }),
      ),
      invoke(handler, httpApiEvent('/teams/teams', { body: teams, headers: teamsHeaders(teams) })),
    ]);
    assert.deepEqual(
      answers.map((a) => a.statusCode),
      [200, 200, 200, 200],
      answers.map((a) => a.body).join('\n'),
    );
    const mentions = await mock.read('lambda-mentions');
    assert.equal(mentions.length, 1);
    assert.equal(mentions[0]!.key, 'T0TEAM/C0LAMBDA');
    assert.equal(mentions[0]!.value, mention, 'the value is the body as Slack signed it (base64 decoded)');
    assert.equal(mentions[0]!.headers['delivery-id'], 'slack:event:EvLAMBDA1');
    assert.equal(mentions[0]!.headers.source, 'slack');
    assert.equal(mentions[0]!.headers.subtype, 'app_mention');
    const commands = await mock.read('lambda-commands');
    assert.equal(commands.length, 1);
    assert.equal(commands[0]!.value, command);
    assert.equal(commands[0]!.headers['content-type'], 'application/x-www-form-urlencoded');
    const rooms = await mock.read('lambda-rooms');
    assert.deepEqual(rooms.map((m) => m.headers.source).sort(), ['teams', 'webhook']);
    assert.ok(
      !rooms.find((m) => m.headers.source === 'webhook')!.value.includes(JANDI_TOKENS.ops),
      'the JANDI token is not forwarded',
    );
  });

  it('refuses forged, stale, oversized, unknown and non-POST requests, producing nothing', async () => {
    const body = mentionBody({ text: 'list', channel: 'C0REFUSED' });
    const forged = await invoke(
      handler,
      httpApiEvent('/slack/events', {
        body,
        headers: signedHeaders(body, 'application/json', { secret: 'nope' }),
      }),
    );
    assert.equal(forged.statusCode, 401);
    const stale = await invoke(
      handler,
      httpApiEvent('/slack/events', {
        body,
        base64: true,
        headers: signedHeaders(body, 'application/json', { timestamp: Math.floor(Date.now() / 1000) - 600 }),
      }),
    );
    assert.equal(stale.statusCode, 401);
    const big = mentionBody({ text: `list ${'x'.repeat(5000)}`, channel: 'C0REFUSED' });
    const oversized = await invoke(
      handler,
      httpApiEvent('/slack/events', {
        body: big,
        base64: true,
        headers: signedHeaders(big, 'application/json'),
      }),
    );
    assert.equal(oversized.statusCode, 413);
    const unknown = await invoke(handler, httpApiEvent('/hooks/nobody', { body: '{}' }));
    assert.equal(unknown.statusCode, 404);
    const get = await invoke(handler, httpApiEvent('/slack/events', { method: 'GET' }));
    assert.equal(get.statusCode, 405);
    const notBase64 = await invoke(
      handler,
      httpApiEvent('/slack/events', { body, headers: signedHeaders(body, 'application/json') }),
    );
    // The same body, valid: stored this time (the refusals above produced nothing).
    assert.equal(notBase64.statusCode, 200);
    const all = await mock.read('lambda-mentions');
    assert.equal(all.filter((m) => m.key === 'T0TEAM/C0REFUSED').length, 1);
  });
});

describe('the Lambda gateway, Kafka unreachable', () => {
  it('answers 500 (the sender retries) rather than 200 for a delivery Kafka did not take', async () => {
    const c = config(['127.0.0.1:9']);
    const handler = createLambdaGateway({
      config: c,
      sink: kafkaSink(new KafkaClient({ brokers: ['127.0.0.1:9'], timeoutMs: 500, retries: 0 }), logger),
      logger,
    });
    try {
      const body = mentionBody({ text: 'list' });
      const res = await invoke(
        handler,
        httpApiEvent('/slack/events', { body, headers: signedHeaders(body, 'application/json') }),
      );
      assert.equal(res.statusCode, 500);
    } finally {
      await handler.close();
    }
  });
});

describe('the Lambda gateway, sending to SQS', () => {
  it('sends one SendMessage per delivery through the AWS gateway (FIFO: group = channel, dedup = key digest)', async () => {
    const sqs = mockClient(SQSClient);
    sqs.on(SendMessageCommand).resolves({ MessageId: 'm-1' });
    const calls: CloudCall[] = [];
    const aws = new AwsGateway({ sink: { record: (call) => void calls.push(call) } });
    const queueUrl = 'https://sqs.ap-northeast-2.amazonaws.com/123456789012/chronops-gateway.fifo';
    const handler = createLambdaGateway({
      config: config(),
      sink: await sqsSink({ aws, queueUrl, region: 'ap-northeast-2' }),
      logger,
      now: () => Date.parse('2026-12-07T03:00:00Z'),
    });
    try {
      const body = mentionBody({ text: 'list', channel: 'C0SQS', eventId: 'EvSQS1' });
      const res = await invoke(
        handler,
        httpApiEvent('/slack/events', {
          body,
          base64: true,
          headers: signedHeaders(body, 'application/json'),
        }),
      );
      assert.equal(res.statusCode, 200);
      const sent = sqs.commandCalls(SendMessageCommand);
      assert.equal(sent.length, 1);
      assert.deepEqual(sent[0]!.args[0].input, {
        QueueUrl: queueUrl,
        MessageBody: body,
        MessageAttributes: {
          source: { DataType: 'String', StringValue: 'slack' },
          kind: { DataType: 'String', StringValue: 'slack' },
          type: { DataType: 'String', StringValue: 'event_callback' },
          'delivery-id': { DataType: 'String', StringValue: 'slack:event:EvSQS1' },
          'received-at': { DataType: 'String', StringValue: '2026-12-07T03:00:00.000Z' },
          subtype: { DataType: 'String', StringValue: 'app_mention' },
        },
        MessageGroupId: 'T0TEAM/C0SQS',
        MessageDeduplicationId: createHash('sha256').update('slack:event:EvSQS1').digest('hex'),
      });
      assert.deepEqual(
        calls.map((c) => [c.service, c.command, c.ok]),
        [['SQS', 'SendMessage', true]],
        'the call is audited by the AWS gateway',
      );
      sqs
        .on(SendMessageCommand)
        .rejects(Object.assign(new Error('queue gone'), { name: 'QueueDoesNotExist' }));
      const failed = await invoke(
        handler,
        httpApiEvent('/slack/events', { body, headers: signedHeaders(body, 'application/json') }),
      );
      assert.equal(failed.statusCode, 500);
    } finally {
      sqs.restore();
      await handler.close();
    }
  });
});
