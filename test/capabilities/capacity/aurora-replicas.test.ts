import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CreateDBInstanceCommand,
  DBClusterNotFoundFault,
  type DBInstance,
  DBInstanceAlreadyExistsFault,
  DBInstanceNotFoundFault,
  DeleteDBInstanceCommand,
  DescribeDBClustersCommand,
  DescribeDBInstancesCommand,
  InvalidDBInstanceStateFault,
  RDSClient,
} from '@aws-sdk/client-rds';
import { mockClient } from 'aws-sdk-client-mock';
import type { CloudCall } from '../../../src/aws/gateway.ts';
import { AwsGateway } from '../../../src/aws/gateway.ts';
import {
  AuroraReplicaAction,
  readerIdentifier,
} from '../../../src/capabilities/capacity/actions/aurora-replicas.ts';
import type { ActionContext } from '../../../src/capabilities/capacity/actions/port.ts';
import type { AuroraResource } from '../../../src/capabilities/capacity/model.ts';
import { CloudError, ForbiddenError } from '../../../src/kernel/errors.ts';

const shopDb: AuroraResource = {
  kind: 'aurora',
  name: 'shop-db',
  clusterId: 'shop-aurora',
  region: 'ap-northeast-2',
  instanceClass: 'db.r6g.large',
  maxExtraReplicas: 3,
};
const ctx: ActionContext = { executionId: 'exec-1', transitionId: 'tr-1', dryRun: false };
const BY_CLUSTER = { Filters: [{ Name: 'db-cluster-id', Values: ['shop-aurora'] }] };

function setup(options: { dryRun?: boolean } = {}) {
  const recorded: CloudCall[] = [];
  const gateway = new AwsGateway({
    dryRun: options.dryRun,
    sink: { record: (call) => void recorded.push(call) },
    sleep: async () => {},
  });
  const rds = mockClient(gateway.client(RDSClient, shopDb.region));
  const action = new AuroraReplicaAction({ gateway });
  return { rds, action, recorded };
}

interface InstanceSpec {
  status?: string;
  managed?: boolean;
  window?: string;
  createdAt?: Date;
  cluster?: string;
}

function instance(id: string, spec: InstanceSpec = {}): DBInstance {
  const tags = [];
  if (spec.managed) tags.push({ Key: 'chronops:managed', Value: 'true' });
  if (spec.window) tags.push({ Key: 'chronops:window', Value: spec.window });
  const status = spec.status ?? 'available';
  return {
    DBInstanceIdentifier: id,
    DBInstanceClass: 'db.r6g.large',
    Engine: 'aurora-mysql',
    DBInstanceStatus: status,
    DBClusterIdentifier: spec.cluster ?? 'shop-aurora',
    TagList: tags,
    ...(status === 'creating'
      ? {}
      : { InstanceCreateTime: spec.createdAt ?? new Date('2026-01-01T00:00:00Z') }),
  };
}

function clusterAnswer(writer: string, readers: string[]) {
  return {
    $metadata: {},
    DBClusters: [
      {
        DBClusterIdentifier: 'shop-aurora',
        Engine: 'aurora-mysql',
        DBClusterMembers: [
          { DBInstanceIdentifier: writer, IsClusterWriter: true },
          ...readers.map((id) => ({ DBInstanceIdentifier: id, IsClusterWriter: false })),
        ],
      },
    ],
  };
}

/** Answer the cluster listing and each instance lookup from one list of instances. */
function given(rds: ReturnType<typeof setup>['rds'], writer: string, instances: DBInstance[]) {
  const readers = instances.map((i) => i.DBInstanceIdentifier!).filter((id) => id !== writer);
  rds
    .on(DescribeDBClustersCommand, { DBClusterIdentifier: 'shop-aurora' })
    .resolves(clusterAnswer(writer, readers));
  rds.on(DescribeDBInstancesCommand, BY_CLUSTER).resolves({ $metadata: {}, DBInstances: instances });
  for (const i of instances) {
    rds
      .on(DescribeDBInstancesCommand, { DBInstanceIdentifier: i.DBInstanceIdentifier })
      .resolves({ $metadata: {}, DBInstances: [i] });
  }
}

const writer = instance('shop-aurora-1');
const plainReader = instance('shop-aurora-2');

