// The power timer handler with a controllable clock: transitions at a period's begin and end, retainRunning, an
// exception that moves a stop (the old row fires harmlessly), failures retried then given up. The handler is run
// directly (the loop's part is covered by the conformance suite); the database is PGlite, AWS the simulator on
// the same clock.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AwsGateway } from '../../../src/aws/gateway.ts';
import { AwsSimulator } from '../../../src/aws/simulator.ts';
import { Ec2PowerAction } from '../../../src/capabilities/power/actions/ec2.ts';
import { EcsPowerAction } from '../../../src/capabilities/power/actions/ecs.ts';
import {
  AuroraClusterPowerAction,
  RdsInstancePowerAction,
} from '../../../src/capabilities/power/actions/rds.ts';
import { parseSchedule } from '../../../src/capabilities/power/config.ts';
import { powerMigrations } from '../../../src/capabilities/power/migrations.ts';
import type { PowerResource } from '../../../src/capabilities/power/model.ts';
import { MAX_FAILURES, type PowerCheck, PowerService } from '../../../src/capabilities/power/service.ts';
import { PowerStore } from '../../../src/capabilities/power/store.ts';
import { createLogger } from '../../../src/kernel/logger.ts';
import { migrate } from '../../../src/store/migrations.ts';
import type { PgliteDb } from '../../../src/store/pglite-db.ts';
import { timersMigrations } from '../../../src/timers/migrations.ts';
import type { FiredTimer, TimerRunContext, TimerScheduler, TimerSpec } from '../../../src/timers/port.ts';
import { memoryPglite } from '../../support/pglite.ts';

const REGION = 'ap-northeast-2';
const I1 = 'i-00000000000000001';
const I2 = 'i-00000000000000002';
const I3 = 'i-00000000000000003';

function sorted(calls: Array<{ command: string; input: Record<string, unknown> }>) {
  return calls.map((c) => ({ ...c, input: { InstanceIds: [...(c.input.InstanceIds as string[])].sort() } }));
}

/** Records what the handler schedules; the test fires rows itself. */
class RecordingTimers implements TimerScheduler {
  pending = new Map<string, TimerSpec>();
  async schedule(specs: readonly TimerSpec[]) {
    for (const s of specs) this.pending.set(s.id ?? crypto.randomUUID(), s);
  }
  async cancel(selector: { ids?: readonly string[] }) {
    let n = 0;
    for (const id of selector.ids ?? []) if (this.pending.delete(id)) n++;
    return n;
  }
  noteDue() {}
  /** The pending row of a resource. */
  of(resource: string): TimerSpec & { id: string } {
    const found = [...this.pending.entries()].filter(
      ([, s]) => (s.payload as PowerCheck).resource === resource,
    );
    assert.equal(found.length, 1, `one pending row for ${resource}: ${found.length}`);
    return { ...found[0]![1], id: found[0]![0] };
  }
}

