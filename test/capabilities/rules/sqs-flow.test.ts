// EventBridge → SQS → chronops, in a running server: the server starts the poller of an `events` source with
// `sqs:` (SQS modelled with aws-sdk-client-mock, every request asserted), each event is stored in the gateway's inbox
// before its message is deleted, the rules handle it from there, a message that is no event is kept as a dead
// letter (and deleted), and the poller stops with the server.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  DeleteMessageBatchCommand,
  type DeleteMessageBatchCommandInput,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { parseConfig } from '../../../src/kernel/config.ts';
import { backends, eventually, type Running, runChronops } from '../../support/harness.ts';
import { stoppedEvent } from './support.ts';

const QUEUE = 'https://sqs.us-east-1.amazonaws.com/111122223333/chronops-events';

const config = parseConfig(
  {
    notify: { destinations: { ops: { kind: 'console' } } },
    sources: [{ kind: 'events', name: 'aws-events', sqs: { queueUrl: QUEUE, region: 'us-east-1' } }],
    rules: [
      {
        name: 'task-failures',
        match: {
          source: 'aws-events',
          pattern: {
            source: ['aws.ecs'],
            'detail-type': ['ECS Task State Change'],
            detail: { lastStatus: ['STOPPED'], containers: { exitCode: [{ 'anything-but': 0 }] } },
          },
        },
        actions: [
          { notify: { to: 'ops', severity: 'error', text: 'exited {{ detail.containers.0.exitCode }}' } },
        ],
      },
    ],
    server: { host: '127.0.0.1', port: 0 },
    database: { dataDir: '/nonexistent-not-used' },
  },
  {},
);

const failed = stoppedEvent(undefined, { exitCodes: [1], startedBy: 'ecs-svc/123' });
const key = `aws-events:${String(failed.id)}`;

for (const backend of backends) {
  describe(`SQS poller in the server: message → stored → rule → deleted (${backend.name})`, () => {
    let chronops: Running;
    // Made here, not when the suites are defined: each suite mocks SQSClient while it runs, and restores it after.
    let sqs: AwsClientStub<SQSClient>;
    let receives = 0;
    /** The queue has the messages once the test holds the running server (the pollers start before it returns). */
    let ready = false;
    /** At each delete: the entries, and whether every one's event was in the inbox at that moment. */
    const deletes: Array<{ handles: string[]; storedFirst: boolean }> = [];

    before(async () => {
      sqs = mockClient(SQSClient);
      sqs.on(ReceiveMessageCommand).callsFake(async () => {
        if (ready) receives++;
        if (receives === 1) {
          return {
            Messages: [
              {
                MessageId: 'm-1',
                ReceiptHandle: 'rh-1',
                Body: JSON.stringify(failed),
                Attributes: { ApproximateReceiveCount: '1' },
              },
              {
                MessageId: 'm-2',
                ReceiptHandle: 'rh-2',
                Body: 'Hello from an input transformer',
                Attributes: { ApproximateReceiveCount: '1' },
              },
            ],
          };
        }
        // An empty long poll (shortened).
        await new Promise((resolve) => setTimeout(resolve, 100));
        return {};
      });
      sqs.on(DeleteMessageBatchCommand).callsFake(async (input: DeleteMessageBatchCommandInput) => {
        const stored = await chronops.gateway.inbox.get(key);
        const dead = await chronops.gateway.inbox.get('aws-events:dead:m-2');
        const entries = input.Entries ?? [];
        deletes.push({
          handles: entries.map((e) => e.ReceiptHandle!),
          storedFirst: stored !== undefined && dead !== undefined,
        });
        return { Successful: entries.map((e) => ({ Id: e.Id! })), Failed: [] };
      });
      chronops = await runChronops(backend, { config, simulated: false });
      ready = true;
    });
    after(async () => {
      await chronops?.stopAll();
      sqs?.restore();
    });

    it('polls the queue, stores before deleting, runs the rule, keeps a dead letter, and stops with the server', async () => {
      // Act: the server polls by itself.
      const runs = await eventually(
        async () => {
          const body = await (await chronops.app.request('/api/rules/runs?rule=task-failures')).json();
          return body.runs[0]?.status === 'done' ? body.runs : undefined;
        },
        10_000,
        'the rule run from the polled event, done',
      );
      await eventually(async () => deletes.length > 0, 10_000, 'the delete');
      const handled = await eventually(
        async () => {
          const d = await chronops.gateway.inbox.get(key);
          return d?.status === 'done' ? d : undefined;
        },
        10_000,
        'the delivery handled',
      );
      const dead = await chronops.gateway.inbox.get('aws-events:dead:m-2');
      await chronops.close();
      const receivesAtStop = receives;
      await new Promise((resolve) => setTimeout(resolve, 300));

      // Assess
      const receive = sqs.commandCalls(ReceiveMessageCommand)[0]?.args[0].input;
      assert.deepEqual(receive, {
        QueueUrl: QUEUE,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 20,
        MessageSystemAttributeNames: ['ApproximateReceiveCount'],
      });
      assert.deepEqual(deletes[0], { handles: ['rh-2', 'rh-1'], storedFirst: true });
      assert.equal(deletes.length, 1);
      assert.equal(handled.kind, 'events');
      assert.equal(handled.type, 'ECS Task State Change');
      assert.equal(runs.length, 1);
      assert.equal(dead?.status, 'failed');
      assert.equal(dead?.type, 'dead-letter');
      assert.match(dead?.error ?? '', /not JSON \(is the EventBridge target using an input transformer\?\)/);
      assert.equal(receives, receivesAtStop, 'no receive after the server stopped');
    });
  });
}
