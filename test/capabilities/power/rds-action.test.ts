import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DescribeDBClustersCommand,
  DescribeDBInstancesCommand,
  InvalidDBClusterStateFault,
  InvalidDBInstanceStateFault,
  RDSClient,
  StartDBClusterCommand,
  StartDBInstanceCommand,
  StopDBClusterCommand,
  StopDBInstanceCommand,
} from '@aws-sdk/client-rds';
import { mockClient } from 'aws-sdk-client-mock';
import { AwsGateway } from '../../../src/aws/gateway.ts';
import type { PowerContext } from '../../../src/capabilities/power/actions/port.ts';
import {
  AuroraClusterPowerAction,
  RdsInstancePowerAction,
} from '../../../src/capabilities/power/actions/rds.ts';
import type { AuroraPowerResource, RdsPowerResource } from '../../../src/capabilities/power/model.ts';

const REGION = 'ap-northeast-2';
const ctx: PowerContext = { executionId: 'exec-1', dryRun: false };

function db(id: string): RdsPowerResource {
  return { kind: 'rds', name: id, instanceId: id, region: REGION, schedule: 'office' };
}

function invalidParameterCombination(message: string): Error {
  const error = new Error(message);
  error.name = 'InvalidParameterCombination';
  Object.assign(error, { $fault: 'client', $metadata: { httpStatusCode: 400 } });
  return error;
}

interface FakeDb {
  status: string;
  /** Describes left before a `starting`/`stopping` status arrives. */
  polls: number;
  cluster?: string;
  engine: string;
}

/**
 * RDS as it behaves for start/stop: `starting` and `stopping` last several describes; a start or stop of an
 * instance that is not `stopped` / `available` is refused with InvalidDBInstanceStateFault; an Aurora member is
 * not eligible for stopping and starting (InvalidParameterCombination); AWS starts a stopped instance by itself
 * after 7 days.
 */
class FakeRds {
  readonly dbs = new Map<string, FakeDb>();
  readonly clusters = new Map<string, { status: string; polls: number }>();
  readonly settlePolls: number;
  constructor(settlePolls = 3) {
    this.settlePolls = settlePolls;
  }

  describe(ids: string[], maxRecords: number, marker?: string) {
    const matching = [...this.dbs.entries()].filter(([id]) => ids.includes(id));
    const start = marker ? Number(marker) : 0;
    const page = matching.slice(start, start + maxRecords);
    for (const [, d] of page) this.#advance(d);
    return {
      $metadata: {},
      DBInstances: page.map(([id, d]) => ({
        DBInstanceIdentifier: id,
        DBInstanceStatus: d.status,
        Engine: d.engine,
        ...(d.cluster ? { DBClusterIdentifier: d.cluster } : {}),
      })),
      ...(start + maxRecords < matching.length ? { Marker: String(start + maxRecords) } : {}),
    };
  }

  #advance(d: { status: string; polls: number }) {
    if (d.status !== 'starting' && d.status !== 'stopping') return;
    if (d.polls <= 0) d.status = d.status === 'starting' ? 'available' : 'stopped';
    else d.polls -= 1;
  }

  change(what: 'start' | 'stop', id: string) {
    const d = this.dbs.get(id);
    if (!d) throw new Error(`unknown ${id}`);
    if (d.cluster)
      throw invalidParameterCombination(
        `${d.engine} DB instances are not eligible for stopping and starting.`,
      );
    const from = what === 'start' ? 'stopped' : 'available';
    if (d.status !== from) {
      throw new InvalidDBInstanceStateFault({
        message: `Instance ${id} is not in ${what === 'start' ? 'stopped' : 'available'} state.`,
        $metadata: {},
      });
    }
    d.status = what === 'start' ? 'starting' : 'stopping';
    d.polls = this.settlePolls;
    return { $metadata: {}, DBInstance: { DBInstanceIdentifier: id, DBInstanceStatus: d.status } };
  }

  describeClusters(ids: string[]) {
    const list = [...this.clusters.entries()].filter(([id]) => ids.includes(id));
    for (const [, c] of list) this.#advance(c);
    return {
      $metadata: {},
      DBClusters: list.map(([id, c]) => ({ DBClusterIdentifier: id, Status: c.status })),
    };
  }

  changeCluster(what: 'start' | 'stop', id: string) {
    const c = this.clusters.get(id)!;
    const from = what === 'start' ? 'stopped' : 'available';
    if (c.status !== from) {
      throw new InvalidDBClusterStateFault({
        message: `DbCluster ${id} is in ${c.status} state.`,
        $metadata: {},
      });
    }
    c.status = what === 'start' ? 'starting' : 'stopping';
    c.polls = this.settlePolls;
    return { $metadata: {}, DBCluster: { DBClusterIdentifier: id, Status: c.status } };
  }
}

