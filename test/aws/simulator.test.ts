import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CloudCall } from '../../src/aws/gateway.ts';
import { AwsGateway } from '../../src/aws/gateway.ts';
import { AwsSimulator, type SimulatorSpec } from '../../src/aws/simulator.ts';
import { AuroraReplicaAction } from '../../src/capabilities/capacity/actions/aurora-replicas.ts';
import { EcsCapacityAction } from '../../src/capabilities/capacity/actions/ecs-capacity.ts';
import type { ActionContext, BaselineStore } from '../../src/capabilities/capacity/actions/port.ts';
import type { AuroraResource, EcsResource } from '../../src/capabilities/capacity/model.ts';
import { ConfigError } from '../../src/kernel/errors.ts';

const spec: SimulatorSpec = {
  ecs: {
    web: { cluster: 'shop', service: 'web', desiredCount: 2, scalableTarget: { min: 2, max: 10 } },
    worker: { cluster: 'shop', service: 'worker', desiredCount: 1 },
  },
  aurora: {
    'shop-aurora': {
      engine: 'aurora-mysql',
      writer: 'shop-aurora-1',
      readers: ['shop-aurora-2'],
      readySeconds: 700,
    },
  },
};

function clock(start = '2026-11-23T06:00:00Z') {
  let now = new Date(start).getTime();
  return {
    now: () => new Date(now),
    advance: (seconds: number) => {
      now += seconds * 1000;
    },
  };
}

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

type Out = Record<string, unknown> & {
  services?: { desiredCount: number }[];
  failures?: { reason: string }[];
  ScalableTargets?: { MinCapacity: number; MaxCapacity: number }[];
  DBInstances?: { DBInstanceIdentifier: string; DBInstanceStatus: string; InstanceCreateTime?: Date }[];
  DBClusters?: { DBClusterMembers: { DBInstanceIdentifier: string; IsClusterWriter: boolean }[] }[];
};

async function send(sim: AwsSimulator, service: string, command: string, input: Record<string, unknown>) {
  return (await sim.send(service, command, input)) as Out;
}

describe('AwsSimulator: its description', () => {
  it('refuses a bad description, naming each bad field under aws.simulate', () => {
    // Prepare
    const bad = {
      ecs: { web: { cluster: 'shop', service: 'web', desiredCount: -1 } },
      aurora: { db: { engine: 'aurora-mysql', writer: 'Bad_Writer', extra: true } },
    } as unknown as SimulatorSpec;

    // Act
    const building = () => new AwsSimulator(bad);

    // Assess
    assert.throws(building, (error) => {
      assert.ok(error instanceof ConfigError);
      const fields = error.issues.map((i) => i.field).sort();
      assert.deepEqual(fields, [
        'aws.simulate.aurora.db',
        'aws.simulate.aurora.db.writer',
        'aws.simulate.ecs.web.desiredCount',
      ]);
      return true;
    });
  });
});

describe('AwsSimulator: ECS and Application Auto Scaling', () => {
  it('describes services, reports a missing one as a failure, and updates the desired count', async () => {
    // Prepare
    const sim = new AwsSimulator(spec);

    // Act
    const before = await send(sim, 'ECS', 'DescribeServices', {
      cluster: 'shop',
      services: ['worker', 'nope'],
    });
    await send(sim, 'ECS', 'UpdateService', { cluster: 'shop', service: 'worker', desiredCount: 4 });
    const after = await send(sim, 'ECS', 'DescribeServices', { cluster: 'shop', services: ['worker'] });

    // Assess
    assert.equal(before.services?.[0]?.desiredCount, 1);
    assert.equal(before.failures?.[0]?.reason, 'MISSING');
    assert.equal(after.services?.[0]?.desiredCount, 4);
    assert.match(String((after.$metadata as { requestId: string }).requestId), /^sim-\d+$/);
  });

  it('answers errors named like AWS: unknown cluster, unknown service, unsupported command', async () => {
    // Prepare
    const sim = new AwsSimulator(spec);

    // Act + Assess
    await assert.rejects(send(sim, 'ECS', 'DescribeServices', { cluster: 'nope', services: ['web'] }), {
      name: 'ClusterNotFoundException',
    });
    await assert.rejects(
      send(sim, 'ECS', 'UpdateService', { cluster: 'shop', service: 'nope', desiredCount: 1 }),
      {
        name: 'ServiceNotFoundException',
      },
    );
    await assert.rejects(send(sim, 'ECS', 'DeleteCluster', {}), { name: 'UnsupportedOperation' });
  });

  it('overrides a desired count set directly on a service under autoscaling, as AWS does', async () => {
    // Prepare
    const sim = new AwsSimulator(spec);

    // Act: raising the desired count alone does not survive the scalable target's max
    await send(sim, 'ECS', 'UpdateService', { cluster: 'shop', service: 'web', desiredCount: 12 });
    const direct = await send(sim, 'ECS', 'DescribeServices', { cluster: 'shop', services: ['web'] });
    await send(sim, 'Application Auto Scaling', 'RegisterScalableTarget', {
      ServiceNamespace: 'ecs',
      ResourceId: 'service/shop/web',
      ScalableDimension: 'ecs:service:DesiredCount',
      MinCapacity: 12,
      MaxCapacity: 12,
    });
    const raised = await send(sim, 'ECS', 'DescribeServices', { cluster: 'shop', services: ['web'] });
    const targets = await send(sim, 'Application Auto Scaling', 'DescribeScalableTargets', {
      ServiceNamespace: 'ecs',
      ResourceIds: ['service/shop/web'],
      ScalableDimension: 'ecs:service:DesiredCount',
    });

    // Assess
    assert.equal(direct.services?.[0]?.desiredCount, 10);
    assert.equal(raised.services?.[0]?.desiredCount, 12);
    assert.deepEqual(
      targets.ScalableTargets?.map((t) => [t.MinCapacity, t.MaxCapacity]),
      [[12, 12]],
    );
  });

  it('validates RegisterScalableTarget and lists no target for a service without one', async () => {
    // Prepare
    const sim = new AwsSimulator(spec);

    // Act
    const none = await send(sim, 'Application Auto Scaling', 'DescribeScalableTargets', {
      ServiceNamespace: 'ecs',
      ResourceIds: ['service/shop/worker'],
    });
    const bad = send(sim, 'Application Auto Scaling', 'RegisterScalableTarget', {
      ServiceNamespace: 'ecs',
      ResourceId: 'service/shop/web',
      ScalableDimension: 'ecs:service:DesiredCount',
      MinCapacity: 5,
      MaxCapacity: 3,
    });

    // Assess
    assert.deepEqual(none.ScalableTargets, []);
    await assert.rejects(bad, { name: 'ValidationException' });
  });
});

