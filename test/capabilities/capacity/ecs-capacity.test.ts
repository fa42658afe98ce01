import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ApplicationAutoScalingClient,
  DescribeScalableTargetsCommand,
  RegisterScalableTargetCommand,
} from '@aws-sdk/client-application-auto-scaling';
import {
  DescribeServicesCommand,
  ECSClient,
  ServiceNotFoundException,
  UpdateServiceCommand,
} from '@aws-sdk/client-ecs';
import { mockClient } from 'aws-sdk-client-mock';
import type { CloudCall } from '../../../src/aws/gateway.ts';
import { AwsGateway } from '../../../src/aws/gateway.ts';
import { EcsCapacityAction } from '../../../src/capabilities/capacity/actions/ecs-capacity.ts';
import type { ActionContext, BaselineStore } from '../../../src/capabilities/capacity/actions/port.ts';
import type { EcsResource } from '../../../src/capabilities/capacity/model.ts';
import { CloudError } from '../../../src/kernel/errors.ts';

class MemoryBaselines implements BaselineStore {
  readonly values = new Map<string, Record<string, unknown>>();
  async get(resource: string) {
    return this.values.get(resource) ?? null;
  }
  async put(resource: string, value: Record<string, unknown>) {
    this.values.set(resource, value);
  }
  async clear(resource: string) {
    this.values.delete(resource);
  }
}

const web: EcsResource = {
  kind: 'ecs',
  name: 'web',
  cluster: 'shop',
  service: 'web',
  region: 'ap-northeast-2',
  maxTasks: 20,
};
const ctx: ActionContext = { executionId: 'exec-1', transitionId: 'tr-1', dryRun: false };
const dryCtx: ActionContext = { ...ctx, dryRun: true };
const RESOURCE_ID = 'service/shop/web';

function setup(options: { dryRun?: boolean } = {}) {
  const recorded: CloudCall[] = [];
  const gateway = new AwsGateway({
    dryRun: options.dryRun,
    sink: { record: (call) => void recorded.push(call) },
    sleep: async () => {},
  });
  const aas = mockClient(gateway.client(ApplicationAutoScalingClient, web.region));
  const ecs = mockClient(gateway.client(ECSClient, web.region));
  const baselines = new MemoryBaselines();
  const action = new EcsCapacityAction({ gateway, baselines });
  return { gateway, aas, ecs, baselines, action, recorded };
}

function scalableTarget(min: number, max: number) {
  return {
    $metadata: {},
    ScalableTargets: [
      {
        ServiceNamespace: 'ecs' as const,
        ResourceId: RESOURCE_ID,
        ScalableDimension: 'ecs:service:DesiredCount' as const,
        MinCapacity: min,
        MaxCapacity: max,
        RoleARN: 'arn:aws:iam::1:role/x',
        CreationTime: new Date('2026-01-01T00:00:00Z'),
      },
    ],
  };
}

const noScalableTarget = { $metadata: {}, ScalableTargets: [] };

function service(desiredCount: number) {
  return { $metadata: {}, services: [{ serviceName: 'web', status: 'ACTIVE', desiredCount }], failures: [] };
}

