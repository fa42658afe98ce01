// Office-hours power on the one timer loop, the same behaviour on embedded PGlite and on the PostgreSQL server:
// chronops runs in this process with a simulated AWS that really changes state (and takes time to).
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { SimulatorSpec } from '../../../src/aws/simulator.ts';
import type { PowerCapability } from '../../../src/capabilities/power/capability.ts';
import { WindowHoldsError } from '../../../src/capabilities/power/service.ts';
import { backends, eventually, isoIn, type Running, runChronops, testConfig } from '../../support/harness.ts';

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
/** A month six months from now: a period of that month does not run now (nor in the next weeks). */
const OTHER_MONTH = MONTHS[(new Date().getUTCMonth() + 6) % 12]!;

const SCHEDULES = {
  // Never runs in the coming months.
  never: { timezone: 'Asia/Seoul', periods: [{ months: OTHER_MONTH }] },
  'never-enforced': { timezone: 'Asia/Seoul', periods: [{ months: OTHER_MONTH }], enforced: true },
  // Runs every whole day.
  always: { timezone: 'Asia/Seoul', periods: [{ weekdays: 'mon-sun' }] },
};

function powerConfig() {
  return testConfig({
    schedules: SCHEDULES,
    resources: {
      ecs: [
        {
          name: 'web',
          cluster: 'shop',
          service: 'web',
          region: 'ap-northeast-2',
          maxTasks: 20,
          schedule: 'never',
        },
      ],
      aurora: [
        {
          name: 'shop-db',
          clusterId: 'shop-aurora',
          region: 'ap-northeast-2',
          instanceClass: 'db.r6g.large',
          maxExtraReplicas: 3,
          schedule: 'never',
        },
      ],
      ec2: [
        { name: 'batch-1', instanceId: 'i-00000000000000001', region: 'ap-northeast-2', schedule: 'never' },
        { name: 'batch-2', instanceId: 'i-00000000000000002', region: 'ap-northeast-2', schedule: 'never' },
        { name: 'batch-3', instanceId: 'i-00000000000000003', region: 'ap-northeast-2', schedule: 'never' },
      ],
      rds: [
        { name: 'reports', instanceId: 'reports-db', region: 'ap-northeast-2', schedule: 'always' },
        { name: 'legacy', instanceId: 'legacy-db', region: 'ap-northeast-2', schedule: 'never-enforced' },
      ],
    },
  });
}

function spec(): SimulatorSpec {
  const ec2 = { state: 'running' as const, startSeconds: 0.3, stopSeconds: 0.3 };
  return {
    ecs: { web: { cluster: 'shop', service: 'web', desiredCount: 2, scalableTarget: { min: 2, max: 10 } } },
    aurora: {
      'shop-aurora': {
        engine: 'aurora-mysql',
        writer: 'shop-aurora-1',
        readySeconds: 0.5,
        deleteSeconds: 0.3,
        startSeconds: 1,
        stopSeconds: 0.5,
      },
    },
    ec2: { 'i-00000000000000001': ec2, 'i-00000000000000002': ec2, 'i-00000000000000003': ec2 },
    rds: {
      'reports-db': { engine: 'postgres', status: 'stopped', startSeconds: 0.3, stopSeconds: 0.3 },
      'legacy-db': { engine: 'postgres', status: 'available', startSeconds: 0.3, stopSeconds: 0.3 },
    },
  };
}

// biome-ignore lint/suspicious/noExplicitAny: the simulator answers loosely typed JSON
type Loose = any;

async function ec2States(run: Running): Promise<Record<string, string>> {
  const out = (await run.simulator.send('EC2', 'DescribeInstances', {
    InstanceIds: ['i-00000000000000001', 'i-00000000000000002', 'i-00000000000000003'],
  })) as Loose;
  const states: Record<string, string> = {};
  for (const r of out.Reservations) for (const i of r.Instances) states[i.InstanceId] = i.State.Name;
  return states;
}

async function dbStatus(run: Running, id: string): Promise<string> {
  const out = (await run.simulator.send('RDS', 'DescribeDBInstances', { DBInstanceIdentifier: id })) as Loose;
  return out.DBInstances[0].DBInstanceStatus;
}

async function clusterStatus(run: Running): Promise<string> {
  const out = (await run.simulator.send('RDS', 'DescribeDBClusters', {
    DBClusterIdentifier: 'shop-aurora',
  })) as Loose;
  return out.DBClusters[0].Status;
}

async function service(run: Running): Promise<{ desired: number; min: number; max: number }> {
  const s = (await run.simulator.send('ECS', 'DescribeServices', {
    cluster: 'shop',
    services: ['web'],
  })) as Loose;
  const t = (await run.simulator.send('Application Auto Scaling', 'DescribeScalableTargets', {
    ServiceNamespace: 'ecs',
    ResourceIds: ['service/shop/web'],
    ScalableDimension: 'ecs:service:DesiredCount',
  })) as Loose;
  return {
    desired: s.services[0].desiredCount,
    min: t.ScalableTargets[0].MinCapacity,
    max: t.ScalableTargets[0].MaxCapacity,
  };
}