function setup(options: { dryRun?: boolean } = {}) {
  const gateway = new AwsGateway({
    dryRun: options.dryRun,
    sink: { record: () => {} },
    sleep: async () => {},
  });
  const mock = mockClient(gateway.client(RDSClient, REGION));
  const fake = new FakeRds();
  mock.on(DescribeDBInstancesCommand).callsFake((input) => {
    const ids = input.Filters?.find((f: { Name?: string }) => f.Name === 'db-instance-id')?.Values ?? [];
    return fake.describe(ids, input.MaxRecords ?? 100, input.Marker);
  });
  mock.on(StartDBInstanceCommand).callsFake((input) => fake.change('start', input.DBInstanceIdentifier));
  mock.on(StopDBInstanceCommand).callsFake((input) => fake.change('stop', input.DBInstanceIdentifier));
  mock
    .on(DescribeDBClustersCommand)
    .callsFake((input) =>
      fake.describeClusters(
        input.Filters?.find((f: { Name?: string }) => f.Name === 'db-cluster-id')?.Values ?? [],
      ),
    );
  mock.on(StartDBClusterCommand).callsFake((input) => fake.changeCluster('start', input.DBClusterIdentifier));
  mock.on(StopDBClusterCommand).callsFake((input) => fake.changeCluster('stop', input.DBClusterIdentifier));
  return {
    mock,
    fake,
    instances: new RdsInstancePowerAction({ gateway, retryAfterMs: 30_000 }),
    clusters: new AuroraClusterPowerAction({ gateway, retryAfterMs: 30_000 }),
  };
}

