import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CloudCall } from '../../src/aws/gateway.ts';
import { AwsGateway } from '../../src/aws/gateway.ts';
import { AwsSimulator, type SimulatorSpec } from '../../src/aws/simulator.ts';
import { RunTaskAction, type RunTaskContext } from '../../src/capabilities/rules/actions/run-task.ts';
import type { RunTaskSpec, TaskTarget } from '../../src/capabilities/rules/model.ts';

const spec: SimulatorSpec = {
  clusters: ['pricing'],
  taskDefinitions: {
    pricechecker: {
      revision: 12,
      firstActive: 10,
      containers: [{ name: 'checker' }, { name: 'uploader', exitCode: 3 }],
      startSeconds: 20,
      runSeconds: 60,
    },
  },
};

function clock(start = '2026-12-01T00:00:00Z') {
  let now = new Date(start).getTime();
  return {
    now: () => new Date(now),
    advance: (seconds: number) => {
      now += seconds * 1000;
    },
  };
}

// biome-ignore lint/suspicious/noExplicitAny: AWS answers read field by field in assertions
type Out = Record<string, any>;
const send = async (sim: AwsSimulator, command: string, input: Record<string, unknown>) =>
  (await sim.send('ECS', command, input)) as Out;

const target: TaskTarget = {
  name: 'pricing',
  cluster: 'pricing',
  region: 'us-east-1',
  taskDefinitions: ['pricechecker'],
};
const runSpec: RunTaskSpec = {
  kind: 'runTask',
  task: 'pricing',
  family: 'pricechecker',
  subnets: ['subnet-0123456789abcdef0'],
  securityGroups: [],
  assignPublicIp: false,
  containerOverrides: [],
};
const ctx: RunTaskContext = {
  runId: 'cr-1',
  rule: 'price-list',
  deliveryKey: 'price-list:m-1',
  dryRun: false,
  retry: false,
  document: {},
  executionId: 'x',
};

