import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DescribeTaskDefinitionCommand,
  DescribeTasksCommand,
  ECSClient,
  ListTasksCommand,
  RunTaskCommand,
} from '@aws-sdk/client-ecs';
import { mockClient } from 'aws-sdk-client-mock';
import type { CloudCall } from '../../../src/aws/gateway.ts';
import { AwsGateway } from '../../../src/aws/gateway.ts';
import {
  consoleLink,
  familyOf,
  RunTaskAction,
  type RunTaskContext,
  tagValue,
} from '../../../src/capabilities/rules/actions/run-task.ts';
import type { RunTaskSpec, TaskTarget } from '../../../src/capabilities/rules/model.ts';

const REGION = 'us-east-1';
const ACCOUNT = '111122223333';
const DEF_ARN = (rev: number) => `arn:aws:ecs:${REGION}:${ACCOUNT}:task-definition/pricechecker:${rev}`;
const TASK_ARN = `arn:aws:ecs:${REGION}:${ACCOUNT}:task/pricing/0123456789abcdef0123456789abcdef`;

const target: TaskTarget = {
  name: 'pricing',
  cluster: 'pricing',
  region: REGION,
  taskDefinitions: ['pricechecker'],
};

const spec: RunTaskSpec = {
  kind: 'runTask',
  task: 'pricing',
  family: 'pricechecker',
  subnets: ['subnet-0123456789abcdef0', 'subnet-0fedcba9876543210'],
  securityGroups: ['sg-0123456789abcdef0'],
  assignPublicIp: true,
  containerOverrides: [
    {
      name: 'checker',
      command: ['check', '--offer', '{{ Message.offerCode }}'],
      environment: { OFFER_URL: '{{ Message.url.JSON }}', SOURCE: 'sns' },
    },
  ],
};

const document = {
  Type: 'Notification',
  MessageId: 'm-1',
  Message: {
    offerCode: 'AmazonEC2',
    url: { JSON: 'https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/AmazonEC2/current/index.json' },
  },
};

const ctx: RunTaskContext = {
  runId: '0b6c1f2e-5d3a-8c4e-9f10-2a3b4c5d6e7f',
  rule: 'price-list',
  deliveryKey: 'price-list:m-1',
  dryRun: false,
  retry: false,
  document,
  executionId: 'exec-1',
};

function definition(revision: number, overrides: Record<string, unknown> = {}) {
  return {
    $metadata: {},
    taskDefinition: {
      taskDefinitionArn: DEF_ARN(revision),
      family: 'pricechecker',
      revision,
      status: 'ACTIVE' as const,
      requiresCompatibilities: ['FARGATE' as const],
      networkMode: 'awsvpc' as const,
      containerDefinitions: [{ name: 'checker' }, { name: 'log-router' }],
      ...overrides,
    },
  };
}

function setup(options: { dryRun?: boolean } = {}) {
  const calls: CloudCall[] = [];
  const gateway = new AwsGateway({
    dryRun: options.dryRun,
    sink: { record: (call) => void calls.push(call) },
    sleep: async () => {},
  });
  const ecs = mockClient(gateway.client(ECSClient, REGION));
  ecs.on(ListTasksCommand).resolves({ $metadata: {}, taskArns: [] });
  return { gateway, ecs, calls, action: new RunTaskAction({ gateway }) };
}

const EXPECTED_INPUT = {
  cluster: 'pricing',
  taskDefinition: DEF_ARN(12),
  launchType: 'FARGATE',
  count: 1,
  networkConfiguration: {
    awsvpcConfiguration: {
      subnets: ['subnet-0123456789abcdef0', 'subnet-0fedcba9876543210'],
      securityGroups: ['sg-0123456789abcdef0'],
      assignPublicIp: 'ENABLED',
    },
  },
  overrides: {
    containerOverrides: [
      {
        name: 'checker',
        command: ['check', '--offer', 'AmazonEC2'],
        environment: [
          {
            name: 'OFFER_URL',
            value: 'https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/AmazonEC2/current/index.json',
          },
          { name: 'SOURCE', value: 'sns' },
        ],
      },
    ],
  },
  startedBy: 'chronops',
  tags: [
    { key: 'chronops:rule', value: 'price-list' },
    { key: 'chronops:run', value: '0b6c1f2e-5d3a-8c4e-9f10-2a3b4c5d6e7f' },
    { key: 'chronops:delivery', value: 'price-list:m-1' },
  ],
  clientToken: '0b6c1f2e-5d3a-8c4e-9f10-2a3b4c5d6e7f',
};

