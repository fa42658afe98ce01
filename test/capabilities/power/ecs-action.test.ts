import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ApplicationAutoScalingClient,
  DescribeScalableTargetsCommand,
  RegisterScalableTargetCommand,
} from '@aws-sdk/client-application-auto-scaling';
import { DescribeServicesCommand, ECSClient, UpdateServiceCommand } from '@aws-sdk/client-ecs';
import { mockClient } from 'aws-sdk-client-mock';
import { AwsGateway } from '../../../src/aws/gateway.ts';
import { EcsPowerAction } from '../../../src/capabilities/power/actions/ecs.ts';
import type { PowerContext, PowerValueStore } from '../../../src/capabilities/power/actions/port.ts';
import type { EcsPowerResource } from '../../../src/capabilities/power/model.ts';

const REGION = 'ap-northeast-2';
const ctx: PowerContext = { executionId: 'exec-1', dryRun: false };

class MemoryValues implements PowerValueStore {
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

function svc(name: string): EcsPowerResource {
  return { kind: 'ecs', name, cluster: 'shop', service: name, region: REGION, schedule: 'office' };
}

/**
 * ECS with Application Auto Scaling as it behaves: a desired count is held inside the scalable target's
 * [min, max]; running tasks follow the desired count one describe later.
 */
class FakeEcs {
  readonly services = new Map<
    string,
    { desired: number; running: number; target?: { min: number; max: number } }
  >();
  describe(names: string[]) {
    const services = [];
    for (const name of names) {
      const s = this.services.get(name);
      if (!s) continue;
      services.push({
        serviceName: name,
        status: 'ACTIVE',
        desiredCount: s.desired,
        runningCount: s.running,
      });
      s.running = s.desired;
    }
    return { $metadata: {}, services, failures: [] };
  }
  targets(ids: string[]) {
    return {
      $metadata: {},
      ScalableTargets: ids
        .map((id) => [id, this.services.get(id.split('/')[2]!)?.target] as const)
        .filter(([, t]) => t !== undefined)
        .map(([id, t]) => ({
          ServiceNamespace: 'ecs' as const,
          ResourceId: id,
          ScalableDimension: 'ecs:service:DesiredCount' as const,
          MinCapacity: t!.min,
          MaxCapacity: t!.max,
          RoleARN: 'arn:aws:iam::1:role/x',
          CreationTime: new Date(0),
        })),
    };
  }
  register(id: string, min: number, max: number) {
    const s = this.services.get(id.split('/')[2]!)!;
    s.target = { min, max };
    s.desired = Math.min(max, Math.max(min, s.desired));
    return { $metadata: {} };
  }
  update(name: string, desired: number) {
    const s = this.services.get(name)!;
    s.desired = s.target ? Math.min(s.target.max, Math.max(s.target.min, desired)) : desired;
    return { $metadata: {}, service: { serviceName: name, desiredCount: s.desired } };
  }
}

function setup(options: { dryRun?: boolean } = {}) {
  const gateway = new AwsGateway({
    dryRun: options.dryRun,
    sink: { record: () => {} },
    sleep: async () => {},
  });
  const ecs = mockClient(gateway.client(ECSClient, REGION));
  const aas = mockClient(gateway.client(ApplicationAutoScalingClient, REGION));
  const fake = new FakeEcs();
  ecs.on(DescribeServicesCommand).callsFake((input) => fake.describe(input.services ?? []));
  ecs.on(UpdateServiceCommand).callsFake((input) => fake.update(input.service, input.desiredCount!));
  aas.on(DescribeScalableTargetsCommand).callsFake((input) => fake.targets(input.ResourceIds ?? []));
  aas
    .on(RegisterScalableTargetCommand)
    .callsFake((input) => fake.register(input.ResourceId, input.MinCapacity!, input.MaxCapacity!));
  const values = new MemoryValues();
  return { ecs, aas, fake, values, action: new EcsPowerAction({ gateway, values }) };
}

describe('EcsPowerAction', () => {
  it('stops a service under autoscaling: keeps its values, MinCapacity 0, desired 0; starts it with them', async () => {
    // Prepare
    const { ecs, aas, fake, values, action } = setup();
    fake.services.set('web', { desired: 3, running: 3, target: { min: 2, max: 10 } });

    // Act: stop
    const [stopped] = await action.converge([{ resource: svc('web'), want: 'stopped' }], ctx);

    // Assess
    assert.deepEqual(values.values.get('web'), { desired: 3, min: 2, max: 10 });
    assert.deepEqual(
      aas.commandCalls(RegisterScalableTargetCommand).map((c) => c.args[0].input),
      [
        {
          ServiceNamespace: 'ecs',
          ResourceId: 'service/shop/web',
          ScalableDimension: 'ecs:service:DesiredCount',
          MinCapacity: 0,
          MaxCapacity: 10,
        },
      ],
    );
    assert.deepEqual(
      ecs.commandCalls(UpdateServiceCommand).map((c) => c.args[0].input),
      [{ cluster: 'shop', service: 'web', desiredCount: 0 }],
    );
    assert.deepEqual([stopped!.from, stopped!.to], ['desired 3 (min 2 max 10)', 'desired 0 (min 0 max 10)']);
    assert.equal(fake.services.get('web')!.desired, 0);

    // Act: start
    const [started] = await action.converge([{ resource: svc('web'), want: 'running' }], ctx);

    // Assess: the floor first, then the desired count; the kept values are cleared
    assert.deepEqual(aas.commandCalls(RegisterScalableTargetCommand)[1]!.args[0].input, {
      ServiceNamespace: 'ecs',
      ResourceId: 'service/shop/web',
      ScalableDimension: 'ecs:service:DesiredCount',
      MinCapacity: 2,
      MaxCapacity: 10,
    });
    assert.deepEqual(ecs.commandCalls(UpdateServiceCommand)[1]!.args[0].input, {
      cluster: 'shop',
      service: 'web',
      desiredCount: 3,
    });
    assert.equal(started!.to, 'desired 3 (min 2 max 10)');
    assert.equal(values.values.has('web'), false);
    assert.deepEqual(fake.services.get('web'), { desired: 3, running: 0, target: { min: 2, max: 10 } });
  });

  it('a service without a scalable target is stopped and started through its desired count only', async () => {
    const { ecs, aas, fake, values, action } = setup();
    fake.services.set('api', { desired: 2, running: 2 });
    await action.converge([{ resource: svc('api'), want: 'stopped' }], ctx);
    assert.deepEqual(values.values.get('api'), { desired: 2 });
    assert.equal(aas.commandCalls(RegisterScalableTargetCommand).length, 0);
    await action.converge([{ resource: svc('api'), want: 'running' }], ctx);
    assert.deepEqual(
      ecs.commandCalls(UpdateServiceCommand).map((c) => c.args[0].input.desiredCount),
      [0, 2],
    );
  });

  it('a stopped service stays stopped without a call; one still draining tasks is on its way', async () => {
    const { ecs, aas, fake, action } = setup();
    fake.services.set('web', { desired: 0, running: 2, target: { min: 0, max: 10 } });
    const [draining] = await action.converge([{ resource: svc('web'), want: 'stopped' }], ctx);
    const [done] = await action.converge([{ resource: svc('web'), want: 'stopped' }], ctx);
    assert.deepEqual([draining!.changed, draining!.pending], [false, true]);
    assert.deepEqual([done!.changed, done!.pending], [false, false]);
    assert.equal(ecs.commandCalls(UpdateServiceCommand).length, 0);
    assert.equal(aas.commandCalls(RegisterScalableTargetCommand).length, 0);
  });

  it('a service chronops did not stop cannot be started from nothing: it says what to do', async () => {
    const { ecs, fake, action } = setup();
    fake.services.set('web', { desired: 0, running: 0 });
    const [outcome] = await action.converge([{ resource: svc('web'), want: 'running' }], ctx);
    assert.match(outcome!.error!, /no running values kept by chronops/);
    assert.equal(ecs.commandCalls(UpdateServiceCommand).length, 0);
  });

  it('describes ten services per call and fifty scalable targets per call', async () => {
    const { ecs, aas, fake, action } = setup();
    const names = Array.from({ length: 23 }, (_, i) => `s${i}`);
    for (const n of names) fake.services.set(n, { desired: 1, running: 1 });
    await action.observe(names.map(svc), ctx);
    assert.deepEqual(
      ecs.commandCalls(DescribeServicesCommand).map((c) => c.args[0].input.services!.length),
      [10, 10, 3],
    );
    assert.deepEqual(
      aas.commandCalls(DescribeScalableTargetsCommand).map((c) => c.args[0].input.ResourceIds!.length),
      [23],
    );
  });

  it('in dry-run keeps nothing and changes nothing', async () => {
    const { fake, values, action } = setup({ dryRun: true });
    fake.services.set('web', { desired: 3, running: 3, target: { min: 2, max: 10 } });
    const [outcome] = await action.converge([{ resource: svc('web'), want: 'stopped' }], ctx);
    assert.equal(values.values.size, 0);
    assert.equal(fake.services.get('web')!.desired, 3);
    assert.equal(outcome!.to, 'desired 0 (min 0 max 10) (dry-run)');
  });
});
