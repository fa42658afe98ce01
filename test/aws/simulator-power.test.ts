import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AwsGateway } from '../../src/aws/gateway.ts';
import { AwsSimulator } from '../../src/aws/simulator.ts';
import { Ec2PowerAction } from '../../src/capabilities/power/actions/ec2.ts';
import type { PowerContext } from '../../src/capabilities/power/actions/port.ts';
import {
  AuroraClusterPowerAction,
  RdsInstancePowerAction,
} from '../../src/capabilities/power/actions/rds.ts';
import type {
  AuroraPowerResource,
  Ec2PowerResource,
  RdsPowerResource,
} from '../../src/capabilities/power/model.ts';
import { ConfigError } from '../../src/kernel/errors.ts';

const ctx: PowerContext = { executionId: 'e', dryRun: false };
const REGION = 'ap-northeast-2';

function clock(start = '2026-11-23T09:00:00Z') {
  let now = new Date(start).getTime();
  return {
    now: () => new Date(now),
    advance: (seconds: number) => {
      now += seconds * 1000;
    },
  };
}

function setup() {
  const c = clock();
  const simulator = new AwsSimulator(
    {
      ec2: {
        'i-0000000000000000a': { state: 'running', hibernation: true },
        'i-0000000000000000b': { state: 'stopped' },
      },
      rds: { 'dev-db': { engine: 'postgres', status: 'available' } },
      aurora: {
        'shop-aurora': { engine: 'aurora-mysql', writer: 'shop-aurora-1', readers: ['shop-aurora-2'] },
      },
    },
    { now: c.now },
  );
  const gateway = new AwsGateway({ simulator, sink: { record: () => {} }, sleep: async () => {} });
  return {
    c,
    simulator,
    ec2: new Ec2PowerAction({ gateway }),
    rds: new RdsInstancePowerAction({ gateway }),
    aurora: new AuroraClusterPowerAction({ gateway }),
  };
}

const box = (id: string): Ec2PowerResource => ({
  kind: 'ec2',
  name: id,
  instanceId: id,
  region: REGION,
  schedule: 's',
});
const devDb: RdsPowerResource = {
  kind: 'rds',
  name: 'dev-db',
  instanceId: 'dev-db',
  region: REGION,
  schedule: 's',
};
const shopDb: AuroraPowerResource = {
  kind: 'aurora',
  name: 'shop-db',
  clusterId: 'shop-aurora',
  region: REGION,
  schedule: 's',
};

describe('AwsSimulator: power states', () => {
  it('EC2 instances are pending, then running; stopping, then stopped; a start while stopping is refused', async () => {
    const { c, ec2, simulator } = setup();
    const a = box('i-0000000000000000a');
    const b = box('i-0000000000000000b');
    const [stopA, startB] = await ec2.converge(
      [
        { resource: a, want: 'stopped', hibernate: true },
        { resource: b, want: 'running' },
      ],
      ctx,
    );
    assert.deepEqual([stopA!.from, stopA!.to], ['running', 'stopping']);
    assert.deepEqual([startB!.from, startB!.to], ['stopped', 'pending']);
    c.advance(20);
    assert.equal((await ec2.observe([a], ctx)).get(a.name)!.status, 'stopping');
    const [waiting] = await ec2.converge([{ resource: a, want: 'running' }], ctx);
    assert.ok(waiting!.retryAfterMs);
    await assert.rejects(simulator.send('EC2', 'StartInstances', { InstanceIds: [a.instanceId] }), {
      name: 'IncorrectInstanceState',
    });
    c.advance(30);
    const seen = await ec2.observe([a, b], ctx);
    assert.deepEqual([seen.get(a.name)!.status, seen.get(b.name)!.status], ['stopped', 'running']);
  });

  it('an RDS instance stops in minutes and AWS starts it again after 7 days', async () => {
    const { c, rds } = setup();
    await rds.converge([{ resource: devDb, want: 'stopped' }], ctx);
    c.advance(60);
    assert.equal((await rds.observe([devDb], ctx)).get('dev-db')!.status, 'stopping');
    c.advance(240);
    assert.equal((await rds.observe([devDb], ctx)).get('dev-db')!.status, 'stopped');
    c.advance(7 * 24 * 3600);
    assert.equal((await rds.observe([devDb], ctx)).get('dev-db')!.status, 'starting');
    c.advance(300);
    assert.equal((await rds.observe([devDb], ctx)).get('dev-db')!.status, 'available');
  });

  it('an Aurora cluster stops as a whole: members follow, readers cannot be added, a member cannot stop alone', async () => {
    const { c, aurora, rds, simulator } = setup();
    await aurora.converge([{ resource: shopDb, want: 'stopped' }], ctx);
    c.advance(300);
    assert.equal((await aurora.observe([shopDb], ctx)).get('shop-db')!.status, 'stopped');
    const members = (await simulator.send('RDS', 'DescribeDBInstances', {
      Filters: [{ Name: 'db-cluster-id', Values: ['shop-aurora'] }],
    })) as { DBInstances: { DBInstanceStatus: string }[] };
    assert.deepEqual(
      members.DBInstances.map((i) => i.DBInstanceStatus),
      ['stopped', 'stopped'],
    );
    await assert.rejects(
      simulator.send('RDS', 'CreateDBInstance', {
        DBInstanceIdentifier: 'hot-x-1',
        DBClusterIdentifier: 'shop-aurora',
        Engine: 'aurora-mysql',
        DBInstanceClass: 'db.r6g.large',
      }),
      { name: 'InvalidDBClusterStateFault' },
    );
    const member: RdsPowerResource = { ...devDb, name: 'writer', instanceId: 'shop-aurora-1' };
    const [refused] = await rds.converge([{ resource: member, want: 'running' }], ctx);
    assert.match(refused!.error!, /member of Aurora cluster shop-aurora/);
    await assert.rejects(
      simulator.send('RDS', 'StartDBInstance', { DBInstanceIdentifier: 'shop-aurora-1' }),
      {
        name: 'InvalidParameterCombination',
      },
    );
  });

  it('refuses a bad simulated EC2 id in the config', () => {
    assert.throws(
      () => new AwsSimulator({ ec2: { 'box-1': { state: 'running' } } } as never),
      (error: unknown) => error instanceof ConfigError && /aws\.simulate\.ec2\.box-1/.test(error.message),
    );
  });
});