function inputs<T>(calls: { args: [{ input: T }] }[]): T[] {
  return calls.map((c) => c.args[0].input);
}

describe('AuroraReplicaAction: scale out', () => {
  it('creates the missing readers with deterministic identifiers, tags and the cluster engine', async () => {
    // Prepare
    const { rds, action } = setup();
    given(rds, 'shop-aurora-1', [writer, plainReader]);
    rds.on(CreateDBInstanceCommand).resolves({ $metadata: { requestId: 'req-c' } });

    // Act
    const outcome = await action.converge(shopDb, { amount: 2, windowIds: ['w-a'] }, ctx);

    // Assess
    const expected = (id: string) => ({
      DBInstanceIdentifier: id,
      DBInstanceClass: 'db.r6g.large',
      Engine: 'aurora-mysql',
      DBClusterIdentifier: 'shop-aurora',
      PubliclyAccessible: false,
      PromotionTier: 15,
      Tags: [
        { Key: 'chronops:managed', Value: 'true' },
        { Key: 'chronops:window', Value: 'w-a' },
      ],
    });
    assert.deepEqual(inputs(rds.commandCalls(DescribeDBClustersCommand)), [
      { DBClusterIdentifier: 'shop-aurora' },
    ]);
    assert.deepEqual(inputs(rds.commandCalls(DescribeDBInstancesCommand)), [BY_CLUSTER]);
    assert.deepEqual(inputs(rds.commandCalls(CreateDBInstanceCommand)), [
      expected('hot-w-a-1'),
      expected('hot-w-a-2'),
    ]);
    assert.equal(rds.commandCalls(DeleteDBInstanceCommand).length, 0);
    assert.deepEqual(outcome.createdReaders, ['hot-w-a-1', 'hot-w-a-2']);
    assert.equal(outcome.from, '1 reader (0 chronops)');
    assert.equal(outcome.to, '3 readers (2 chronops)');
    assert.equal(outcome.changed, true);
  });

  it('creates nothing on a second firing while the first readers are still creating', async () => {
    // Prepare
    const { rds, action } = setup();
    given(rds, 'shop-aurora-1', [
      writer,
      plainReader,
      instance('hot-w-a-1', { managed: true, window: 'w-a', status: 'creating' }),
      instance('hot-w-a-2', { managed: true, window: 'w-a', status: 'creating' }),
    ]);

    // Act
    const outcome = await action.converge(shopDb, { amount: 2, windowIds: ['w-a'] }, ctx);

    // Assess
    assert.equal(rds.commandCalls(CreateDBInstanceCommand).length, 0);
    assert.equal(rds.commandCalls(DeleteDBInstanceCommand).length, 0);
    assert.equal(outcome.changed, false);
    assert.deepEqual(outcome.createdReaders, undefined);
    assert.equal(outcome.from, '3 readers (2 chronops)');
    // Still on their way: handed back to be followed (if the first firing's outcome was never recorded)
    assert.deepEqual(outcome.pendingReaders, ['hot-w-a-1', 'hot-w-a-2']);
  });

  it('hands back only its own readers still creating, next to the ones it creates', async () => {
    // Prepare: one chronops reader creating, one available, a plain reader creating (not chronops')
    const { rds, action } = setup();
    given(rds, 'shop-aurora-1', [
      writer,
      instance('shop-aurora-3', { status: 'creating' }),
      instance('hot-w-a-1', { managed: true, window: 'w-a', status: 'creating' }),
      instance('hot-w-a-2', { managed: true, window: 'w-a' }),
    ]);
    rds.on(CreateDBInstanceCommand).resolves({ $metadata: {} });

    // Act
    const outcome = await action.converge(shopDb, { amount: 3, windowIds: ['w-a'] }, ctx);

    // Assess
    assert.deepEqual(outcome.createdReaders, ['hot-w-a-3']);
    assert.deepEqual(outcome.pendingReaders, ['hot-w-a-1']);
  });

  it('counts DBInstanceAlreadyExistsFault from a concurrent firing as success', async () => {
    // Prepare: the listing predates the other firing's create
    const { rds, action } = setup();
    given(rds, 'shop-aurora-1', [writer]);
    rds.on(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'hot-w-a-1' }).resolves({
      $metadata: {},
      DBInstances: [instance('hot-w-a-1', { managed: true, window: 'w-a', status: 'creating' })],
    });
    rds
      .on(CreateDBInstanceCommand)
      .rejects(new DBInstanceAlreadyExistsFault({ message: 'DB instance already exists', $metadata: {} }));

    // Act
    const outcome = await action.converge(shopDb, { amount: 1, windowIds: ['w-a'] }, ctx);

    // Assess
    assert.deepEqual(
      inputs(rds.commandCalls(CreateDBInstanceCommand)).map((i) => i.DBInstanceIdentifier),
      ['hot-w-a-1'],
    );
    assert.deepEqual(outcome.createdReaders, ['hot-w-a-1']);
    assert.equal(outcome.to, '1 reader (1 chronops)');
  });

  it('also accepts the short error code DBInstanceAlreadyExists', async () => {
    // Prepare
    const { rds, action } = setup();
    given(rds, 'shop-aurora-1', [writer]);
    rds
      .on(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'hot-w-a-1' })
      .resolves({ $metadata: {}, DBInstances: [instance('hot-w-a-1', { managed: true, window: 'w-a' })] });
    rds
      .on(CreateDBInstanceCommand)
      .rejects(Object.assign(new Error('exists'), { name: 'DBInstanceAlreadyExists' }));

    // Act
    const outcome = await action.converge(shopDb, { amount: 1, windowIds: ['w-a'] }, ctx);

    // Assess
    assert.deepEqual(outcome.createdReaders, ['hot-w-a-1']);
  });

  it('moves on to the next identifier when the name is taken by another cluster', async () => {
    // Prepare: the same window also holds readers on another cluster, which got hot-w-a-1 first
    const { rds, action } = setup();
    given(rds, 'shop-aurora-1', [writer]);
    rds.on(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'hot-w-a-1' }).resolves({
      $metadata: {},
      DBInstances: [instance('hot-w-a-1', { managed: true, window: 'w-a', cluster: 'other-aurora' })],
    });
    rds
      .on(CreateDBInstanceCommand, { DBInstanceIdentifier: 'hot-w-a-1' })
      .rejects(new DBInstanceAlreadyExistsFault({ message: 'DB instance already exists', $metadata: {} }));
    rds.on(CreateDBInstanceCommand, { DBInstanceIdentifier: 'hot-w-a-2' }).resolves({ $metadata: {} });

    // Act
    const outcome = await action.converge(shopDb, { amount: 1, windowIds: ['w-a'] }, ctx);

    // Assess
    assert.deepEqual(
      inputs(rds.commandCalls(CreateDBInstanceCommand)).map((i) => i.DBInstanceIdentifier),
      ['hot-w-a-1', 'hot-w-a-2'],
    );
    assert.deepEqual(outcome.createdReaders, ['hot-w-a-2']);
  });

  it('skips identifiers that exist in the cluster, such as a reader still being deleted', async () => {
    // Prepare
    const { rds, action } = setup();
    given(rds, 'shop-aurora-1', [
      writer,
      instance('hot-w-a-1', { managed: true, window: 'w-a', status: 'deleting' }),
    ]);
    rds.on(CreateDBInstanceCommand).resolves({ $metadata: {} });

    // Act
    const outcome = await action.converge(shopDb, { amount: 1, windowIds: ['w-a'] }, ctx);

    // Assess
    assert.deepEqual(
      inputs(rds.commandCalls(CreateDBInstanceCommand)).map((i) => i.DBInstanceIdentifier),
      ['hot-w-a-2'],
    );
    assert.equal(outcome.from, '0 readers (0 chronops)');
    assert.equal(outcome.to, '1 reader (1 chronops)');
  });

  it('clamps the target to maxExtraReplicas', async () => {
    // Prepare
    const { rds, action } = setup();
    given(rds, 'shop-aurora-1', [writer]);
    rds.on(CreateDBInstanceCommand).resolves({ $metadata: {} });

    // Act
    const outcome = await action.converge(shopDb, { amount: 9, windowIds: ['w-a'] }, ctx);

    // Assess
    assert.equal(rds.commandCalls(CreateDBInstanceCommand).length, 3);
    assert.deepEqual(outcome.details?.clamped, { requested: 9, applied: 3, maxExtraReplicas: 3 });
  });

  it('retries a throttled CreateDBInstance', async () => {
    // Prepare
    const { rds, action, recorded } = setup();
    given(rds, 'shop-aurora-1', [writer]);
    rds
      .on(CreateDBInstanceCommand)
      .rejectsOnce(Object.assign(new Error('Rate exceeded'), { name: 'Throttling' }))
      .resolves({ $metadata: {} });

    // Act
    const outcome = await action.converge(shopDb, { amount: 1, windowIds: ['w-a'] }, ctx);

    // Assess
    assert.equal(rds.commandCalls(CreateDBInstanceCommand).length, 2);
    assert.deepEqual(
      recorded.filter((c) => c.command === 'CreateDBInstance').map((c) => [c.attempt, c.ok]),
      [
        [1, false],
        [2, true],
      ],
    );
    assert.deepEqual(outcome.createdReaders, ['hot-w-a-1']);
  });

  it('fails with a CloudError when the cluster does not exist', async () => {
    // Prepare
    const { rds, action } = setup();
    rds
      .on(DescribeDBClustersCommand)
      .rejects(new DBClusterNotFoundFault({ message: 'DBCluster shop-aurora not found.', $metadata: {} }));

    // Act
    const converging = action.converge(shopDb, { amount: 1, windowIds: ['w-a'] }, ctx);

    // Assess
    await assert.rejects(converging, (error) => {
      assert.ok(error instanceof CloudError);
      assert.match(error.message, /Aurora cluster shop-aurora not found in ap-northeast-2/);
      return true;
    });
    assert.equal(rds.commandCalls(CreateDBInstanceCommand).length, 0);
  });

  it('folds any window id into a valid RDS identifier of at most 63 characters', () => {
    // Act
    const ids = [
      readerIdentifier('W-A', 1),
      readerIdentifier('01JD7_Product #2', 3),
      readerIdentifier('x'.repeat(80), 12),
      readerIdentifier('--', 1),
    ];

    // Assess
    assert.deepEqual(ids.slice(0, 2), ['hot-w-a-1', 'hot-01jd7-product-2-3']);
    assert.equal(ids[2]!.length, 63);
    assert.ok(ids[2]!.endsWith('x-12'));
    assert.equal(ids[3], 'hot-window-1');
    for (const id of ids) assert.match(id, /^[a-z](?!.*--)[a-z0-9-]{0,62}$/);
  });
});

