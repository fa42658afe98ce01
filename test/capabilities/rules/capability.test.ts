import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RulesCapability } from '../../../src/capabilities/rules/capability.ts';
import type { Delivery } from '../../../src/gateway/inbox-store.ts';
import type { HandleContext } from '../../../src/gateway/worker.ts';
import { parseConfig } from '../../../src/kernel/config.ts';
import { backends, eventually, type Running, runChronops, simulatorSpec } from '../../support/harness.ts';
import { openSse } from '../../support/sse.ts';
import { snsBody, TOPIC } from './support.ts';

const config = parseConfig(
  {
    dryRun: true,
    notify: { destinations: { console: { kind: 'console' } } },
    resources: {
      tasks: [
        { name: 'pricing', cluster: 'pricing', region: 'us-east-1', taskDefinitions: ['pricechecker'] },
      ],
    },
    rules: [
      {
        name: 'price-list',
        description: 'Run the price checker when AWS publishes new prices',
        match: { source: 'price-list', topicArn: TOPIC },
        actions: [
          {
            runTask: {
              task: 'pricing',
              taskDefinition: 'pricechecker',
              subnets: ['subnet-0123456789abcdef0'],
              assignPublicIp: true,
              containerOverrides: [{ name: 'checker', environment: { OFFER: '{{ Message.offerCode }}' } }],
              report: 'console',
            },
          },
        ],
      },
    ],
    server: { host: '127.0.0.1', port: 0 },
    database: { dataDir: '/nonexistent-not-used' },
  },
  {},
);

const spec = {
  ...simulatorSpec(),
  clusters: ['pricing'],
  taskDefinitions: {
    pricechecker: {
      revision: 12,
      containers: [{ name: 'checker', exitCode: 0 }],
      startSeconds: 0.2,
      runSeconds: 0.3,
    },
  },
};

/** A stored delivery as the gateway's worker hands it over. */
function delivery(key: string, source: string, kind: string, body: string): Delivery {
  return {
    id: 1,
    key,
    source,
    kind,
    type: 'test',
    subtype: null,
    body,
    retryNum: null,
    partitionKey: null,
    topics: null,
    attempts: 1,
    receivedAt: new Date(),
  };
}
const CTX: HandleContext = { reply: () => false, replyWanted: () => false, yieldToIngest: async () => {} };