describe('RdsInstancePowerAction', () => {
  it('describes a hundred identifiers per call, page by page, and stops what is available', async () => {
    // Prepare: 150 instances, all available
    const { mock, fake, instances } = setup();
    const list = Array.from({ length: 150 }, (_, i) => db(`dev-db-${i + 1}`));
    for (const r of list) fake.dbs.set(r.instanceId, { status: 'available', polls: 0, engine: 'postgres' });

    // Act
    const outcomes = await instances.converge(
      list.map((resource) => ({ resource, want: 'stopped' as const })),
      ctx,
    );

    // Assess
    assert.deepEqual(
      mock
        .commandCalls(DescribeDBInstancesCommand)
        .map((c) => [
          c.args[0].input.Filters![0]!.Name,
          c.args[0].input.Filters![0]!.Values!.length,
          c.args[0].input.MaxRecords,
        ]),
      [
        ['db-instance-id', 100, 100],
        ['db-instance-id', 50, 100],
      ],
    );
    assert.equal(mock.commandCalls(StopDBInstanceCommand).length, 150);
    assert.deepEqual(mock.commandCalls(StopDBInstanceCommand)[0]!.args[0].input, {
      DBInstanceIdentifier: 'dev-db-1',
    });
    assert.ok(outcomes.every((o) => o.changed && o.to === 'stopping' && o.pending));
  });

  it('follows the Marker when a page is full', async () => {
    const { mock, fake, instances } = setup();
    fake.dbs.set('a', { status: 'stopped', polls: 0, engine: 'mysql' });
    fake.dbs.set('b', { status: 'stopped', polls: 0, engine: 'mysql' });
    mock.on(DescribeDBInstancesCommand).callsFake((input) => fake.describe(['a', 'b'], 1, input.Marker));
    const seen = await instances.observe([db('a'), db('b')], ctx);
    assert.deepEqual(
      mock.commandCalls(DescribeDBInstancesCommand).map((c) => c.args[0].input.Marker),
      [undefined, '1'],
    );
    assert.equal(seen.get('b')!.state, 'stopped');
  });

  it('a start asked while the instance is stopping waits, then starts it once it is stopped', async () => {
    const { mock, fake, instances } = setup();
    fake.dbs.set('dev-db', { status: 'stopping', polls: 2, engine: 'postgres' });
    const item = { resource: db('dev-db'), want: 'running' as const };
    for (let poll = 1; poll <= 2; poll++) {
      const [outcome] = await instances.converge([item], ctx);
      assert.deepEqual([outcome!.from, outcome!.retryAfterMs], ['stopping', 30_000], `poll ${poll}`);
    }
    assert.equal(mock.commandCalls(StartDBInstanceCommand).length, 0);
    const [started] = await instances.converge([item], ctx);
    assert.deepEqual([started!.from, started!.to, started!.changed], ['stopped', 'starting', true]);
  });

  it('InvalidDBInstanceState from RDS (a change began after the describe) is waited for, not failed', async () => {
    const { mock, fake, instances } = setup();
    fake.dbs.set('dev-db', { status: 'available', polls: 0, engine: 'postgres' });
    mock.on(DescribeDBInstancesCommand).callsFakeOnce((input) => {
      const answer = fake.describe(input.Filters![0]!.Values!, 100);
      fake.dbs.get('dev-db')!.status = 'backing-up';
      return answer;
    });
    const [outcome] = await instances.converge([{ resource: db('dev-db'), want: 'stopped' }], ctx);
    assert.equal(outcome!.error, undefined);
    assert.equal(outcome!.retryAfterMs, 30_000);
    assert.match(
      String(outcome!.details!.waiting),
      /InvalidDBInstanceStateFault: Instance dev-db is not in available state/,
    );
  });

  it('refuses to stop one member of an Aurora cluster without calling RDS, naming the cluster', async () => {
    const { mock, fake, instances } = setup();
    fake.dbs.set('shop-aurora-1', {
      status: 'available',
      polls: 0,
      engine: 'aurora-mysql',
      cluster: 'shop-aurora',
    });
    const [outcome] = await instances.converge([{ resource: db('shop-aurora-1'), want: 'stopped' }], ctx);
    assert.equal(mock.commandCalls(StopDBInstanceCommand).length, 0);
    assert.match(outcome!.error!, /RDS instance shop-aurora-1 is a member of Aurora cluster shop-aurora/);
    assert.match(outcome!.error!, /schedule the cluster \(resources\.aurora\) instead/);
  });

  it("reports AWS's refusal when RDS itself says the instance is not eligible", async () => {
    const { mock, fake, instances } = setup();
    fake.dbs.set('reader', { status: 'available', polls: 0, engine: 'aurora-postgresql' });
    mock
      .on(StopDBInstanceCommand)
      .rejects(
        invalidParameterCombination(
          'aurora-postgresql DB instances are not eligible for stopping and starting.',
        ),
      );
    const [outcome] = await instances.converge([{ resource: db('reader'), want: 'stopped' }], ctx);
    assert.equal(
      outcome!.error,
      'RDS instance reader cannot be stopped: InvalidParameterCombination: aurora-postgresql DB instances are not eligible for stopping and starting.',
    );
  });

  it('an instance AWS started again on day 7 is stopped again when asked', async () => {
    // Prepare: stopped by chronops; seven days later AWS starts it by itself
    const { mock, fake, instances } = setup();
    fake.dbs.set('dev-db', { status: 'available', polls: 0, engine: 'postgres' });
    await instances.converge([{ resource: db('dev-db'), want: 'stopped' }], ctx);
    for (let i = 0; i < 5; i++) await instances.observe([db('dev-db')], ctx);
    assert.equal(fake.dbs.get('dev-db')!.status, 'stopped');
    fake.dbs.get('dev-db')!.status = 'starting'; // day 7: RDS starts it
    fake.dbs.get('dev-db')!.polls = 1;

    // Act: while it is starting the stop waits; once available it is stopped again
    const [whileStarting] = await instances.converge([{ resource: db('dev-db'), want: 'stopped' }], ctx);
    const [again] = await instances.converge([{ resource: db('dev-db'), want: 'stopped' }], ctx);

    // Assess
    assert.equal(whileStarting!.retryAfterMs, 30_000);
    assert.deepEqual([again!.from, again!.to, again!.changed], ['available', 'stopping', true]);
    assert.equal(mock.commandCalls(StopDBInstanceCommand).length, 2);
  });

  it('an identifier RDS does not return is reported missing', async () => {
    const { instances } = setup();
    const [outcome] = await instances.converge([{ resource: db('ghost'), want: 'running' }], ctx);
    assert.equal(outcome!.error, 'RDS instance ghost: does not exist');
  });

  it('in dry-run only records the stop', async () => {
    const { mock, fake, instances } = setup({ dryRun: true });
    fake.dbs.set('dev-db', { status: 'available', polls: 0, engine: 'postgres' });
    const [outcome] = await instances.converge([{ resource: db('dev-db'), want: 'stopped' }], ctx);
    assert.equal(mock.commandCalls(StopDBInstanceCommand).length, 0);
    assert.equal(outcome!.to, 'stopped (dry-run)');
    assert.equal(fake.dbs.get('dev-db')!.status, 'available');
  });
});