function power(run: Running): PowerCapability {
  return run.capabilities.power as PowerCapability;
}

function mutating(run: Running): Array<{ command: string; input: Loose }> {
  return run.calls
    .filter((c) => /^(Start|Stop|Update|Register|Create|Delete)/.test(c.command))
    .map((c) => ({ command: c.command, input: c.input as Loose }));
}

for (const backend of backends) {
  describe(`office-hours power: ${backend.name}`, () => {
    let run: Running | undefined;
    afterEach(async () => {
      await run?.stopAll();
      run = undefined;
    });

    it('brings every resource to its schedule at start, batched: one describe and one stop for three instances', async () => {
      // Prepare
      run = await runChronops(backend, { config: powerConfig(), spec: spec() });
      const r = run;
      // Assess: EC2 stopped, the RDS instance on `always` started, the enforced one stopped
      await eventually(
        async () => Object.values(await ec2States(r)).every((s) => s === 'stopped'),
        8000,
        'instances stopped',
      );
      await eventually(
        async () => (await dbStatus(r, 'reports-db')) === 'available',
        8000,
        'reports started',
      );
      await eventually(async () => (await dbStatus(r, 'legacy-db')) === 'stopped', 8000, 'legacy stopped');
      const stops = mutating(r).filter((c) => c.command === 'StopInstances');
      assert.equal(stops.length, 1, JSON.stringify(stops));
      assert.deepEqual([...stops[0]!.input.InstanceIds].sort(), [
        'i-00000000000000001',
        'i-00000000000000002',
        'i-00000000000000003',
      ]);
      const firstDescribe = r.calls.filter((c) => c.command === 'DescribeInstances');
      assert.ok(firstDescribe.length >= 1);
      assert.equal((firstDescribe[0]!.input as Loose).InstanceIds.length, 3, 'one describe for the three');
      // The ECS service is stopped the ECS way, its running values kept. Stopping is two calls (the scalable
      // target's min to 0, then the desired count to 0): wait for the second, not the first (on a loaded machine the
      // state between them was read here: desired 2).
      await eventually(
        async () => {
          const s = await service(r);
          return s.min === 0 && s.desired === 0;
        },
        8000,
        'ECS stopped',
      );
      assert.deepEqual(await service(r), { desired: 0, min: 0, max: 10 });
      assert.deepEqual(await power(r).store.values.get('web'), { desired: 2, min: 2, max: 10 });
    });

    it('force_start until the next change, then enforced and non-enforced schedules after a hand-made start', async () => {
      // Prepare
      run = await runChronops(backend, { config: powerConfig(), spec: spec() });
      const r = run;
      await eventually(async () => (await dbStatus(r, 'legacy-db')) === 'stopped', 8000, 'legacy stopped');
      await eventually(
        async () => Object.values(await ec2States(r)).every((s) => s === 'stopped'),
        8000,
        'instances stopped',
      );
      // Act: force_start `never`: its instances run (the schedule never changes: held until forced again)
      const forced = await power(r).service.force('never', 'running', 'tester');
      // Held until the schedule's next change (its month, half a year ahead)
      assert.ok(forced.force.until && forced.force.until.getTime() > Date.now() + 100 * 86_400_000);
      assert.deepEqual(forced.resources.sort(), ['batch-1', 'batch-2', 'batch-3', 'shop-db', 'web']);
      await eventually(
        async () => Object.values(await ec2States(r)).every((s) => s === 'running'),
        8000,
        'instances started',
      );
      await eventually(async () => (await service(r)).desired === 2, 8000, 'ECS started');
      assert.deepEqual(await service(r), { desired: 2, min: 2, max: 10 });
      // force_stop: back off, in one call again
      const before = mutating(r).filter((c) => c.command === 'StopInstances').length;
      await power(r).service.force('never', 'stopped', 'tester');
      await eventually(
        async () => Object.values(await ec2States(r)).every((s) => s === 'stopped'),
        8000,
        'instances stopped again',
      );
      assert.equal(mutating(r).filter((c) => c.command === 'StopInstances').length, before + 1);
      await eventually(
        async () => {
          const states = await power(r).store.states(['batch-1', 'batch-2', 'batch-3']);
          return [...states.values()].every((s) => s.settled && s.applied === 'stopped');
        },
        8000,
        'stops followed until they arrived',
      );
      // Every cloud call is in the audit
      const audit = await r.store.listAudit({ action: 'aws:EC2.StopInstances' });
      assert.ok(audit.length >= 1 && audit[0]!.executionId, JSON.stringify(audit[0]));

      // Act: someone starts the enforced RDS instance and an EC2 instance by hand (or AWS, after 7 days)
      await r.simulator.send('RDS', 'StartDBInstance', { DBInstanceIdentifier: 'legacy-db' });
      await r.simulator.send('EC2', 'StartInstances', { InstanceIds: ['i-00000000000000001'] });
      // Assess: the enforced schedule stops it again at its next check
      await eventually(
        async () => (await dbStatus(r, 'legacy-db')) === 'available',
        5000,
        'legacy up by hand',
      );
      await eventually(async () => (await dbStatus(r, 'legacy-db')) === 'stopped', 10_000, 'legacy enforced');
      // …while the instance of the schedule that is not enforced is left running
      assert.equal((await ec2States(r))['i-00000000000000001'], 'running');
      const actions = await power(r).store.actions({ resources: ['legacy'] });
      assert.ok(actions.some((a) => a.changed && a.want === 'stopped' && a.details?.check === 'enforced'));
    });

    it('a capacity window on a service office hours stopped: started with its kept values, raised, and stopped only after the scale-in', async () => {
      // Prepare: office hours have the service stopped (both of its calls made)
      run = await runChronops(backend, { config: powerConfig(), spec: spec() });
      const r = run;
      await eventually(
        async () => {
          const s = await service(r);
          return s.min === 0 && s.desired === 0;
        },
        8000,
        'ECS stopped',
      );
      // Act: a 3 a.m. sale
      const created = await r.app.request('/api/windows', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-chronops-actor': 'tester' },
        body: JSON.stringify({
          name: 'sale',
          ecs: [{ resource: 'web', amount: 12 }],
          timing: { mode: 'explicit', at: isoIn(1500), until: isoIn(4500) },
        }),
      });
      assert.equal(created.status, 201);
      const windowId = ((await created.json()) as Loose).window.id as string;
      // Assess: the window wins
      await eventually(async () => (await service(r)).min === 12, 8000, 'raised');
      // force_stop is refused while the window holds it, naming the window
      await assert.rejects(power(r).service.force('never', 'stopped', 'tester'), (error: unknown) => {
        assert.ok(error instanceof WindowHoldsError);
        assert.match(error.message, new RegExp(`sale \\(${windowId}\\)`));
        assert.match(error.message, /web/);
        return true;
      });
      // …and when the window ends, capacity restores the running values, then office hours stop it
      await eventually(async () => (await service(r)).min === 0 && (await service(r)).desired === 0, 10_000);
      // Kept: what it had when stopped — the scale-in left autoscaling's desired count at the new max
      assert.deepEqual(await power(r).store.values.get('web'), { desired: 10, min: 2, max: 10 });
      const ecsCalls = mutating(r)
        .filter((c) => c.command === 'RegisterScalableTarget' || c.command === 'UpdateService')
        .map((c) =>
          c.command === 'UpdateService'
            ? `desired ${c.input.desiredCount}`
            : `min ${c.input.MinCapacity} max ${c.input.MaxCapacity}`,
        );
      assert.deepEqual(ecsCalls, [
        'min 0 max 10', // office hours stop it
        'desired 0',
        'min 2 max 10', // the window: power starts it first with its kept values
        'desired 2',
        'min 12 max 12', // capacity raises it
        'min 2 max 10', // the window's end: capacity restores its baseline
        'min 0 max 10', // then office hours stop it
        'desired 0',
      ]);
    });

    it('a window that needs readers on an Aurora cluster office hours stopped: the cluster is started first', async () => {
      // Prepare
      run = await runChronops(backend, { config: powerConfig(), spec: spec() });
      const r = run;
      await eventually(async () => (await clusterStatus(r)) === 'stopped', 8000, 'cluster stopped');
      // Act
      const created = await r.app.request('/api/windows', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-chronops-actor': 'tester' },
        body: JSON.stringify({
          name: 'sale',
          aurora: [{ resource: 'shop-db', amount: 1 }],
          timing: { mode: 'explicit', at: isoIn(800), until: isoIn(6000) },
        }),
      });
      assert.equal(created.status, 201);
      // Assess: started, then the reader created once it is available; stopped after the window
      await eventually(
        async () => mutating(r).some((c) => c.command === 'CreateDBInstance'),
        10_000,
        'reader created',
      );
      const order = mutating(r)
        .map((c) => c.command)
        .filter((c) => c === 'StartDBCluster' || c === 'CreateDBInstance');
      assert.deepEqual(order, ['StartDBCluster', 'CreateDBInstance']);
      assert.equal(
        r.calls.filter((c) => c.command === 'CreateDBInstance' && !c.ok).length,
        0,
        'no reader asked of a cluster that is not available',
      );
      await eventually(
        async () => (await clusterStatus(r)) === 'stopped',
        15_000,
        'stopped after the window',
      );
    });
  });
}
