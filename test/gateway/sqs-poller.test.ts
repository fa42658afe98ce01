import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { DeleteMessageBatchCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { AwsGateway, type CloudCall } from '../../src/aws/gateway.ts';
import { type PolledDelivery, SqsPoller, type SqsPollerSink } from '../../src/gateway/sqs-poller.ts';
import { createLogger } from '../../src/kernel/logger.ts';

const QUEUE = 'https://sqs.us-east-1.amazonaws.com/111122223333/chronops-events';
const logger = createLogger({ level: 'silent' });

function event(id: string, detail: Record<string, unknown> = { lastStatus: 'STOPPED' }) {
  return JSON.stringify({
    version: '0',
    id,
    'detail-type': 'ECS Task State Change',
    source: 'aws.ecs',
    account: '111122223333',
    time: '2026-12-01T00:04:10Z',
    region: 'us-east-1',
    resources: [],
    detail,
  });
}

function message(id: string, body: string, receives = 1) {
  return {
    MessageId: `m-${id}`,
    ReceiptHandle: `rh-${id}`,
    Body: body,
    Attributes: { ApproximateReceiveCount: String(receives) },
  };
}

class RecordingSink implements SqsPollerSink {
  readonly log: string[] = [];
  readonly stored: PolledDelivery[] = [];
  readonly dead: Array<{ messageId: string; reason: string; receiveCount: number }> = [];
  failFor = new Set<string>();
  failAll = false;
  async store(deliveries: PolledDelivery[]) {
    this.log.push(`store ${deliveries.map((d) => d.key).join(',')}`);
    if (this.failAll || deliveries.some((d) => this.failFor.has(d.key)))
      throw new Error('value too long for the inbox');
    this.stored.push(...deliveries);
  }
  async deadLetter(letter: {
    source: string;
    messageId: string;
    receiveCount: number;
    reason: string;
    body: string;
  }) {
    this.log.push(`dead ${letter.messageId}`);
    this.dead.push({ messageId: letter.messageId, reason: letter.reason, receiveCount: letter.receiveCount });
  }
}

function setup(options: { maxReceives?: number } = {}) {
  const calls: CloudCall[] = [];
  const gateway = new AwsGateway({
    dryRun: true,
    sink: { record: (c) => void calls.push(c) },
    sleep: async () => {},
  });
  const sqs = mockClient(gateway.client(SQSClient, 'us-east-1'));
  const sink = new RecordingSink();
  const poller = new SqsPoller({
    gateway,
    sink,
    logger,
    source: 'aws-events',
    queueUrl: QUEUE,
    region: 'us-east-1',
    waitSeconds: 20,
    ...options,
  });
  return { gateway, sqs, sink, poller, calls };
}

describe('SQS poller', () => {
  it('long-polls, stores the events, then deletes exactly those messages (even in dry-run)', async () => {
    // Prepare
    const { sqs, sink, poller } = setup();
    sqs
      .on(ReceiveMessageCommand)
      .resolves({ $metadata: {}, Messages: [message('1', event('e-1')), message('2', event('e-2'))] });
    sqs.on(DeleteMessageBatchCommand).callsFake(async (input) => {
      sink.log.push(
        `delete ${input.Entries.map((e: { ReceiptHandle: string }) => e.ReceiptHandle).join(',')}`,
      );
      return {
        $metadata: {},
        Successful: input.Entries.map((e: { Id: string }) => ({ Id: e.Id })),
        Failed: [],
      };
    });

    // Act
    const outcome = await poller.pollOnce();

    // Assess
    assert.deepEqual(sqs.commandCalls(ReceiveMessageCommand)[0]?.args[0].input, {
      QueueUrl: QUEUE,
      MaxNumberOfMessages: 10,
      WaitTimeSeconds: 20,
      MessageSystemAttributeNames: ['ApproximateReceiveCount'],
    });
    assert.deepEqual(sink.log, ['store aws-events:e-1,aws-events:e-2', 'delete rh-1,rh-2']);
    assert.deepEqual(sink.stored[0], {
      key: 'aws-events:e-1',
      source: 'aws-events',
      type: 'ECS Task State Change',
      subtype: 'aws.ecs',
      body: event('e-1'),
      partitionKey: 'aws.ecs',
    });
    assert.deepEqual(outcome, { received: 2, stored: 2, deadLettered: 0, leftForLater: 0, deleted: 2 });
  });

  it('deletes nothing it could not store: the messages come again', async () => {
    // Prepare
    const { sqs, sink, poller } = setup();
    sqs
      .on(ReceiveMessageCommand)
      .resolves({ $metadata: {}, Messages: [message('1', event('e-1')), message('2', event('e-2'))] });
    sink.failAll = true;

    // Act
    const outcome = await poller.pollOnce();

    // Assess
    assert.equal(sqs.commandCalls(DeleteMessageBatchCommand).length, 0);
    assert.deepEqual(outcome, { received: 2, stored: 0, deadLettered: 0, leftForLater: 2, deleted: 0 });
  });

  it('a poison message is a dead letter after maxReceives; the others of its batch are stored and deleted', async () => {
    // Prepare
    const { sqs, sink, poller } = setup({ maxReceives: 5 });
    sqs.on(ReceiveMessageCommand).resolves({
      $metadata: {},
      Messages: [
        message('1', event('e-1')),
        message('p', event('poison'), 5),
        message('q', event('young-poison'), 2),
      ],
    });
    sqs.on(DeleteMessageBatchCommand).callsFake(async (input) => ({
      $metadata: {},
      Successful: input.Entries.map((e: { Id: string }) => ({ Id: e.Id })),
    }));
    sink.failFor = new Set(['aws-events:poison', 'aws-events:young-poison']);

    // Act
    const outcome = await poller.pollOnce();

    // Assess
    assert.deepEqual(
      sink.stored.map((d) => d.key),
      ['aws-events:e-1'],
    );
    assert.deepEqual(sink.dead, [
      {
        messageId: 'm-p',
        receiveCount: 5,
        reason: 'not stored after 5 receives: value too long for the inbox',
      },
    ]);
    assert.deepEqual(
      sqs.commandCalls(DeleteMessageBatchCommand)[0]?.args[0].input.Entries?.map((e) => e.ReceiptHandle),
      ['rh-1', 'rh-p'],
    );
    assert.deepEqual(outcome, { received: 3, stored: 1, deadLettered: 1, leftForLater: 1, deleted: 2 });
  });

  it('a message that is not an EventBridge event is a dead letter at once', async () => {
    // Prepare
    const { sqs, sink, poller } = setup();
    sqs.on(ReceiveMessageCommand).resolves({
      $metadata: {},
      Messages: [message('x', 'not json'), message('y', '{"hello":"world"}'), message('z', event('e-3'))],
    });
    sqs
      .on(DeleteMessageBatchCommand)
      .resolves({ $metadata: {}, Successful: [{ Id: '0' }, { Id: '1' }, { Id: '2' }] });

    // Act
    const outcome = await poller.pollOnce();

    // Assess
    assert.deepEqual(
      sink.dead.map((d) => [d.messageId, d.reason]),
      [
        ['m-x', 'the body is not JSON (is the EventBridge target using an input transformer?)'],
        ['m-y', 'not an EventBridge event (id, source and detail-type expected)'],
      ],
    );
    assert.deepEqual(
      sink.stored.map((d) => d.key),
      ['aws-events:e-3'],
    );
    assert.equal(outcome.deleted, 3);
  });

  it('a failing receive does not stop the poller: it waits, doubling, and polls again', async () => {
    // Prepare
    const sleeps: number[] = [];
    const gateway = new AwsGateway({ sink: { record: () => {} }, sleep: async () => {}, maxAttempts: 1 });
    const sqs = mockClient(gateway.client(SQSClient, 'us-east-1'));
    const sink = new RecordingSink();
    let resolveDone: () => void;
    const done = new Promise<void>((r) => {
      resolveDone = r;
    });
    sqs
      .on(ReceiveMessageCommand)
      .rejectsOnce(
        Object.assign(new Error('Access to the resource is denied.'), {
          name: 'AccessDenied',
          $metadata: {},
        }),
      )
      .rejectsOnce(Object.assign(new Error('socket hang up'), { name: 'TimeoutError', $metadata: {} }))
      .callsFake(async () => {
        resolveDone();
        return { $metadata: {}, Messages: [] };
      });
    const poller = new SqsPoller({
      gateway,
      sink,
      logger,
      source: 'aws-events',
      queueUrl: QUEUE,
      region: 'us-east-1',
      errorDelayMs: 100,
      sleep: async (ms) => void sleeps.push(ms),
    });

    // Act
    poller.start();
    await done;
    await poller.stop();

    // Assess
    assert.deepEqual(sleeps, [100, 200]);
    assert.ok(sqs.commandCalls(ReceiveMessageCommand).length >= 3);
  });

  it('honours AWS_ENDPOINT_URL: the real SDK request goes to that endpoint, and stop() ends a long poll at once', async () => {
    // Prepare: a loopback server that answers like SQS (AWS JSON 1.0).
    const requests: Array<{ target: string; body: Record<string, unknown> }> = [];
    let hold: (() => void) | undefined;
    const server = createServer(async (req: IncomingMessage, res) => {
      let raw = '';
      for await (const chunk of req) raw += chunk;
      const target = String(req.headers['x-amz-target']);
      requests.push({ target, body: JSON.parse(raw) });
      res.setHeader('content-type', 'application/x-amz-json-1.0');
      if (target === 'AmazonSQS.ReceiveMessage' && requests.length === 1) {
        // Like SQS, with the body's MD5 (the SDK checks it).
        const m = message('1', event('e-1'));
        res.end(
          JSON.stringify({ Messages: [{ ...m, MD5OfBody: createHash('md5').update(m.Body).digest('hex') }] }),
        );
      } else if (target === 'AmazonSQS.ReceiveMessage') {
        // The next long poll: hold it until the client gives up.
        await new Promise<void>((r) => {
          hold = r;
          req.on('close', () => r());
        });
        if (!res.writableEnded) res.end(JSON.stringify({ Messages: [] }));
      } else {
        res.end(JSON.stringify({ Successful: [{ Id: '0' }], Failed: [] }));
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const saved = { ...process.env };
    Object.assign(process.env, {
      AWS_ENDPOINT_URL: endpoint,
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
    });
    delete process.env.AWS_PROFILE;
    try {
      const gateway = new AwsGateway({ sink: { record: () => {} } });
      const sink = new RecordingSink();
      const poller = new SqsPoller({
        gateway,
        sink,
        logger,
        source: 'aws-events',
        queueUrl: QUEUE,
        region: 'us-east-1',
        waitSeconds: 20,
      });

      // Act
      poller.start();
      const deadline = Date.now() + 10_000;
      while (requests.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      const stopping = Date.now();
      await poller.stop();
      const stopMs = Date.now() - stopping;

      // Assess
      assert.deepEqual(
        requests.map((r) => r.target),
        ['AmazonSQS.ReceiveMessage', 'AmazonSQS.DeleteMessageBatch', 'AmazonSQS.ReceiveMessage'],
      );
      assert.equal(requests[0]?.body.WaitTimeSeconds, 20);
      assert.deepEqual(requests[1]?.body.Entries, [{ Id: '0', ReceiptHandle: 'rh-1' }]);
      assert.deepEqual(
        sink.stored.map((d) => d.key),
        ['aws-events:e-1'],
      );
      assert.ok(stopMs < 2000, `stop took ${stopMs} ms`);
    } finally {
      hold?.();
      process.env = saved;
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