describe('AuroraClusterPowerAction', () => {
  const cluster: AuroraPowerResource = {
    kind: 'aurora',
    name: 'shop-db',
    clusterId: 'shop-aurora',
    region: REGION,
    schedule: 'office',
  };

  it('stops and starts the cluster as a whole, waiting while it is changing', async () => {
    const { mock, fake, clusters } = setup();
    fake.clusters.set('shop-aurora', { status: 'available', polls: 0 });
    const [stopped] = await clusters.converge([{ resource: cluster, want: 'stopped' }], ctx);
    assert.deepEqual(
      mock.commandCalls(DescribeDBClustersCommand).map((c) => c.args[0].input),
      [{ Filters: [{ Name: 'db-cluster-id', Values: ['shop-aurora'] }], MaxRecords: 100 }],
    );
    assert.deepEqual(mock.commandCalls(StopDBClusterCommand)[0]!.args[0].input, {
      DBClusterIdentifier: 'shop-aurora',
    });
    assert.deepEqual([stopped!.from, stopped!.to], ['available', 'stopping']);

    // A start while `stopping`: waits, polls after polls, then starts.
    const [waiting] = await clusters.converge([{ resource: cluster, want: 'running' }], ctx);
    assert.equal(waiting!.retryAfterMs, 30_000);
    for (let i = 0; i < 3; i++) await clusters.observe([cluster], ctx);
    const [started] = await clusters.converge([{ resource: cluster, want: 'running' }], ctx);
    assert.deepEqual([started!.from, started!.to, started!.changed], ['stopped', 'starting', true]);
    assert.equal(mock.commandCalls(StartDBClusterCommand).length, 1);
  });

  it('InvalidDBClusterStateFault is waited for', async () => {
    const { mock, fake, clusters } = setup();
    fake.clusters.set('shop-aurora', { status: 'stopped', polls: 0 });
    mock.on(StartDBClusterCommand).rejects(
      new InvalidDBClusterStateFault({
        message: 'DbCluster shop-aurora is in stopping state.',
        $metadata: {},
      }),
    );
    const [outcome] = await clusters.converge([{ resource: cluster, want: 'running' }], ctx);
    assert.equal(outcome!.retryAfterMs, 30_000);
    assert.equal(outcome!.error, undefined);
  });
});