describe('AwsSimulator: Aurora', () => {
  it('keeps a new reader creating until readySeconds have passed, then available', async () => {
    // Prepare
    const time = clock();
    const sim = new AwsSimulator(spec, { now: time.now });

    // Act
    await send(sim, 'RDS', 'CreateDBInstance', {
      DBInstanceIdentifier: 'Hot-W-1',
      DBInstanceClass: 'db.r6g.large',
      Engine: 'aurora-mysql',
      DBClusterIdentifier: 'shop-aurora',
      Tags: [{ Key: 'chronops:managed', Value: 'true' }],
    });
    const statuses: string[] = [];
    for (const seconds of [0, 300, 399, 1]) {
      time.advance(seconds);
      const answer = await send(sim, 'RDS', 'DescribeDBInstances', { DBInstanceIdentifier: 'hot-w-1' });
      statuses.push(answer.DBInstances?.[0]?.DBInstanceStatus ?? '');
    }
    const members = await send(sim, 'RDS', 'DescribeDBClusters', { DBClusterIdentifier: 'shop-aurora' });

    // Assess
    assert.deepEqual(statuses, ['creating', 'creating', 'creating', 'available']);
    assert.deepEqual(
      members.DBClusters?.[0]?.DBClusterMembers.map((m) => [m.DBInstanceIdentifier, m.IsClusterWriter]),
      [
        ['shop-aurora-1', true],
        ['shop-aurora-2', false],
        ['hot-w-1', false],
      ],
    );
  });

  it('refuses a duplicate identifier, an engine mismatch and an unknown cluster', async () => {
    // Prepare
    const sim = new AwsSimulator(spec);
    const create = (input: Record<string, unknown>) =>
      send(sim, 'RDS', 'CreateDBInstance', {
        DBInstanceIdentifier: 'hot-w-1',
        DBInstanceClass: 'db.r6g.large',
        Engine: 'aurora-mysql',
        DBClusterIdentifier: 'shop-aurora',
        ...input,
      });

    // Act
    await create({});

    // Assess
    await assert.rejects(create({}), { name: 'DBInstanceAlreadyExistsFault' });
    await assert.rejects(create({ DBInstanceIdentifier: 'shop-aurora-1' }), {
      name: 'DBInstanceAlreadyExistsFault',
    });
    await assert.rejects(create({ DBInstanceIdentifier: 'hot-w-2', Engine: 'aurora-postgresql' }), {
      name: 'InvalidParameterCombination',
    });
    await assert.rejects(create({ DBInstanceIdentifier: 'hot-w-3', DBClusterIdentifier: 'nope' }), {
      name: 'DBClusterNotFoundFault',
    });
  });

  it('refuses to delete the writer; a deleted reader is deleting, then gone', async () => {
    // Prepare
    const time = clock();
    const sim = new AwsSimulator(
      { aurora: { c: { engine: 'aurora-postgresql', writer: 'c-1', readers: ['c-2'], deleteSeconds: 60 } } },
      { now: time.now },
    );

    // Act
    const deletingWriter = send(sim, 'RDS', 'DeleteDBInstance', { DBInstanceIdentifier: 'c-1' });
    await send(sim, 'RDS', 'DeleteDBInstance', { DBInstanceIdentifier: 'c-2', SkipFinalSnapshot: true });
    const during = await send(sim, 'RDS', 'DescribeDBInstances', {
      Filters: [{ Name: 'db-cluster-id', Values: ['c'] }],
    });
    time.advance(60);
    const after = await send(sim, 'RDS', 'DescribeDBInstances', {
      Filters: [{ Name: 'db-cluster-id', Values: ['c'] }],
    });

    // Assess
    await assert.rejects(deletingWriter, { name: 'InvalidDBClusterStateFault' });
    assert.deepEqual(
      during.DBInstances?.map((i) => [i.DBInstanceIdentifier, i.DBInstanceStatus]),
      [
        ['c-1', 'available'],
        ['c-2', 'deleting'],
      ],
    );
    assert.deepEqual(
      after.DBInstances?.map((i) => i.DBInstanceIdentifier),
      ['c-1'],
    );
    await assert.rejects(send(sim, 'RDS', 'DescribeDBInstances', { DBInstanceIdentifier: 'c-2' }), {
      name: 'DBInstanceNotFoundFault',
    });
    await assert.rejects(send(sim, 'RDS', 'DeleteDBInstance', { DBInstanceIdentifier: 'c-2' }), {
      name: 'DBInstanceNotFoundFault',
    });
  });
});