describe('RunTaskAction', () => {
  it('resolves the latest ACTIVE revision of the family and starts exactly one Fargate task with the event in its overrides', async () => {
    // Prepare
    const { ecs, action, calls } = setup();
    ecs.on(DescribeTaskDefinitionCommand).resolves(definition(12));
    ecs
      .on(RunTaskCommand)
      .resolves({ $metadata: {}, tasks: [{ taskArn: TASK_ARN, lastStatus: 'PROVISIONING' }], failures: [] });

    // Act
    const outcome = await action.run(spec, target, ctx);

    // Assess
    assert.deepEqual(
      ecs.commandCalls(DescribeTaskDefinitionCommand).map((c) => c.args[0].input),
      [{ taskDefinition: 'pricechecker' }],
    );
    assert.deepEqual(
      ecs.commandCalls(ListTasksCommand).map((c) => c.args[0].input),
      [{ cluster: 'pricing', startedBy: 'chronops', desiredStatus: 'RUNNING' }],
    );
    assert.deepEqual(
      ecs.commandCalls(RunTaskCommand).map((c) => c.args[0].input),
      [EXPECTED_INPUT],
    );
    assert.equal(outcome.status, 'started');
    assert.equal(outcome.status === 'started' && outcome.taskArn, TASK_ARN);
    assert.equal(outcome.status === 'started' && outcome.taskDefinitionArn, DEF_ARN(12));
    assert.deepEqual(
      calls.map((c) => `${c.command}${c.dryRun ? ' (dry-run)' : ''}`),
      ['DescribeTaskDefinition', 'ListTasks', 'RunTask'],
    );
  });

  it('runs a pinned revision as pinned', async () => {
    // Prepare
    const { ecs, action } = setup();
    ecs.on(DescribeTaskDefinitionCommand, { taskDefinition: 'pricechecker:7' }).resolves(definition(7));
    ecs.on(RunTaskCommand).resolves({ $metadata: {}, tasks: [{ taskArn: TASK_ARN }] });

    // Act
    const outcome = await action.run({ ...spec, revision: 7 }, target, ctx);

    // Assess
    assert.equal(outcome.status, 'started');
    assert.equal(ecs.commandCalls(RunTaskCommand)[0]?.args[0].input.taskDefinition, DEF_ARN(7));
  });

  it('refuses a pinned INACTIVE revision, a non-Fargate one, an unknown container, another family: no RunTask', async () => {
    // Prepare
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ status: 'INACTIVE' }, /is INACTIVE; ECS starts no new task of an inactive revision/],
      [{ requiresCompatibilities: ['EC2'] }, /not compatible with FARGATE \(requiresCompatibilities: EC2\)/],
      [
        { containerDefinitions: [{ name: 'main' }] },
        /container checker is not in .*pricechecker:3 \(its containers: main\)/,
      ],
      [{ family: 'miner' }, /is of family miner, not pricechecker/],
    ];
    for (const [patch, reason] of cases) {
      const { ecs, action } = setup();
      ecs.on(DescribeTaskDefinitionCommand).resolves(definition(3, patch));

      // Act
      const outcome = await action.run({ ...spec, revision: 3 }, target, ctx);

      // Assess
      assert.equal(outcome.status, 'failed');
      assert.match(outcome.status === 'failed' ? outcome.reason : '', reason);
      assert.equal(ecs.commandCalls(RunTaskCommand).length, 0);
    }
  });

  it('a family ECS does not know is a failed run, not a crash', async () => {
    // Prepare
    const { ecs, action } = setup();
    ecs.on(DescribeTaskDefinitionCommand).rejects(
      Object.assign(new Error('Unable to describe task definition.'), {
        name: 'ClientException',
        $metadata: {},
      }),
    );

    // Act
    const outcome = await action.run(spec, target, ctx);

    // Assess
    assert.deepEqual(outcome, {
      status: 'failed',
      reason: 'task definition pricechecker not found in us-east-1',
      cluster: 'pricing',
      region: 'us-east-1',
    });
  });

  it('a redelivered event finds the task its run started (by tag) and starts no second one', async () => {
    // Prepare
    const { ecs, action } = setup();
    ecs.on(DescribeTaskDefinitionCommand).resolves(definition(12));
    const other = `arn:aws:ecs:${REGION}:${ACCOUNT}:task/pricing/ffff`;
    ecs
      .on(ListTasksCommand, { desiredStatus: 'RUNNING' })
      .resolves({ $metadata: {}, taskArns: [other, TASK_ARN] });
    ecs.on(DescribeTasksCommand).resolves({
      $metadata: {},
      tasks: [
        {
          taskArn: other,
          taskDefinitionArn: DEF_ARN(12),
          tags: [{ key: 'chronops:run', value: 'cr-other' }],
        },
        {
          taskArn: TASK_ARN,
          taskDefinitionArn: DEF_ARN(11),
          lastStatus: 'RUNNING',
          tags: [{ key: 'chronops:run', value: ctx.runId }],
        },
      ],
    });

    // Act
    const outcome = await action.run(spec, target, ctx);

    // Assess
    assert.equal(outcome.status, 'found');
    assert.equal(outcome.status === 'found' && outcome.taskArn, TASK_ARN);
    assert.equal(outcome.status === 'found' && outcome.taskDefinitionArn, DEF_ARN(11));
    assert.deepEqual(ecs.commandCalls(DescribeTasksCommand)[0]?.args[0].input, {
      cluster: 'pricing',
      tasks: [other, TASK_ARN],
      include: ['TAGS'],
    });
    assert.equal(ecs.commandCalls(RunTaskCommand).length, 0);
  });

  it('on a retry also looks among STOPPED tasks: a task that already ran is not run again', async () => {
    // Prepare
    const { ecs, action } = setup();
    ecs.on(DescribeTaskDefinitionCommand).resolves(definition(12));
    ecs.on(ListTasksCommand, { desiredStatus: 'STOPPED' }).resolves({ $metadata: {}, taskArns: [TASK_ARN] });
    ecs.on(DescribeTasksCommand).resolves({
      $metadata: {},
      tasks: [
        { taskArn: TASK_ARN, lastStatus: 'STOPPED', tags: [{ key: 'chronops:run', value: ctx.runId }] },
      ],
    });

    // Act
    const outcome = await action.run(spec, target, { ...ctx, retry: true });

    // Assess
    assert.equal(outcome.status, 'found');
    assert.deepEqual(
      ecs.commandCalls(ListTasksCommand).map((c) => c.args[0].input.desiredStatus),
      ['RUNNING', 'STOPPED'],
    );
    assert.equal(ecs.commandCalls(RunTaskCommand).length, 0);
  });

  it('follows ListTasks pages', async () => {
    // Prepare
    const { ecs, action } = setup();
    ecs.on(DescribeTaskDefinitionCommand).resolves(definition(12));
    ecs
      .on(ListTasksCommand, { desiredStatus: 'RUNNING' })
      .resolvesOnce({ $metadata: {}, taskArns: ['arn:a'], nextToken: 'page-2' })
      .resolvesOnce({ $metadata: {}, taskArns: [TASK_ARN] });
    ecs
      .on(DescribeTasksCommand)
      .resolvesOnce({ $metadata: {}, tasks: [{ taskArn: 'arn:a', tags: [] }] })
      .resolvesOnce({
        $metadata: {},
        tasks: [{ taskArn: TASK_ARN, tags: [{ key: 'chronops:run', value: ctx.runId }] }],
      });

    // Act
    const outcome = await action.run(spec, target, ctx);

    // Assess
    assert.equal(outcome.status, 'found');
    assert.equal(ecs.commandCalls(ListTasksCommand)[1]?.args[0].input.nextToken, 'page-2');
  });

  it('refuses to start above the entry’s maxRunning, counting only its families', async () => {
    // Prepare
    const { ecs, action } = setup();
    ecs.on(DescribeTaskDefinitionCommand).resolves(definition(12));
    ecs
      .on(ListTasksCommand, { desiredStatus: 'RUNNING' })
      .resolves({ $metadata: {}, taskArns: ['a', 'b', 'c'] });
    ecs.on(DescribeTasksCommand).resolves({
      $metadata: {},
      tasks: [
        { taskArn: 'a', taskDefinitionArn: DEF_ARN(12), tags: [] },
        { taskArn: 'b', taskDefinitionArn: DEF_ARN(11), tags: [] },
        {
          taskArn: 'c',
          taskDefinitionArn: `arn:aws:ecs:${REGION}:${ACCOUNT}:task-definition/other:1`,
          tags: [],
        },
      ],
    });

    // Act
    const capped = await action.run(spec, { ...target, maxRunning: 2 }, ctx);

    // Assess
    assert.equal(capped.status, 'failed');
    assert.match(
      capped.status === 'failed' ? capped.reason : '',
      /2 task\(s\) chronops started are running on pricing \(maxRunning 2\)/,
    );
    assert.equal(ecs.commandCalls(RunTaskCommand).length, 0);
  });

  it('RunTask failures[] (no Fargate capacity) make a failed run with AWS’s reason', async () => {
    // Prepare
    const { ecs, action } = setup();
    ecs.on(DescribeTaskDefinitionCommand).resolves(definition(12));
    ecs.on(RunTaskCommand).resolves({
      $metadata: {},
      tasks: [],
      failures: [
        {
          arn: 'arn:aws:ecs:us-east-1:111122223333:cluster/pricing',
          reason:
            'Capacity is unavailable at this time. Please try again later or in a different availability zone',
        },
      ],
    });

    // Act
    const outcome = await action.run(spec, target, ctx);

    // Assess
    assert.equal(outcome.status, 'failed');
    assert.equal(
      outcome.status === 'failed' && outcome.reason,
      'RunTask failed: Capacity is unavailable at this time. Please try again later or in a different availability zone',
    );
    assert.equal(outcome.status === 'failed' && outcome.failures?.length, 1);
  });

  it('throttling of RunTask is retried by the gateway, and the task starts once', async () => {
    // Prepare
    const { ecs, action, calls } = setup();
    ecs.on(DescribeTaskDefinitionCommand).resolves(definition(12));
    ecs
      .on(RunTaskCommand)
      .rejectsOnce(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $metadata: {} }))
      .resolves({ $metadata: {}, tasks: [{ taskArn: TASK_ARN }] });

    // Act
    const outcome = await action.run(spec, target, ctx);

    // Assess
    assert.equal(outcome.status, 'started');
    assert.equal(ecs.commandCalls(RunTaskCommand).length, 2);
    assert.deepEqual(ecs.commandCalls(RunTaskCommand)[1]?.args[0].input, EXPECTED_INPUT);
    assert.deepEqual(
      calls.filter((c) => c.command === 'RunTask').map((c) => [c.attempt, c.ok]),
      [
        [1, false],
        [2, true],
      ],
    );
  });

  it('in dry-run reads but only records RunTask with its exact input', async () => {
    // Prepare
    const { ecs, action, calls } = setup({ dryRun: true });
    ecs.on(DescribeTaskDefinitionCommand).resolves(definition(12));

    // Act
    const outcome = await action.run(spec, target, { ...ctx, dryRun: true });

    // Assess
    assert.equal(outcome.status, 'dry-run');
    assert.equal(ecs.commandCalls(RunTaskCommand).length, 0);
    const recorded = calls.find((c) => c.command === 'RunTask');
    assert.equal(recorded?.dryRun, true);
    assert.deepEqual(recorded?.input, EXPECTED_INPUT);
  });

  it('hostile event values stay inside their override strings; over 8192 characters is refused', async () => {
    // Prepare
    const { ecs, action } = setup();
    ecs.on(DescribeTaskDefinitionCommand).resolves(definition(12));
    ecs.on(RunTaskCommand).resolves({ $metadata: {}, tasks: [{ taskArn: TASK_ARN }] });
    const hostile = { Message: { offerCode: '"; rm -rf / #', url: { JSON: '$(curl evil)' } } };

    // Act
    const outcome = await action.run(spec, target, { ...ctx, document: hostile });
    const huge = await action.run(spec, target, {
      ...ctx,
      document: { Message: { offerCode: 'x'.repeat(9000) } },
    });

    // Assess
    assert.equal(outcome.status, 'started');
    const sent = ecs.commandCalls(RunTaskCommand)[0]?.args[0].input.overrides?.containerOverrides?.[0];
    assert.deepEqual(sent?.command, ['check', '--offer', '"; rm -rf / #']);
    assert.deepEqual(sent?.environment?.[0], { name: 'OFFER_URL', value: '$(curl evil)' });
    assert.equal(huge.status, 'failed');
    assert.match(
      huge.status === 'failed' ? huge.reason : '',
      /overrides are \d+ characters .* ECS allows 8192/,
    );
    assert.equal(ecs.commandCalls(RunTaskCommand).length, 1);
  });

  it('helpers: tag values, families, console links', () => {
    assert.equal(tagValue('src:a/b c@d=e+f-g.h_i#j?k'), 'src:a/b c@d=e+f-g.h_i_j_k');
    assert.equal(tagValue('x'.repeat(300)).length, 256);
    assert.equal(familyOf(DEF_ARN(7)), 'pricechecker');
    assert.equal(familyOf(undefined), '');
    assert.equal(
      consoleLink(TASK_ARN, REGION),
      'https://us-east-1.console.aws.amazon.com/ecs/v2/clusters/pricing/tasks/0123456789abcdef0123456789abcdef/configuration?region=us-east-1',
    );
  });
});