describe('power service (controlled clock)', () => {
  let db: PgliteDb;
  let now = new Date('2026-12-06T23:59:30Z'); // Monday 08:59:30 in Seoul
  const clock = () => now;
  const at = (iso: string) => {
    now = new Date(iso);
  };
  let simulator: AwsSimulator;
  let timers: RecordingTimers;
  let service: PowerService;
  let calls: Array<{ command: string; input: Record<string, unknown> }>;
  const resources: Record<string, PowerResource> = {
    plain: { kind: 'ec2', name: 'plain', instanceId: I1, region: REGION, schedule: 'office' },
    kept: { kind: 'ec2', name: 'kept', instanceId: I2, region: REGION, schedule: 'office-retain' },
    ghost: { kind: 'ec2', name: 'ghost', instanceId: I3, region: REGION, schedule: 'office' },
  };

  before(async () => {
    db = await memoryPglite();
    await migrate(db, 'chronops', [timersMigrations, powerMigrations]);
  });
  after(async () => {
    await db.close();
  });

  async function fresh(withGhost = false) {
    await db.query('TRUNCATE chronops.power_state, chronops.power_actions, chronops.power_exceptions');
    const ec2 = { startSeconds: 10, stopSeconds: 10 };
    simulator = new AwsSimulator(
      { ec2: { [I1]: { state: 'running', ...ec2 }, [I2]: { state: 'stopped', ...ec2 } } },
      { now: clock },
    );
    calls = [];
    const gateway = new AwsGateway({
      dryRun: false,
      simulator,
      sink: {
        record: async (call) => {
          if (!/^Describe/.test(call.command))
            calls.push({ command: call.command, input: call.input as never });
        },
      },
    });
    timers = new RecordingTimers();
    const store = new PowerStore(db, 'chronops');
    const office = {
      timezone: 'Asia/Seoul',
      periods: [{ begintime: '09:00', endtime: '18:00', weekdays: 'mon-fri' }],
    };
    service = new PowerService({
      config: {
        schedules: {
          office: parseSchedule('office', office),
          'office-retain': parseSchedule('office-retain', { ...office, retainRunning: true }),
        },
        resources: withGhost ? resources : { plain: resources.plain!, kept: resources.kept! },
      },
      store,
      timers,
      actions: {
        ec2: new Ec2PowerAction({ gateway, retryAfterMs: 5000 }),
        rds: new RdsInstancePowerAction({ gateway }),
        aurora: new AuroraClusterPowerAction({ gateway }),
        ecs: new EcsPowerAction({ gateway, values: store.values }),
      },
      dryRun: false,
      logger: createLogger({ level: 'silent' }),
      now: clock,
      followMs: 20_000,
    });
  }

  /** Fires the pending rows of these resources that are due now, as the loop would (one run for the key). */
  async function fire(...names: string[]) {
    const due = [...timers.pending.entries()].filter(
      ([, s]) => names.includes((s.payload as PowerCheck).resource) && s.dueAt <= now,
    );
    for (const [id] of due) timers.pending.delete(id);
    const fired: FiredTimer<PowerCheck>[] = due.map(([id, s]) => ({
      id,
      kind: s.kind,
      key: s.key,
      dueAt: s.dueAt,
      firedAt: now,
      payload: s.payload as PowerCheck,
      dedupe: null,
    }));
    const ctx = { key: `ec2:${REGION}`, settle: async () => {} } as unknown as TimerRunContext;
    await service.run(fired, ctx);
    return fired.length;
  }

  async function ec2(id: string): Promise<string> {
    // biome-ignore lint/suspicious/noExplicitAny: the simulator answers loosely typed JSON
    const out = (await simulator.send('EC2', 'DescribeInstances', { InstanceIds: [id] })) as any;
    return out.Reservations[0].Instances[0].State.Name;
  }

  it('stops at first sight before office hours, starts at 09:00, follows the start, stops at 18:00', async () => {
    // Prepare
    await fresh();
    at('2026-12-06T23:59:30Z');
    await service.ensureScheduled();
    // Act: first sight, 08:59:30 — outside office hours
    assert.equal(await fire('plain', 'kept'), 2);
    // Assess
    assert.deepEqual(calls, [{ command: 'StopInstances', input: { InstanceIds: [I1] } }]);
    // the next look is the follow of the stop (20 s), then 09:00
    assert.equal(timers.of('plain').dueAt.toISOString(), '2026-12-06T23:59:50.000Z');
    assert.equal(timers.of('kept').dueAt.toISOString(), '2026-12-07T00:00:00.000Z');
    at('2026-12-06T23:59:50Z');
    await fire('plain');
    assert.equal(await ec2(I1), 'stopped');
    assert.equal(timers.of('plain').dueAt.toISOString(), '2026-12-07T00:00:00.000Z');

    // Act: 09:00 — both start, in one call
    at('2026-12-07T00:00:00Z');
    calls = [];
    await fire('plain', 'kept');
    assert.deepEqual(sorted(calls), [{ command: 'StartInstances', input: { InstanceIds: [I1, I2] } }]);
    at('2026-12-07T00:00:20Z');
    await fire('plain', 'kept');
    assert.equal(await ec2(I1), 'running');
    assert.equal(timers.of('plain').dueAt.toISOString(), '2026-12-07T09:00:00.000Z', 'next: 18:00 KST');

    // Act: 18:00 — both stop (kept was not running before 09:00: nothing to retain)
    at('2026-12-07T09:00:00Z');
    calls = [];
    await fire('plain', 'kept');
    assert.deepEqual(sorted(calls), [{ command: 'StopInstances', input: { InstanceIds: [I1, I2] } }]);
    const states = await service.store.states(['plain']);
    assert.equal(states.get('plain')?.applied, 'stopped');
    assert.equal(states.get('plain')?.appliedReason, 'schedule');
  });

  it('retainRunning: an instance started by hand before 09:00 is not stopped at 18:00; the other one is', async () => {
    // Prepare: both stopped by office hours on Sunday night
    await fresh();
    at('2026-12-06T14:00:00Z'); // Sunday 23:00 KST
    await service.ensureScheduled();
    await fire('plain', 'kept');
    at('2026-12-06T14:00:20Z');
    await fire('plain', 'kept');
    // someone starts `kept` at 08:30 on Monday
    at('2026-12-06T23:30:00Z');
    await simulator.send('EC2', 'StartInstances', { InstanceIds: [I2] });
    at('2026-12-06T23:40:00Z');
    assert.equal(await ec2(I2), 'running');
    // Act: 09:00 and 18:00
    at('2026-12-07T00:00:00Z');
    calls = [];
    await fire('plain', 'kept');
    assert.deepEqual(calls, [{ command: 'StartInstances', input: { InstanceIds: [I1] } }]);
    at('2026-12-07T00:00:20Z');
    await fire('plain');
    at('2026-12-07T09:00:00Z');
    calls = [];
    await fire('plain', 'kept');
    // Assess
    assert.deepEqual(calls, [{ command: 'StopInstances', input: { InstanceIds: [I1] } }]);
    assert.equal(await ec2(I2), 'running');
    const [left] = await service.store.actions({ resources: ['kept'], limit: 1 });
    assert.match(String(left?.details?.left), /retainRunning/);
  });

  it('an exception moves the stop to 20:00: its row moves, and the day runs until then', async () => {
    // Prepare: running in office hours
    await fresh();
    at('2026-12-07T01:00:00Z'); // Monday 10:00 KST
    await service.ensureScheduled();
    await fire('plain', 'kept');
    at('2026-12-07T01:00:20Z');
    await fire('plain', 'kept');
    assert.equal(timers.of('plain').dueAt.toISOString(), '2026-12-07T09:00:00.000Z');
    // Act
    await service.setException('office', '2026-12-07', 'stop', 20 * 60, 'tester');
    await fire('plain'); // the look the change asked for
    // Assess: the old 18:00 row was cancelled, the next is 20:00 KST
    assert.equal(timers.of('plain').dueAt.toISOString(), '2026-12-07T11:00:00.000Z');
    at('2026-12-07T09:00:00Z');
    calls = [];
    assert.equal(await fire('plain'), 0, 'nothing due at 18:00 any more');
    at('2026-12-07T11:00:00Z');
    await fire('plain');
    assert.deepEqual(calls, [{ command: 'StopInstances', input: { InstanceIds: [I1] } }]);
    const info = await service.info('office', '2026-12-07');
    assert.deepEqual(info.periods, [{ from: '09:00', until: '18:00' }]);
    assert.deepEqual(info.exception, { date: '2026-12-07', stop: 1200 });
    assert.equal(info.running[0]?.until.toISOString(), '2026-12-07T11:00:00.000Z');
    // …and deleting it brings 18:00 back for that day
    assert.equal(await service.deleteException('office', '2026-12-07', 'stop'), true);
    assert.equal(await service.deleteException('office', '2026-12-07', 'stop'), false);
  });

  it('an instance that does not exist: retried with backoff, then given up until the next change, error kept', async () => {
    // Prepare
    await fresh(true);
    at('2026-12-07T01:00:00Z');
    await service.ensureScheduled();
    // Act: the ghost fails each time
    for (let attempt = 1; attempt <= MAX_FAILURES; attempt++) {
      now = timers.of('ghost').dueAt > now ? timers.of('ghost').dueAt : now;
      await fire('ghost');
      const st = (await service.store.states(['ghost'])).get('ghost')!;
      assert.match(String(st.lastError), /does not exist/);
      if (attempt < MAX_FAILURES) {
        assert.equal(st.failures, attempt);
        assert.equal(timers.of('ghost').dueAt.getTime() - now.getTime(), 15_000 * 2 ** (attempt - 1));
      } else {
        // Assess: given up; next look at 18:00
        assert.equal(st.applied, 'running');
        assert.equal(timers.of('ghost').dueAt.toISOString(), '2026-12-07T09:00:00.000Z');
      }
    }
  });
});