describe('EcsCapacityAction with an Application Auto Scaling scalable target', () => {
  it('raises MinCapacity and MaxCapacity, stores the original min/max, never touches the desired count', async () => {
    // Prepare
    const { aas, ecs, baselines, action } = setup();
    aas.on(DescribeScalableTargetsCommand).resolves(scalableTarget(2, 10));
    aas.on(RegisterScalableTargetCommand).resolves({ $metadata: {} });

    // Act
    const outcome = await action.converge(web, { amount: 12, windowIds: ['w-a'] }, ctx);

    // Assess
    assert.deepEqual(
      aas.commandCalls(DescribeScalableTargetsCommand).map((c) => c.args[0].input),
      [
        {
          ServiceNamespace: 'ecs',
          ResourceIds: [RESOURCE_ID],
          ScalableDimension: 'ecs:service:DesiredCount',
        },
      ],
    );
    assert.deepEqual(
      aas.commandCalls(RegisterScalableTargetCommand).map((c) => c.args[0].input),
      [
        {
          ServiceNamespace: 'ecs',
          ResourceId: RESOURCE_ID,
          ScalableDimension: 'ecs:service:DesiredCount',
          MinCapacity: 12,
          MaxCapacity: 12,
        },
      ],
    );
    assert.equal(ecs.calls().length, 0);
    assert.deepEqual(baselines.values.get('web'), { mode: 'aas', min: 2, max: 10 });
    assert.equal(outcome.from, 'min 2 max 10');
    assert.equal(outcome.to, 'min 12 max 12');
    assert.equal(outcome.changed, true);
  });

  it('keeps the original max when the target fits under it', async () => {
    // Prepare
    const { aas, action } = setup();
    aas.on(DescribeScalableTargetsCommand).resolves(scalableTarget(2, 10));
    aas.on(RegisterScalableTargetCommand).resolves({ $metadata: {} });

    // Act
    const outcome = await action.converge(web, { amount: 5, windowIds: ['w-a'] }, ctx);

    // Assess
    assert.deepEqual(
      aas
        .commandCalls(RegisterScalableTargetCommand)
        .map((c) => [c.args[0].input.MinCapacity, c.args[0].input.MaxCapacity]),
      [[5, 10]],
    );
    assert.equal(outcome.to, 'min 5 max 10');
  });

  it('plans from the stored baseline, not from the raised values it finds, and sends nothing when already there', async () => {
    // Prepare: a second firing of the same transition, after the first one raised min/max
    const { aas, baselines, action } = setup();
    await baselines.put('web', { mode: 'aas', min: 2, max: 10 });
    aas.on(DescribeScalableTargetsCommand).resolves(scalableTarget(12, 12));

    // Act
    const outcome = await action.converge(web, { amount: 12, windowIds: ['w-a'] }, ctx);

    // Assess
    assert.equal(aas.commandCalls(RegisterScalableTargetCommand).length, 0);
    assert.equal(outcome.changed, false);
    assert.equal(outcome.from, 'min 12 max 12');
    assert.equal(outcome.to, 'min 12 max 12');
    assert.deepEqual(baselines.values.get('web'), { mode: 'aas', min: 2, max: 10 });
  });

  it('lowers to what the remaining window needs when a larger overlapping window ends', async () => {
    // Prepare
    const { aas, baselines, action } = setup();
    await baselines.put('web', { mode: 'aas', min: 2, max: 10 });
    aas.on(DescribeScalableTargetsCommand).resolves(scalableTarget(16, 16));
    aas.on(RegisterScalableTargetCommand).resolves({ $metadata: {} });

    // Act
    const outcome = await action.converge(web, { amount: 8, windowIds: ['w-b'] }, ctx);

    // Assess
    assert.deepEqual(
      aas
        .commandCalls(RegisterScalableTargetCommand)
        .map((c) => [c.args[0].input.MinCapacity, c.args[0].input.MaxCapacity]),
      [[8, 10]],
    );
    assert.equal(outcome.to, 'min 8 max 10');
  });

  it('restores exactly the stored min/max when no window is left, then clears the baseline', async () => {
    // Prepare
    const { aas, baselines, action } = setup();
    await baselines.put('web', { mode: 'aas', min: 2, max: 10 });
    aas.on(DescribeScalableTargetsCommand).resolves(scalableTarget(12, 12));
    aas.on(RegisterScalableTargetCommand).resolves({ $metadata: {} });

    // Act
    const outcome = await action.converge(web, null, ctx);

    // Assess
    assert.deepEqual(
      aas.commandCalls(RegisterScalableTargetCommand).map((c) => c.args[0].input),
      [
        {
          ServiceNamespace: 'ecs',
          ResourceId: RESOURCE_ID,
          ScalableDimension: 'ecs:service:DesiredCount',
          MinCapacity: 2,
          MaxCapacity: 10,
        },
      ],
    );
    assert.equal(baselines.values.has('web'), false);
    assert.equal(outcome.from, 'min 12 max 12');
    assert.equal(outcome.to, 'min 2 max 10');
  });

  it('changes nothing at the end when no baseline was ever stored', async () => {
    // Prepare
    const { aas, ecs, action } = setup();
    aas.on(DescribeScalableTargetsCommand).resolves(scalableTarget(3, 9));

    // Act
    const outcome = await action.converge(web, null, ctx);

    // Assess
    assert.equal(aas.commandCalls(RegisterScalableTargetCommand).length, 0);
    assert.equal(ecs.calls().length, 0);
    assert.equal(outcome.changed, false);
    assert.equal(outcome.to, 'min 3 max 9');
  });

  it('retries a throttled RegisterScalableTarget and succeeds', async () => {
    // Prepare
    const { aas, action, recorded } = setup();
    aas.on(DescribeScalableTargetsCommand).resolves(scalableTarget(2, 10));
    aas
      .on(RegisterScalableTargetCommand)
      .rejectsOnce(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }))
      .resolves({ $metadata: { requestId: 'req-2' } });

    // Act
    const outcome = await action.converge(web, { amount: 4, windowIds: ['w-a'] }, ctx);

    // Assess
    assert.equal(aas.commandCalls(RegisterScalableTargetCommand).length, 2);
    assert.deepEqual(
      recorded.filter((c) => c.command === 'RegisterScalableTarget').map((c) => [c.attempt, c.ok]),
      [
        [1, false],
        [2, true],
      ],
    );
    assert.equal(outcome.to, 'min 4 max 10');
  });
});

