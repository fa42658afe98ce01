import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import {
  DescribeTaskDefinitionCommand,
  DescribeTasksCommand,
  ECSClient,
  ListTasksCommand,
  RunTaskCommand,
} from '@aws-sdk/client-ecs';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import type { CloudCall } from '../../../src/aws/gateway.ts';
import { AwsGateway } from '../../../src/aws/gateway.ts';
import { toRuleEvent } from '../../../src/capabilities/rules/events.ts';
import { rulesMigrations } from '../../../src/capabilities/rules/migrations.ts';
import { RulesService, RunNotRecordedYet, runIdOf } from '../../../src/capabilities/rules/service.ts';
import { RulesStore } from '../../../src/capabilities/rules/store.ts';
import { createLogger } from '../../../src/kernel/logger.ts';
import type { Db } from '../../../src/store/db.ts';
import { migrate } from '../../../src/store/migrations.ts';
import { backends } from '../../support/harness.ts';
import {
  DEF_ARN,
  REGION,
  RecordingNotifier,
  rulesConfig,
  snsBody,
  stoppedEvent,
  TASK_ARN,
  TOPIC,
} from './support.ts';

const logger = createLogger({ level: 'silent' });
const at = new Date('2026-12-01T00:00:06Z');

function sns(body = snsBody()) {
  const messageId = JSON.parse(body).MessageId;
  return toRuleEvent({
    key: `price-list:${messageId}`,
    source: 'price-list',
    kind: 'sns',
    body,
    receivedAt: at,
  });
}
function ecsEvent(event: Record<string, unknown>) {
  return toRuleEvent({
    key: `aws-events:${event.id}`,
    source: 'aws-events',
    kind: 'events',
    body: JSON.stringify(event),
    receivedAt: new Date('2026-12-01T00:04:10Z'),
  });
}

function definition(revision: number) {
  return {
    $metadata: {},
    taskDefinition: {
      taskDefinitionArn: DEF_ARN(revision),
      family: 'pricechecker',
      revision,
      status: 'ACTIVE' as const,
      requiresCompatibilities: ['FARGATE' as const],
      containerDefinitions: [{ name: 'checker' }],
    },
  };
}

describe('run ids', () => {
  it('are UUIDs (version 8, from SHA-256), the same for the same delivery, rule and action only', () => {
    const id = runIdOf('price-list:m-1', 'price-list', 0);
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(runIdOf('price-list:m-1', 'price-list', 0), id);
    assert.notEqual(runIdOf('price-list:m-2', 'price-list', 0), id);
    assert.notEqual(runIdOf('price-list:m-1', 'other', 0), id);
    assert.notEqual(runIdOf('price-list:m-1', 'price-list', 1), id);
  });
});