describe('AwsSimulator behind the gateway: the demo mode end to end', () => {
  const web: EcsResource = {
    kind: 'ecs',
    name: 'web',
    cluster: 'shop',
    service: 'web',
    region: 'us-east-1',
    maxTasks: 20,
  };
  const db: AuroraResource = {
    kind: 'aurora',
    name: 'shop-db',
    clusterId: 'shop-aurora',
    region: 'us-east-1',
    instanceClass: 'db.r6g.large',
    maxExtraReplicas: 3,
  };
  const ctx: ActionContext = { executionId: 'exec-1', transitionId: 'tr-1', dryRun: false };

  function setup() {
    const time = clock();
    const recorded: CloudCall[] = [];
    const simulator = new AwsSimulator(spec, { now: time.now });
    const gateway = new AwsGateway({
      simulator,
      sink: { record: (call) => void recorded.push(call) },
      now: time.now,
    });
    const baselines = new MemoryBaselines();
    return {
      time,
      recorded,
      simulator,
      ecs: new EcsCapacityAction({ gateway, baselines }),
      aurora: new AuroraReplicaAction({ gateway }),
      baselines,
    };
  }

  it('raises the min capacity of an autoscaled service and restores it', async () => {
    // Prepare
    const { ecs, simulator, baselines } = setup();

    // Act
    const up = await ecs.converge(web, { amount: 12, windowIds: ['w-a'] }, ctx);
    const during = await send(simulator, 'ECS', 'DescribeServices', { cluster: 'shop', services: ['web'] });
    const down = await ecs.converge(web, null, ctx);
    const after = await send(simulator, 'ECS', 'DescribeServices', { cluster: 'shop', services: ['web'] });

    // Assess
    assert.deepEqual(
      [up.from, up.to, down.from, down.to],
      ['min 2 max 10', 'min 12 max 12', 'min 12 max 12', 'min 2 max 10'],
    );
    assert.equal(during.services?.[0]?.desiredCount, 12);
    assert.equal(after.services?.[0]?.desiredCount, 10);
    assert.equal(baselines.values.size, 0);
  });

  it('adds readers, follows them to available, keeps them on a second firing, and removes only them', async () => {
    // Prepare
    const { aurora, time, recorded } = setup();

    // Act
    const up = await aurora.converge(db, { amount: 2, windowIds: ['w-a'] }, ctx);
    const again = await aurora.converge(db, { amount: 2, windowIds: ['w-a'] }, ctx);
    const polls: string[] = [];
    for (let i = 0; i < 20; i++) {
      const state = await aurora.readerState(db, 'hot-w-a-1', ctx);
      polls.push(state);
      if (state !== 'creating') break;
      time.advance(120);
    }
    const down = await aurora.converge(db, null, ctx);
    const state = await aurora.readerState(db, 'hot-w-a-2', ctx);

    // Assess
    assert.deepEqual(up.createdReaders, ['hot-w-a-1', 'hot-w-a-2']);
    assert.equal(again.changed, false);
    assert.deepEqual(polls, [
      'creating',
      'creating',
      'creating',
      'creating',
      'creating',
      'creating',
      'available',
    ]);
    assert.equal(down.from, '3 readers (2 chronops)');
    assert.equal(down.to, '1 reader (0 chronops)');
    assert.equal(state, 'gone');
    assert.deepEqual(
      recorded
        .filter((c) => c.command === 'DeleteDBInstance')
        .map((c) => (c.input as { DBInstanceIdentifier: string }).DBInstanceIdentifier),
      ['hot-w-a-2', 'hot-w-a-1'],
    );
  });
});