describe('EcsCapacityAction without a scalable target', () => {
  it('sets the desired count and stores the original one', async () => {
    // Prepare
    const { aas, ecs, baselines, action } = setup();
    aas.on(DescribeScalableTargetsCommand).resolves(noScalableTarget);
    ecs.on(DescribeServicesCommand).resolves(service(2));
    ecs.on(UpdateServiceCommand).resolves({ $metadata: {} });

    // Act
    const outcome = await action.converge(web, { amount: 12, windowIds: ['w-a'] }, ctx);

    // Assess
    assert.deepEqual(
      ecs.commandCalls(DescribeServicesCommand).map((c) => c.args[0].input),
      [{ cluster: 'shop', services: ['web'] }],
    );
    assert.deepEqual(
      ecs.commandCalls(UpdateServiceCommand).map((c) => c.args[0].input),
      [{ cluster: 'shop', service: 'web', desiredCount: 12 }],
    );
    assert.equal(aas.commandCalls(RegisterScalableTargetCommand).length, 0);
    assert.deepEqual(baselines.values.get('web'), { mode: 'desired', desired: 2 });
    assert.equal(outcome.from, 'desired 2');
    assert.equal(outcome.to, 'desired 12');
  });

  it('never goes below the baseline: a window smaller than the baseline changes nothing', async () => {
    // Prepare
    const { aas, ecs, action } = setup();
    aas.on(DescribeScalableTargetsCommand).resolves(noScalableTarget);
    ecs.on(DescribeServicesCommand).resolves(service(4));

    // Act
    const outcome = await action.converge(web, { amount: 3, windowIds: ['w-a'] }, ctx);

    // Assess
    assert.equal(ecs.commandCalls(UpdateServiceCommand).length, 0);
    assert.equal(outcome.changed, false);
    assert.equal(outcome.to, 'desired 4');
  });

  it('restores the stored desired count at the end and clears the baseline', async () => {
    // Prepare
    const { aas, ecs, baselines, action } = setup();
    await baselines.put('web', { mode: 'desired', desired: 2 });
    aas.on(DescribeScalableTargetsCommand).resolves(noScalableTarget);
    ecs.on(DescribeServicesCommand).resolves(service(12));
    ecs.on(UpdateServiceCommand).resolves({ $metadata: {} });

    // Act
    const outcome = await action.converge(web, null, ctx);

    // Assess
    assert.deepEqual(
      ecs.commandCalls(UpdateServiceCommand).map((c) => c.args[0].input),
      [{ cluster: 'shop', service: 'web', desiredCount: 2 }],
    );
    assert.equal(baselines.values.has('web'), false);
    assert.equal(outcome.from, 'desired 12');
    assert.equal(outcome.to, 'desired 2');
  });

  it('clamps the target to maxTasks and says so', async () => {
    // Prepare
    const { aas, ecs, action } = setup();
    aas.on(DescribeScalableTargetsCommand).resolves(noScalableTarget);
    ecs.on(DescribeServicesCommand).resolves(service(2));
    ecs.on(UpdateServiceCommand).resolves({ $metadata: {} });

    // Act
    const outcome = await action.converge(web, { amount: 50, windowIds: ['w-a'] }, ctx);

    // Assess
    assert.deepEqual(
      ecs.commandCalls(UpdateServiceCommand).map((c) => c.args[0].input.desiredCount),
      [20],
    );
    assert.deepEqual(outcome.details?.clamped, { requested: 50, applied: 20, maxTasks: 20 });
  });

  it('fails with a CloudError naming the service when ECS reports it missing', async () => {
    // Prepare
    const { aas, ecs, action } = setup();
    aas.on(DescribeScalableTargetsCommand).resolves(noScalableTarget);
    ecs.on(DescribeServicesCommand).resolves({
      $metadata: {},
      services: [],
      failures: [{ arn: 'arn:aws:ecs:ap-northeast-2:1:service/shop/web', reason: 'MISSING' }],
    });

    // Act
    const converging = action.converge(web, { amount: 5, windowIds: ['w-a'] }, ctx);

    // Assess
    await assert.rejects(converging, (error) => {
      assert.ok(error instanceof CloudError);
      assert.match(error.message, /ECS service web not found in cluster shop \(ap-northeast-2\): MISSING/);
      return true;
    });
    assert.equal(ecs.commandCalls(UpdateServiceCommand).length, 0);
  });

  it('fails with a CloudError when ECS answers ServiceNotFoundException', async () => {
    // Prepare
    const { aas, ecs, action } = setup();
    aas.on(DescribeScalableTargetsCommand).resolves(noScalableTarget);
    ecs
      .on(DescribeServicesCommand)
      .rejects(new ServiceNotFoundException({ message: 'Service not found.', $metadata: {} }));

    // Act
    const converging = action.converge(web, { amount: 5, windowIds: ['w-a'] }, ctx);

    // Assess
    await assert.rejects(converging, (error) => {
      assert.ok(error instanceof CloudError);
      assert.match(error.message, /not found in cluster shop/);
      assert.equal((error.cause as Error).name, 'ServiceNotFoundException');
      return true;
    });
  });

  it('wraps a call that stays throttled after every retry in a CloudError', async () => {
    // Prepare
    const { aas, ecs, action } = setup();
    aas.on(DescribeScalableTargetsCommand).resolves(noScalableTarget);
    ecs.on(DescribeServicesCommand).resolves(service(2));
    ecs
      .on(UpdateServiceCommand)
      .rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));

    // Act
    const converging = action.converge(web, { amount: 6, windowIds: ['w-a'] }, ctx);

    // Assess
    await assert.rejects(converging, (error) => {
      assert.ok(error instanceof CloudError);
      assert.match(error.message, /ECS shop\/web: ThrottlingException: Rate exceeded/);
      return true;
    });
    assert.equal(ecs.commandCalls(UpdateServiceCommand).length, 4);
  });
});