for (const backend of backends) {
  describe(`rules service (${backend.name})`, () => {
    let opened: Awaited<ReturnType<typeof backend.open>>;
    let db: Db;
    let store: RulesStore;
    let ecs: AwsClientStub<ECSClient>;
    let notifier: RecordingNotifier;
    let calls: CloudCall[];
    let service: RulesService;
    let ecsGateway: AwsGateway;

    function build(options: { dryRun?: boolean } = {}) {
      calls = [];
      const gateway = new AwsGateway({
        dryRun: options.dryRun ?? false,
        sink: { record: (c) => void calls.push(c) },
        sleep: async () => {},
        maxAttempts: 2,
      });
      ecsGateway = gateway;
      ecs = mockClient(gateway.client(ECSClient, REGION));
      ecs.on(ListTasksCommand).resolves({ $metadata: {}, taskArns: [] });
      ecs.on(DescribeTaskDefinitionCommand).resolves(definition(12));
      ecs.on(RunTaskCommand).resolves({ $metadata: {}, tasks: [{ taskArn: TASK_ARN }], failures: [] });
      notifier = new RecordingNotifier();
      const config = rulesConfig({ dryRun: options.dryRun ?? false });
      service = new RulesService({
        config: config.rules,
        store,
        gateway,
        notifier,
        dryRun: config.dryRun,
        logger,
      });
    }

    before(async () => {
      opened = await backend.open();
      db = opened.db;
      await migrate(db, opened.schema, [rulesMigrations]);
      store = new RulesStore(db, opened.schema);
    });
    after(async () => {
      await opened.drop();
    });
    beforeEach(async () => {
      await db.query(`DELETE FROM ${opened.schema}.rule_runs`);
      build();
    });

    it('an SNS notification runs the rule: one Fargate task, one notification, both recorded', async () => {
      // Act
      const result = await service.handle(sns());

      // Assess
      assert.deepEqual(result.matched, ['price-list']);
      assert.deepEqual(
        result.runs.map((r) => [r.kind, r.status, r.duplicate]),
        [
          ['runTask', 'running', false],
          ['notify', 'done', false],
        ],
      );
      const input = ecs.commandCalls(RunTaskCommand)[0]?.args[0].input;
      assert.deepEqual(input?.overrides?.containerOverrides, [
        { name: 'checker', environment: [{ name: 'OFFER', value: 'AmazonEC2' }] },
      ]);
      assert.equal(
        input?.clientToken,
        runIdOf('price-list:6c5b5e0b-2f2e-5d0c-a1f0-9bd1f3a6f0a1', 'price-list', 0),
      );
      assert.deepEqual(
        notifier.sent.map((s) => [s.to, s.message.title, s.message.text]),
        [['ops', 'Price list', 'Prices of AmazonEC2 changed']],
      );
      const run = (await store.list({ rule: 'price-list' })).find((x) => x.kind === 'runTask');
      assert.equal(run?.status, 'running');
      assert.equal(run?.taskArn, TASK_ARN);
      assert.equal(run?.taskDefinitionArn, DEF_ARN(12));
      assert.equal(run?.eventSummary, 'SNS price-list-api: Price List Update');
      assert.equal(run?.reportTo, 'ops');
    });

    it('a redelivered notification does nothing again: no second task, no second message', async () => {
      // Prepare
      await service.handle(sns());

      // Act
      const again = await service.handle(sns());

      // Assess
      assert.deepEqual(
        again.runs.map((r) => [r.kind, r.duplicate]),
        [
          ['runTask', true],
          ['notify', true],
        ],
      );
      assert.equal(ecs.commandCalls(RunTaskCommand).length, 1);
      assert.equal(notifier.sent.length, 1);
    });

    it('a notification of another topic or source matches nothing', async () => {
      // Prepare
      const body = JSON.parse(snsBody());
      body.TopicArn = TOPIC.replace('price-list-api', 'daily-aggregated-price-list-api');

      // Act
      const result = await service.handle(sns(JSON.stringify(body)));
      const otherSource = await service.handle({ ...sns(), source: 'elsewhere' });

      // Assess
      assert.deepEqual(result, { matched: [], runs: [] });
      assert.deepEqual(otherSource, { matched: [], runs: [] });
      assert.equal(ecs.commandCalls(RunTaskCommand).length, 0);
    });

    it('the STOPPED event of its task closes the run and reports rule, event, duration, exit codes, reason, link — once', async () => {
      // Prepare
      await service.handle(sns());
      notifier.sent.length = 0;

      // Act
      const result = await service.handle(ecsEvent(stoppedEvent()));
      const again = await service.handle(ecsEvent(stoppedEvent()));

      // Assess
      const runId = runIdOf('price-list:6c5b5e0b-2f2e-5d0c-a1f0-9bd1f3a6f0a1', 'price-list', 0);
      assert.equal(result.stoppedRun, runId);
      assert.equal(again.stoppedRun, runId);
      assert.equal(notifier.sent.length, 1);
      const { to, message, key } = notifier.sent[0]!;
      assert.equal(to, 'ops');
      assert.equal(key, `${runId}:stopped`);
      assert.equal(message.title, 'price-list: task pricechecker:12 01234567 finished');
      assert.equal(message.severity, 'success');
      assert.deepEqual(message.fields, [
        { title: 'Rule', value: 'price-list' },
        { title: 'Triggered by', value: 'SNS price-list-api: Price List Update' },
        { title: 'Duration', value: '3m 28s' },
        { title: 'Exit codes', value: 'checker: 0' },
        { title: 'Stop code', value: 'EssentialContainerExited' },
        { title: 'Stopped reason', value: 'Essential container in task exited' },
      ]);
      assert.equal(
        message.link?.url,
        'https://us-east-1.console.aws.amazon.com/ecs/v2/clusters/pricing/tasks/0123456789abcdef0123456789abcdef/configuration?region=us-east-1',
      );
      const run = await store.get(runId);
      assert.equal(run?.status, 'stopped');
      assert.equal(run?.outcome, 'ok');
      assert.deepEqual(run?.containers, [{ name: 'checker', exitCode: 0 }]);
    });

    it('a container exiting non-zero is an alert (and the seed-style pattern rule notifies too)', async () => {
      // Prepare
      await service.handle(sns());
      notifier.sent.length = 0;

      // Act
      const result = await service.handle(ecsEvent(stoppedEvent(TASK_ARN, { exitCodes: [0, 2] })));

      // Assess
      assert.deepEqual(result.matched, ['task-failures']);
      const report = notifier.sent.find((s) => s.key.endsWith(':stopped'));
      assert.equal(report?.message.severity, 'error');
      assert.equal(report?.message.title, 'Alert: price-list: task pricechecker:12 01234567 failed');
      assert.equal(report?.message.fields?.[3]?.value, 'checker: 0, sidecar-1: 2');
      const patternRule = notifier.sent.find((s) => !s.key.endsWith(':stopped'));
      assert.equal(patternRule?.message.text, `Task ${TASK_ARN} exited 0`);
      const run = await store.byTaskArn(TASK_ARN);
      assert.equal(run?.outcome, 'alert');
    });

    it('TaskFailedToStart is an alert that says the task never started', async () => {
      // Prepare
      await service.handle(sns());
      notifier.sent.length = 0;

      // Act
      await service.handle(
        ecsEvent(
          stoppedEvent(TASK_ARN, { stopCode: 'TaskFailedToStart', reason: 'CannotPullContainerError' }),
        ),
      );

      // Assess
      const report = notifier.sent.find((s) => s.key.endsWith(':stopped'))!;
      assert.equal(report.message.title, 'Alert: price-list: task pricechecker:12 01234567 failed to start');
      assert.match(report.message.fields?.[2]?.value ?? '', /^never started/);
      assert.match(report.message.fields?.[3]?.value ?? '', /checker: none \(CannotPullContainerError/);
    });

    it('a STOPPED event of a chronops task with no run yet asks to be handled again; of another task it is ignored', async () => {
      // Act / Assess
      await assert.rejects(service.handle(ecsEvent(stoppedEvent(`${TASK_ARN}ff`))), RunNotRecordedYet);
      const foreign = await service.handle(
        ecsEvent(stoppedEvent(`${TASK_ARN}ee`, { startedBy: 'ecs-svc/123' })),
      );
      assert.equal(foreign.stoppedRun, undefined);
    });

    it('RunTask failures[] make a failed run and an alert to the report destination', async () => {
      // Prepare
      ecs.on(RunTaskCommand).resolves({
        $metadata: {},
        tasks: [],
        failures: [{ reason: 'RESOURCE:ENI', detail: 'no ENI left' }],
      });

      // Act
      const result = await service.handle(sns());

      // Assess
      assert.equal(result.runs[0]?.status, 'failed');
      const alert = notifier.sent.find((s) => s.key.endsWith(':failed'));
      assert.equal(alert?.message.severity, 'error');
      assert.equal(alert?.message.text, 'RunTask failed: RESOURCE:ENI: no ENI left');
      const run = await store.get(result.runs[0]!.runId);
      assert.equal(run?.error, 'RunTask failed: RESOURCE:ENI: no ENI left');
      assert.deepEqual(run?.details?.failures, [{ reason: 'RESOURCE:ENI', detail: 'no ENI left' }]);
    });

    it('throttling that outlasts the retries leaves the run to a later attempt, which also looks among STOPPED tasks', async () => {
      // Prepare
      ecs
        .on(RunTaskCommand)
        .rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $metadata: {} }));

      // Act
      await assert.rejects(service.handle(sns()), { name: 'ThrottlingException' });
      const runId = runIdOf('price-list:6c5b5e0b-2f2e-5d0c-a1f0-9bd1f3a6f0a1', 'price-list', 0);
      const pending = await store.get(runId);
      ecs.on(RunTaskCommand).resolves({ $metadata: {}, tasks: [{ taskArn: TASK_ARN }] });
      const second = await service.handle(sns());

      // Assess
      assert.equal(pending?.status, 'starting');
      assert.equal(second.runs[0]?.status, 'running');
      assert.equal((await store.get(runId))?.attempts, 2);
      assert.deepEqual(
        ecs.commandCalls(ListTasksCommand).map((c) => c.args[0].input.desiredStatus),
        ['RUNNING', 'RUNNING', 'STOPPED'],
      );
      // The notify action did not wait for the task: it ran on the first attempt, once.
      assert.equal(notifier.sent.filter((s) => s.message.title === 'Price list').length, 1);
    });

    it('an AWS refusal (AccessDenied) fails the run at once with an alert; a failure that is no AWS answer is retried', async () => {
      // Prepare
      ecs.on(RunTaskCommand).rejects(
        Object.assign(new Error('not authorized to perform: iam:PassRole'), {
          name: 'AccessDeniedException',
          $fault: 'client',
          $metadata: { httpStatusCode: 400 },
        }),
      );
      const flaky = new RecordingNotifier();
      let failNotify = true;
      flaky.notify = async (to, message, key) => {
        if (failNotify && message.title === 'Price list')
          throw new Error('connection terminated unexpectedly');
        flaky.sent.push({ to, message, key });
      };
      const config = rulesConfig();
      const withFlaky = new RulesService({
        config: config.rules,
        store,
        gateway: ecsGateway,
        notifier: flaky,
        dryRun: false,
        logger,
      });

      // Act
      await assert.rejects(withFlaky.handle(sns()), /connection terminated/);
      failNotify = false;
      const second = await withFlaky.handle(sns());

      // Assess
      assert.deepEqual(
        second.runs.map((r) => [r.kind, r.status, r.duplicate]),
        [
          ['runTask', 'failed', true],
          ['notify', 'done', false],
        ],
      );
      assert.equal(ecs.commandCalls(RunTaskCommand).length, 1);
      const run = await store.get(second.runs[0]!.runId);
      assert.match(run?.error ?? '', /AccessDeniedException: not authorized to perform: iam:PassRole/);
      assert.equal(flaky.sent.filter((m) => m.key.endsWith(':failed')).length, 1);
    });

    it('a run still failing after 5 attempts is recorded as failed', async () => {
      // Prepare
      ecs
        .on(RunTaskCommand)
        .rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $metadata: {} }));
      for (let i = 0; i < 5; i++) await assert.rejects(service.handle(sns()));

      // Act
      const result = await service.handle(sns());

      // Assess
      assert.equal(result.runs[0]?.status, 'failed');
      assert.equal((await store.get(result.runs[0]!.runId))?.error, 'gave up after 5 attempts');
    });

    it('an earlier attempt’s task found by its tag is recorded, not started again', async () => {
      // Prepare
      ecs.on(RunTaskCommand).rejects(
        Object.assign(new Error('boom'), {
          name: 'InternalServerException',
          $fault: 'server',
          $metadata: {},
        }),
      );
      await assert.rejects(service.handle(sns()));
      const runId = runIdOf('price-list:6c5b5e0b-2f2e-5d0c-a1f0-9bd1f3a6f0a1', 'price-list', 0);
      ecs
        .on(ListTasksCommand, { desiredStatus: 'RUNNING' })
        .resolves({ $metadata: {}, taskArns: [TASK_ARN] });
      ecs.on(DescribeTasksCommand).resolves({
        $metadata: {},
        tasks: [
          {
            taskArn: TASK_ARN,
            taskDefinitionArn: DEF_ARN(12),
            lastStatus: 'RUNNING',
            tags: [{ key: 'chronops:run', value: runId }],
          },
        ],
      });

      // Act
      const result = await service.handle(sns());

      // Assess
      assert.equal(result.runs[0]?.status, 'running');
      assert.equal(ecs.commandCalls(RunTaskCommand).length, 1);
      assert.equal((await store.get(runId))?.taskArn, TASK_ARN);
    });

    it('in dry-run RunTask is only recorded; the run says dry-run', async () => {
      // Prepare
      build({ dryRun: true });

      // Act
      const result = await service.handle(sns());

      // Assess
      assert.equal(result.runs[0]?.status, 'dry-run');
      assert.equal(ecs.commandCalls(RunTaskCommand).length, 0);
      assert.equal(calls.find((c) => c.command === 'RunTask')?.dryRun, true);
    });

    it('a run from chat reports its start and its end in the thread', async () => {
      // Prepare
      const origin = {
        platform: 'slack',
        address: { platform: 'slack', channel: 'C0123ABCD', threadTs: '1.2' },
        user: 'U1',
      };

      // Act
      const result = await service.runNow('price-list', {
        key: 'slack:Ev1',
        user: 'U1',
        platform: 'slack',
        origin,
      });
      await service.handle(ecsEvent(stoppedEvent()));

      // Assess
      assert.equal(result.runs[0]?.status, 'running');
      assert.deepEqual(
        notifier.replies.map((r) => [r.origin.address, r.message.title]),
        [
          [
            { platform: 'slack', channel: 'C0123ABCD', threadTs: '1.2' },
            'price-list: started task pricechecker:12 01234567',
          ],
          [
            { platform: 'slack', channel: 'C0123ABCD', threadTs: '1.2' },
            'price-list: task pricechecker:12 01234567 finished',
          ],
        ],
      );
      assert.equal((await store.byTaskArn(TASK_ARN))?.eventSummary, 'run requested by U1 (slack)');
    });

    it('test() says whether it matches and shows the exact calls, changing nothing', async () => {
      // Act
      const report = await service.test('price-list', sns());
      const miss = await service.test('price-list', ecsEvent(stoppedEvent()));

      // Assess
      assert.equal(report.matches, true);
      assert.deepEqual(
        report.actions[0]?.calls.map((c) => [c.command, c.dryRun]),
        [
          ['DescribeTaskDefinition', false],
          ['ListTasks', false],
          ['RunTask', true],
        ],
      );
      assert.equal(
        (report.actions[0]!.calls[2]!.input as { taskDefinition: string }).taskDefinition,
        DEF_ARN(12),
      );
      assert.deepEqual(report.actions[1]?.notification, {
        to: 'ops',
        message: {
          title: 'Price list',
          text: 'Prices of AmazonEC2 changed',
          footer: 'SNS price-list-api: Price List Update',
        },
      });
      assert.equal(miss.matches, false);
      assert.equal(miss.reason, 'source "aws-events" is not one of the rule\'s sources (price-list)');
      assert.equal(ecs.commandCalls(RunTaskCommand).length, 0);
      assert.deepEqual(await store.list(), []);
      assert.deepEqual(calls, []);
    });
  });
}