describe('simulated ECS tasks', () => {
  it('a family answers with its latest ACTIVE revision; an old one is INACTIVE; an unknown one is a ClientException', async () => {
    // Prepare
    const sim = new AwsSimulator(spec);

    // Act
    const latest = await send(sim, 'DescribeTaskDefinition', { taskDefinition: 'pricechecker' });
    const old = await send(sim, 'DescribeTaskDefinition', { taskDefinition: 'pricechecker:9' });

    // Assess
    assert.equal(
      latest.taskDefinition.taskDefinitionArn,
      'arn:aws:ecs:us-east-1:000000000000:task-definition/pricechecker:12',
    );
    assert.equal(latest.taskDefinition.status, 'ACTIVE');
    assert.deepEqual(latest.taskDefinition.requiresCompatibilities, ['FARGATE']);
    assert.equal(old.taskDefinition.status, 'INACTIVE');
    await assert.rejects(send(sim, 'DescribeTaskDefinition', { taskDefinition: 'miner' }), {
      name: 'ClientException',
    });
    await assert.rejects(send(sim, 'DescribeTaskDefinition', { taskDefinition: 'pricechecker:13' }), {
      name: 'ClientException',
    });
  });

  it('a task runs and stops over time, found by startedBy with its tags, and reports its exit codes', async () => {
    // Prepare
    const c = clock();
    const sim = new AwsSimulator(spec, { now: c.now });

    // Act
    const started = await send(sim, 'RunTask', {
      cluster: 'pricing',
      taskDefinition: 'pricechecker',
      launchType: 'FARGATE',
      startedBy: 'chronops',
      tags: [{ key: 'chronops:run', value: 'cr-1' }],
    });
    const arn = started.tasks[0].taskArn as string;
    const provisioning = await send(sim, 'DescribeTasks', {
      cluster: 'pricing',
      tasks: [arn],
      include: ['TAGS'],
    });
    c.advance(25);
    const runningList = await send(sim, 'ListTasks', {
      cluster: 'pricing',
      startedBy: 'chronops',
      desiredStatus: 'RUNNING',
    });
    const runningEvents = sim.takeEvents();
    c.advance(60);
    const stoppedList = await send(sim, 'ListTasks', {
      cluster: 'pricing',
      startedBy: 'chronops',
      desiredStatus: 'STOPPED',
    });
    const stoppedEvents = sim.takeEvents();

    // Assess
    assert.match(arn, /^arn:aws:ecs:us-east-1:000000000000:task\/pricing\/[0-9a-f]{32}$/);
    assert.equal(provisioning.tasks[0].lastStatus, 'PROVISIONING');
    assert.deepEqual(provisioning.tasks[0].tags, [{ key: 'chronops:run', value: 'cr-1' }]);
    assert.deepEqual(runningList.taskArns, [arn]);
    assert.deepEqual(
      runningEvents.map((e) => (e.detail as Out).lastStatus),
      ['RUNNING'],
    );
    assert.deepEqual(stoppedList.taskArns, [arn]);
    assert.equal(stoppedEvents.length, 1);
    const stopped = stoppedEvents[0]!;
    assert.equal(stopped.source, 'aws.ecs');
    assert.equal(stopped['detail-type'], 'ECS Task State Change');
    assert.deepEqual((stopped.detail as Out).containers, [
      { name: 'checker', lastStatus: 'STOPPED', exitCode: 0 },
      { name: 'uploader', lastStatus: 'STOPPED', exitCode: 3 },
    ]);
    assert.equal((stopped.detail as Out).stopCode, 'EssentialContainerExited');
    assert.equal((stopped.detail as Out).startedBy, 'chronops');
    assert.deepEqual(sim.takeEvents(), []);
  });

  it('RunTask with the same clientToken answers the same task; INACTIVE revisions and unknown clusters are refused', async () => {
    // Prepare
    const sim = new AwsSimulator(spec);
    const input = { cluster: 'pricing', taskDefinition: 'pricechecker', clientToken: 'cr-1' };

    // Act
    const first = await send(sim, 'RunTask', input);
    const second = await send(sim, 'RunTask', input);

    // Assess
    assert.equal(second.tasks[0].taskArn, first.tasks[0].taskArn);
    await assert.rejects(send(sim, 'RunTask', { cluster: 'pricing', taskDefinition: 'pricechecker:9' }), {
      name: 'ClientException',
      message: 'TaskDefinition is inactive',
    });
    await assert.rejects(send(sim, 'RunTask', { cluster: 'shop', taskDefinition: 'pricechecker' }), {
      name: 'ClusterNotFoundException',
    });
  });

  it('through the RunTask action: started, then found by its tag on a second attempt', async () => {
    // Prepare
    const sim = new AwsSimulator(spec);
    const gateway = new AwsGateway({ simulator: sim, sink: { record: () => {} } });
    const action = new RunTaskAction({ gateway });

    // Act
    const first = await action.run(runSpec, target, ctx);
    const second = await action.run(runSpec, target, { ...ctx, retry: true });

    // Assess
    assert.equal(first.status, 'started');
    assert.equal(second.status, 'found');
    assert.equal(
      second.status === 'found' && first.status === 'started' && second.taskArn === first.taskArn,
      true,
    );
  });

  it('in demo mode a dry-run RunTask is played as a task (recorded as dry-run); a rehearsal plays nothing', async () => {
    // Prepare
    const c = clock();
    const sim = new AwsSimulator(spec, { now: c.now });
    const calls: CloudCall[] = [];
    const gateway = new AwsGateway({
      dryRun: true,
      simulator: sim,
      sink: { record: (call) => void calls.push(call) },
    });
    const rehearsed: CloudCall[] = [];
    const rehearsal = gateway.rehearsal({ record: (call) => void rehearsed.push(call) });

    // Act
    const played = await new RunTaskAction({ gateway }).run(runSpec, target, { ...ctx, dryRun: true });
    const rehearsedOutcome = await new RunTaskAction({ gateway: rehearsal }).run(runSpec, target, {
      ...ctx,
      runId: 'cr-2',
      dryRun: true,
    });
    c.advance(100);

    // Assess
    assert.equal(played.status, 'started');
    assert.equal(calls.find((call) => call.command === 'RunTask')?.dryRun, true);
    assert.equal(rehearsedOutcome.status, 'dry-run');
    assert.equal(rehearsed.find((call) => call.command === 'RunTask')?.dryRun, true);
    const events = sim.takeEvents();
    assert.deepEqual(
      events.map((e) => [
        (e.detail as Out).taskArn === (played.status === 'started' && played.taskArn),
        (e.detail as Out).lastStatus,
      ]),
      [
        [true, 'RUNNING'],
        [true, 'STOPPED'],
      ],
    );
  });
});