describe('AuroraReplicaAction: scale in', () => {
  it('deletes only the chronops readers the plan no longer needs, never the writer or a plain reader', async () => {
    // Prepare
    const { rds, action } = setup();
    given(rds, 'shop-aurora-1', [
      writer,
      plainReader,
      instance('hot-w-a-1', { managed: true, window: 'w-a' }),
      instance('hot-w-a-2', { managed: true, window: 'w-a' }),
    ]);
    rds.on(DeleteDBInstanceCommand).resolves({ $metadata: {} });

    // Act
    const outcome = await action.converge(shopDb, null, ctx);

    // Assess
    assert.deepEqual(
      inputs(rds.commandCalls(DeleteDBInstanceCommand)).sort((a, b) =>
        String(a.DBInstanceIdentifier).localeCompare(String(b.DBInstanceIdentifier)),
      ),
      [
        { DBInstanceIdentifier: 'hot-w-a-1', SkipFinalSnapshot: true },
        { DBInstanceIdentifier: 'hot-w-a-2', SkipFinalSnapshot: true },
      ],
    );
    assert.equal(outcome.from, '3 readers (2 chronops)');
    assert.equal(outcome.to, '1 reader (0 chronops)');
  });

  it('checks the writer and the tags again right before each delete', async () => {
    // Prepare
    const { rds, action } = setup();
    given(rds, 'shop-aurora-1', [writer, instance('hot-w-a-1', { managed: true, window: 'w-a' })]);
    rds.on(DeleteDBInstanceCommand).resolves({ $metadata: {} });

    // Act
    await action.converge(shopDb, null, ctx);

    // Assess: list, then (cluster, instance) again, then the delete
    assert.deepEqual(
      rds.calls().map((c) => {
        const command = c.args[0] as { constructor: { name: string }; input: object };
        return command.constructor.name;
      }),
      [
        'DescribeDBClustersCommand',
        'DescribeDBInstancesCommand',
        'DescribeDBClustersCommand',
        'DescribeDBInstancesCommand',
        'DeleteDBInstanceCommand',
      ],
    );
  });

  it('keeps the readers of an overlapping window: target 2 for window B while A made two readers', async () => {
    // Prepare
    const { rds, action } = setup();
    given(rds, 'shop-aurora-1', [
      writer,
      instance('hot-w-a-1', { managed: true, window: 'w-a' }),
      instance('hot-w-a-2', { managed: true, window: 'w-a' }),
    ]);

    // Act
    const outcome = await action.converge(shopDb, { amount: 2, windowIds: ['w-b'] }, ctx);

    // Assess
    assert.equal(rds.commandCalls(CreateDBInstanceCommand).length, 0);
    assert.equal(rds.commandCalls(DeleteDBInstanceCommand).length, 0);
    assert.equal(outcome.changed, false);
    assert.equal(outcome.to, '2 readers (2 chronops)');
  });

  it('removes first the readers of windows no longer planned, then the newest', async () => {
    // Prepare
    const { rds, action } = setup();
    given(rds, 'shop-aurora-1', [
      writer,
      instance('hot-w-b-1', { managed: true, window: 'w-b', createdAt: new Date('2026-01-03T00:00:00Z') }),
      instance('hot-w-a-1', { managed: true, window: 'w-a', createdAt: new Date('2026-01-01T00:00:00Z') }),
      instance('hot-w-b-2', { managed: true, window: 'w-b', createdAt: new Date('2026-01-04T00:00:00Z') }),
      instance('hot-w-b-3', { managed: true, window: 'w-b', createdAt: new Date('2026-01-02T00:00:00Z') }),
    ]);
    rds.on(DeleteDBInstanceCommand).resolves({ $metadata: {} });

    // Act
    const outcome = await action.converge(shopDb, { amount: 2, windowIds: ['w-b'] }, ctx);

    // Assess
    assert.deepEqual(
      inputs(rds.commandCalls(DeleteDBInstanceCommand)).map((i) => i.DBInstanceIdentifier),
      ['hot-w-a-1', 'hot-w-b-2'],
    );
    assert.deepEqual(outcome.details?.deleted, ['hot-w-a-1', 'hot-w-b-2']);
  });

  it('counts DBInstanceNotFoundFault on delete as success', async () => {
    // Prepare
    const { rds, action } = setup();
    given(rds, 'shop-aurora-1', [writer, instance('hot-w-a-1', { managed: true, window: 'w-a' })]);
    rds
      .on(DeleteDBInstanceCommand)
      .rejects(new DBInstanceNotFoundFault({ message: 'DBInstance hot-w-a-1 not found.', $metadata: {} }));

    // Act
    const outcome = await action.converge(shopDb, null, ctx);

    // Assess
    assert.deepEqual(outcome.details?.deleted, ['hot-w-a-1']);
    assert.equal(outcome.to, '0 readers (0 chronops)');
  });

  it('reports a delete RDS refuses as a CloudError after trying the others', async () => {
    // Prepare
    const { rds, action } = setup();
    given(rds, 'shop-aurora-1', [
      writer,
      instance('hot-w-a-1', { managed: true, window: 'w-a' }),
      instance('hot-w-a-2', { managed: true, window: 'w-a', status: 'modifying' }),
    ]);
    rds.on(DeleteDBInstanceCommand, { DBInstanceIdentifier: 'hot-w-a-1' }).resolves({ $metadata: {} });
    rds
      .on(DeleteDBInstanceCommand, { DBInstanceIdentifier: 'hot-w-a-2' })
      .rejects(new InvalidDBInstanceStateFault({ message: 'Instance is not available', $metadata: {} }));

    // Act
    const converging = action.converge(shopDb, null, ctx);

    // Assess
    await assert.rejects(converging, (error) => {
      assert.ok(error instanceof CloudError);
      assert.match(
        error.message,
        /could not delete 1 reader\(s\) \(deleted hot-w-a-1\): InvalidDBInstanceStateFault/,
      );
      return true;
    });
    assert.equal(rds.commandCalls(DeleteDBInstanceCommand).length, 2);
  });
});