for (const backend of backends) {
  describe(`rules in a running chronops (${backend.name})`, () => {
    let chronops: Running;
    let rules: RulesCapability;

    before(async () => {
      chronops = await runChronops(backend, { config, spec, dryRun: true });
      rules = chronops.capabilities.rules as RulesCapability;
    });
    after(async () => {
      await chronops.stopAll();
    });

    it('GET /api/rules lists the rules and the allow-list', async () => {
      // Act
      const response = await chronops.app.request('/api/rules');
      const body = await response.json();

      // Assess
      assert.equal(response.status, 200);
      assert.deepEqual(body.rules, [
        {
          name: 'price-list',
          description: 'Run the price checker when AWS publishes new prices',
          match: { sources: ['price-list'], topicArns: [TOPIC] },
          actions: ['runTask pricechecker (latest ACTIVE) on pricing, report to console'],
          dryRun: false,
        },
      ]);
      assert.deepEqual(body.tasks, [
        { name: 'pricing', cluster: 'pricing', region: 'us-east-1', taskDefinitions: ['pricechecker'] },
      ]);
    });

    it('POST /api/rules/:name/test shows the exact calls and changes nothing; bad input gets a clear 4xx', async () => {
      // Prepare
      const event = JSON.parse(snsBody('test-message-1'));

      // Act
      const response = await chronops.app.request('/api/rules/price-list/test', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ event }),
      });
      const report = await response.json();
      const unknown = await chronops.app.request('/api/rules/nope/test', { method: 'POST', body: '{}' });
      const bad = await chronops.app.request('/api/rules/price-list/test', {
        method: 'POST',
        body: '{"event": 3}',
      });

      // Assess
      assert.equal(response.status, 200);
      assert.equal(report.matches, true);
      assert.deepEqual(
        report.actions[0].calls.map((c: { command: string; dryRun: boolean }) => [c.command, c.dryRun]),
        [
          ['DescribeTaskDefinition', false],
          ['ListTasks', false],
          ['RunTask', true],
        ],
      );
      assert.deepEqual(report.actions[0].calls[2].input.overrides, {
        containerOverrides: [{ name: 'checker', environment: [{ name: 'OFFER', value: 'AmazonEC2' }] }],
      });
      assert.equal(unknown.status, 404);
      assert.match((await unknown.json()).error.message, /no rule named "nope" \(rules: price-list\)/);
      assert.equal(bad.status, 400);
      assert.deepEqual((await bad.json()).error.issues, [
        { field: 'event', message: 'must be the event as JSON (an object)' },
      ]);
      const runs = await (await chronops.app.request('/api/rules/runs')).json();
      assert.deepEqual(runs.runs, []);
    });

    it('the demo loop: an SNS notification starts a (dry-run, simulated) task; its STOPPED event closes the run', async () => {
      // Act
      const result = await rules.handleDelivery({
        key: 'price-list:demo-1',
        source: 'price-list',
        kind: 'sns',
        body: snsBody('demo-1'),
        receivedAt: new Date(),
      });
      const stopped = await eventually(
        async () => {
          const { runs } = await (await chronops.app.request('/api/rules/runs?rule=price-list')).json();
          return runs[0]?.status === 'stopped' ? runs[0] : undefined;
        },
        10_000,
        'the STOPPED event of the simulated task',
      );

      // Assess
      assert.equal(result.runs[0]?.status, 'running');
      assert.equal(stopped.dryRun, true);
      assert.equal(stopped.outcome, 'ok');
      assert.deepEqual(stopped.containers, [{ name: 'checker', exitCode: 0 }]);
      assert.equal(stopped.stopCode, 'EssentialContainerExited');
      assert.match(stopped.taskDefinitionArn, /task-definition\/pricechecker:12$/);
      const runTask = chronops.calls.find((c) => c.command === 'RunTask');
      assert.equal(runTask?.dryRun, true);
      const metrics = await (await chronops.app.request('/metrics')).text();
      assert.match(
        metrics,
        /chronops_rule_runs_total\{rule="price-list",action="runTask",outcome="running"\} 1/,
      );
      assert.match(
        metrics,
        /chronops_rule_runs_total\{rule="price-list",action="runTask",outcome="stopped-ok"\} 1/,
      );
    });

    it('the delivery handlers the gateway worker calls: a malformed body is dropped, an early STOPPED is retried', async () => {
      // Act / Assess
      assert.equal(
        await rules.deliveries.sns.handle(delivery('price-list:bad', 'price-list', 'sns', 'not json'), CTX),
        undefined,
      );
      const early = JSON.stringify({
        id: 'early-1',
        source: 'aws.ecs',
        'detail-type': 'ECS Task State Change',
        detail: {
          taskArn: 'arn:aws:ecs:us-east-1:000000000000:task/pricing/unknown',
          lastStatus: 'STOPPED',
          startedBy: 'chronops',
        },
      });
      await assert.rejects(
        rules.deliveries.events.handle(delivery('aws-events:early-1', 'aws-events', 'events', early), CTX),
        { name: 'RunNotRecordedYet' },
      );
    });

    it('from chat (the console door): rules list, and rules run reports its start and its task’s end in the thread', async () => {
      // Prepare
      const thread = '1795324121.000100';
      const stream = await openSse(`${chronops.url}/api/live`);
      await stream.next((e) => e.event === 'hello');
      const say = async (ts: string, text: string) => {
        const response = await chronops.app.request('/api/console', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ thread, ts, text }),
        });
        return {
          status: response.status,
          body: (await response.json()) as { replies: Array<{ text: string }> },
        };
      };

      try {
        // Act
        const list = await say('1795324122.000100', 'rules list');
        const ran = await say('1795324123.000100', 'rules run price-list');
        const again = await say('1795324123.000100', 'rules run price-list');
        const typo = await say('1795324124.000100', 'rules run price-lsit');
        const ended = await stream.next(
          (e) =>
            e.event === 'console' &&
            /task pricechecker:12 [0-9a-f]{8} finished/.test(e.data) &&
            JSON.parse(e.data).threadTs === thread,
        );

        // Assess
        assert.equal(list.status, 200);
        assert.match(
          list.body.replies[0]!.text,
          /price-list\*: runTask pricechecker \(latest ACTIVE\) on pricing/,
        );
        assert.match(
          ran.body.replies[0]!.text,
          /^Running \*price-list\*: runTask running\. I will say here how it ends\.$/,
        );
        assert.match(again.body.replies[0]!.text, /already ran for this message/);
        assert.match(typo.body.replies[0]!.text, /price-list/);
        assert.equal(JSON.parse(ended.data).threadTs, thread);
        assert.match(ended.data, /Exit codes/);
      } finally {
        stream.close();
      }
    });

    it('POST /api/rules/:name/run runs it now, once per Idempotency-Key', async () => {
      // Prepare
      const ask = () =>
        chronops.app.request('/api/rules/price-list/run', {
          method: 'POST',
          headers: { 'idempotency-key': 'ask-1', 'x-chronops-actor': 'cli:ops', 'x-chronops-source': 'cli' },
        });

      // Act
      const first = await ask();
      const second = await ask();

      // Assess
      assert.equal(first.status, 202);
      assert.deepEqual(
        (await first.json()).runs.map((r: { status: string; duplicate: boolean }) => [r.status, r.duplicate]),
        [['running', false]],
      );
      assert.deepEqual(
        (await second.json()).runs.map((r: { duplicate: boolean }) => r.duplicate),
        [true],
      );
      const { runs } = await (await chronops.app.request('/api/rules/runs?rule=price-list')).json();
      assert.equal(
        runs.filter((r: { event: string }) => r.event === 'run requested by cli:ops (cli)').length,
        1,
      );
    });
  });
}