describe('EcsCapacityAction in dry-run', () => {
  it('records the exact RegisterScalableTarget it would send, sends no mutation and stores no baseline', async () => {
    // Prepare
    const { aas, ecs, baselines, action, recorded } = setup();
    aas.on(DescribeScalableTargetsCommand).resolves(scalableTarget(2, 10));

    // Act
    const outcome = await action.converge(web, { amount: 12, windowIds: ['w-a'] }, dryCtx);

    // Assess
    assert.equal(aas.commandCalls(RegisterScalableTargetCommand).length, 0);
    assert.equal(ecs.calls().length, 0);
    assert.equal(baselines.values.size, 0);
    assert.deepEqual(
      recorded.map((c) => [c.command, c.dryRun, c.input]),
      [
        [
          'DescribeScalableTargets',
          false,
          {
            ServiceNamespace: 'ecs',
            ResourceIds: [RESOURCE_ID],
            ScalableDimension: 'ecs:service:DesiredCount',
          },
        ],
        [
          'RegisterScalableTarget',
          true,
          {
            ServiceNamespace: 'ecs',
            ResourceId: RESOURCE_ID,
            ScalableDimension: 'ecs:service:DesiredCount',
            MinCapacity: 12,
            MaxCapacity: 12,
          },
        ],
      ],
    );
    assert.equal(outcome.to, 'min 12 max 12');
    assert.equal(outcome.details?.dryRun, true);
  });

  it('under the global dry-run records UpdateService and a restore keeps the stored baseline', async () => {
    // Prepare
    const { aas, ecs, baselines, action, recorded } = setup({ dryRun: true });
    await baselines.put('web', { mode: 'desired', desired: 2 });
    aas.on(DescribeScalableTargetsCommand).resolves(noScalableTarget);
    ecs.on(DescribeServicesCommand).resolves(service(12));

    // Act
    const outcome = await action.converge(web, null, ctx);

    // Assess
    assert.equal(ecs.commandCalls(UpdateServiceCommand).length, 0);
    assert.deepEqual(
      recorded.filter((c) => c.dryRun).map((c) => [c.command, c.input]),
      [['UpdateService', { cluster: 'shop', service: 'web', desiredCount: 2 }]],
    );
    assert.deepEqual(baselines.values.get('web'), { mode: 'desired', desired: 2 });
    assert.equal(outcome.to, 'desired 2');
  });
});