describe('AuroraReplicaAction safety: it never deletes the writer or an instance it did not create', () => {
  it('ignores a writer that carries the managed tag and a hot- instance without it', async () => {
    // Prepare: someone copied chronops' tag onto the writer and named a hand-made reader hot-x
    const { rds, action } = setup();
    const taggedWriter = instance('hot-writer-1', { managed: true, window: 'w-a' });
    given(rds, 'hot-writer-1', [taggedWriter, instance('hot-x'), instance('hot-w-a-1', { window: 'w-a' })]);
    rds.on(DeleteDBInstanceCommand).resolves({ $metadata: {} });

    // Act
    const outcome = await action.converge(shopDb, null, ctx);

    // Assess
    assert.equal(rds.commandCalls(DeleteDBInstanceCommand).length, 0);
    assert.equal(outcome.changed, false);
    assert.equal(outcome.from, '2 readers (0 chronops)');
  });

  it('refuses loudly when a failover made a chronops reader the writer between listing and delete', async () => {
    // Prepare
    const { rds, action } = setup();
    const hot = instance('hot-w-a-1', { managed: true, window: 'w-a' });
    given(rds, 'shop-aurora-1', [writer, hot]);
    rds
      .on(DescribeDBClustersCommand)
      .resolvesOnce(clusterAnswer('shop-aurora-1', ['hot-w-a-1']))
      .resolves(clusterAnswer('hot-w-a-1', ['shop-aurora-1']));
    rds.on(DeleteDBInstanceCommand).resolves({ $metadata: {} });

    // Act
    const converging = action.converge(shopDb, null, ctx);

    // Assess
    await assert.rejects(converging, (error) => {
      assert.ok(error instanceof ForbiddenError);
      assert.match(
        error.message,
        /refusing to delete hot-w-a-1: it is the writer of Aurora cluster shop-aurora/,
      );
      return true;
    });
    assert.equal(rds.commandCalls(DeleteDBInstanceCommand).length, 0);
  });

  it('refuses loudly when the managed tag was removed between listing and delete', async () => {
    // Prepare
    const { rds, action } = setup();
    given(rds, 'shop-aurora-1', [writer, instance('hot-w-a-1', { managed: true, window: 'w-a' })]);
    rds
      .on(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'hot-w-a-1' })
      .resolves({ $metadata: {}, DBInstances: [instance('hot-w-a-1', { window: 'w-a' })] });
    rds.on(DeleteDBInstanceCommand).resolves({ $metadata: {} });

    // Act
    const converging = action.converge(shopDb, null, ctx);

    // Assess
    await assert.rejects(converging, ForbiddenError);
    assert.equal(rds.commandCalls(DeleteDBInstanceCommand).length, 0);
  });

  it('refuses an instance that turns out to live in another cluster', async () => {
    // Prepare
    const { rds, action } = setup();
    given(rds, 'shop-aurora-1', [writer, instance('hot-w-a-1', { managed: true, window: 'w-a' })]);
    rds.on(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'hot-w-a-1' }).resolves({
      $metadata: {},
      DBInstances: [instance('hot-w-a-1', { managed: true, window: 'w-a', cluster: 'billing-aurora' })],
    });

    // Act
    const converging = action.converge(shopDb, null, ctx);

    // Assess
    await assert.rejects(converging, /belongs to billing-aurora, not shop-aurora/);
    assert.equal(rds.commandCalls(DeleteDBInstanceCommand).length, 0);
  });
});

describe('AuroraReplicaAction in dry-run', () => {
  it('records the exact CreateDBInstance commands, sends none and follows no reader', async () => {
    // Prepare
    const { rds, action, recorded } = setup();
    given(rds, 'shop-aurora-1', [writer]);

    // Act
    const outcome = await action.converge(
      shopDb,
      { amount: 1, windowIds: ['w-a'] },
      { ...ctx, dryRun: true },
    );

    // Assess
    assert.equal(rds.commandCalls(CreateDBInstanceCommand).length, 0);
    assert.deepEqual(
      recorded.filter((c) => c.dryRun).map((c) => [c.command, c.input]),
      [
        [
          'CreateDBInstance',
          {
            DBInstanceIdentifier: 'hot-w-a-1',
            DBInstanceClass: 'db.r6g.large',
            Engine: 'aurora-mysql',
            DBClusterIdentifier: 'shop-aurora',
            PubliclyAccessible: false,
            PromotionTier: 15,
            Tags: [
              { Key: 'chronops:managed', Value: 'true' },
              { Key: 'chronops:window', Value: 'w-a' },
            ],
          },
        ],
      ],
    );
    assert.deepEqual(outcome.createdReaders, []);
    assert.deepEqual(outcome.details?.wouldCreate, ['hot-w-a-1']);
  });

  it('under the global dry-run records DeleteDBInstance and sends no mutation', async () => {
    // Prepare
    const { rds, action, recorded } = setup({ dryRun: true });
    given(rds, 'shop-aurora-1', [writer, instance('hot-w-a-1', { managed: true, window: 'w-a' })]);

    // Act
    const outcome = await action.converge(shopDb, null, ctx);

    // Assess
    assert.equal(rds.commandCalls(DeleteDBInstanceCommand).length, 0);
    assert.equal(rds.commandCalls(CreateDBInstanceCommand).length, 0);
    assert.deepEqual(
      recorded.filter((c) => c.dryRun).map((c) => [c.command, c.input]),
      [['DeleteDBInstance', { DBInstanceIdentifier: 'hot-w-a-1', SkipFinalSnapshot: true }]],
    );
    assert.deepEqual(outcome.details?.wouldDelete, ['hot-w-a-1']);
  });
});

describe('AuroraReplicaAction.readerState', () => {
  it('follows a reader that is creating for several polls, then available', async () => {
    // Prepare
    const { rds, action } = setup();
    rds
      .on(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'hot-w-a-1' })
      .resolvesOnce({
        $metadata: {},
        DBInstances: [instance('hot-w-a-1', { managed: true, status: 'creating' })],
      })
      .resolvesOnce({
        $metadata: {},
        DBInstances: [instance('hot-w-a-1', { managed: true, status: 'creating' })],
      })
      .resolvesOnce({
        $metadata: {},
        DBInstances: [instance('hot-w-a-1', { managed: true, status: 'configuring-enhanced-monitoring' })],
      })
      .resolves({
        $metadata: {},
        DBInstances: [instance('hot-w-a-1', { managed: true, status: 'available' })],
      });

    // Act
    const states = [];
    for (let poll = 0; poll < 10; poll++) {
      const state = await action.readerState(shopDb, 'hot-w-a-1', ctx);
      states.push(state);
      if (state !== 'creating') break;
    }

    // Assess
    assert.deepEqual(states, ['creating', 'creating', 'creating', 'available']);
    assert.deepEqual(inputs(rds.commandCalls(DescribeDBInstancesCommand)), [
      { DBInstanceIdentifier: 'hot-w-a-1' },
      { DBInstanceIdentifier: 'hot-w-a-1' },
      { DBInstanceIdentifier: 'hot-w-a-1' },
      { DBInstanceIdentifier: 'hot-w-a-1' },
    ]);
  });

  it('maps RDS statuses to creating, failed and gone', async () => {
    // Prepare
    const { rds, action } = setup();
    const statuses = [
      'backing-up',
      'modifying',
      'failed',
      'incompatible-parameters',
      'storage-full',
      'deleting',
    ];
    for (const status of statuses) {
      rds
        .on(DescribeDBInstancesCommand, { DBInstanceIdentifier: `hot-${status}` })
        .resolves({ $metadata: {}, DBInstances: [instance(`hot-${status}`, { managed: true, status })] });
    }
    rds
      .on(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'hot-missing' })
      .rejects(new DBInstanceNotFoundFault({ message: 'DBInstance hot-missing not found.', $metadata: {} }));

    // Act
    const states = [];
    for (const id of [...statuses.map((s) => `hot-${s}`), 'hot-missing']) {
      states.push(await action.readerState(shopDb, id, ctx));
    }

    // Assess
    assert.deepEqual(states, ['creating', 'creating', 'failed', 'failed', 'failed', 'gone', 'gone']);
  });
});
