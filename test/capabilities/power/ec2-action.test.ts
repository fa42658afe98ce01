import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DescribeInstancesCommand,
  EC2Client,
  type InstanceStateName,
  StartInstancesCommand,
  StopInstancesCommand,
} from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { AwsGateway, type CloudCall } from '../../../src/aws/gateway.ts';
import { Ec2PowerAction } from '../../../src/capabilities/power/actions/ec2.ts';
import type { PowerContext } from '../../../src/capabilities/power/actions/port.ts';
import type { Ec2PowerResource } from '../../../src/capabilities/power/model.ts';

const REGION = 'ap-northeast-2';
const ctx: PowerContext = { executionId: 'exec-1', dryRun: false };

function instanceId(n: number): string {
  return `i-${n.toString(16).padStart(17, '0')}`;
}

function resource(n: number): Ec2PowerResource {
  return { kind: 'ec2', name: `box-${n}`, instanceId: instanceId(n), region: REGION, schedule: 'office' };
}

function ec2Error(name: string, message: string): Error {
  const error = new Error(message);
  error.name = name;
  Object.assign(error, { $fault: 'client', $metadata: { httpStatusCode: 400 } });
  return error;
}

/**
 * EC2 as it behaves: StartInstances moves a stopped instance to `pending`, StopInstances a running one to
 * `stopping`; an instance stays in such a state for `settlePolls` describes before it arrives. A start or stop of an
 * instance in the wrong state fails the whole call with IncorrectInstanceState; an unknown id fails a whole
 * describe with InvalidInstanceID.NotFound.
 */
class FakeEc2 {
  readonly states = new Map<string, { name: InstanceStateName; polls: number; hibernated?: boolean }>();
  readonly hibernationCapable = new Set<string>();
  readonly settlePolls: number;
  constructor(settlePolls = 2) {
    this.settlePolls = settlePolls;
  }

  set(id: string, name: InstanceStateName, polls = 0): void {
    this.states.set(id, { name, polls });
  }

  describe(ids: string[]) {
    const unknown = ids.filter((id) => !this.states.has(id));
    if (unknown.length > 0) {
      throw ec2Error(
        'InvalidInstanceID.NotFound',
        unknown.length === 1
          ? `The instance ID '${unknown[0]}' does not exist`
          : `The instance IDs '${unknown.join(', ')}' do not exist`,
      );
    }
    for (const id of ids) {
      const s = this.states.get(id)!;
      if (s.name === 'pending' || s.name === 'stopping') {
        if (s.polls <= 0) s.name = s.name === 'pending' ? 'running' : 'stopped';
        else s.polls -= 1;
      }
    }
    return {
      $metadata: {},
      Reservations: [
        { Instances: ids.map((id) => ({ InstanceId: id, State: { Name: this.states.get(id)!.name } })) },
      ],
    };
  }

  change(what: 'start' | 'stop', ids: string[], hibernate = false) {
    const from = what === 'start' ? 'stopped' : 'running';
    const wrong = ids.find(
      (id) =>
        this.states.get(id)?.name !== from &&
        this.states.get(id)?.name !== (what === 'start' ? 'running' : 'stopped'),
    );
    if (wrong) {
      throw ec2Error(
        'IncorrectInstanceState',
        `The instance '${wrong}' is not in a state from which it can be ${what === 'start' ? 'started' : 'stopped'}.`,
      );
    }
    if (hibernate) {
      const unable = ids.find((id) => !this.hibernationCapable.has(id));
      if (unable) {
        throw ec2Error(
          'UnsupportedHibernationConfiguration',
          `The instance ${unable} is not enabled for hibernation.`,
        );
      }
    }
    return ids.map((id) => {
      const s = this.states.get(id)!;
      const previous = s.name;
      if (previous === from) {
        s.name = what === 'start' ? 'pending' : 'stopping';
        s.polls = this.settlePolls;
        s.hibernated = hibernate;
      }
      return { InstanceId: id, PreviousState: { Name: previous }, CurrentState: { Name: s.name } };
    });
  }
}

function setup(options: { dryRun?: boolean; batchSize?: number; settlePolls?: number } = {}) {
  const recorded: CloudCall[] = [];
  const gateway = new AwsGateway({
    dryRun: options.dryRun,
    sink: { record: (call) => void recorded.push(call) },
    sleep: async () => {},
  });
  const mock = mockClient(gateway.client(EC2Client, REGION));
  const fake = new FakeEc2(options.settlePolls ?? 2);
  mock.on(DescribeInstancesCommand).callsFake((input) => fake.describe(input.InstanceIds ?? []));
  mock.on(StartInstancesCommand).callsFake((input) => ({
    $metadata: {},
    StartingInstances: fake.change('start', input.InstanceIds ?? []),
  }));
  mock.on(StopInstancesCommand).callsFake((input) => ({
    $metadata: {},
    StoppingInstances: fake.change('stop', input.InstanceIds ?? [], input.Hibernate === true),
  }));
  const action = new Ec2PowerAction({ gateway, retryAfterMs: 5000, batchSize: options.batchSize });
  return { gateway, mock, fake, action, recorded };
}

describe('Ec2PowerAction', () => {
  it('describes, starts and stops a hundred instances per call', async () => {
    // Prepare: 250 stopped instances to start, 30 running ones to stop
    const { mock, fake, action } = setup();
    const starting = Array.from({ length: 250 }, (_, i) => resource(i + 1));
    const stopping = Array.from({ length: 30 }, (_, i) => resource(i + 1001));
    for (const r of starting) fake.set(r.instanceId, 'stopped');
    for (const r of stopping) fake.set(r.instanceId, 'running');

    // Act
    const outcomes = await action.converge(
      [
        ...starting.map((resource) => ({ resource, want: 'running' as const })),
        ...stopping.map((resource) => ({ resource, want: 'stopped' as const })),
      ],
      ctx,
    );

    // Assess
    const describes = mock
      .commandCalls(DescribeInstancesCommand)
      .map((c) => c.args[0].input.InstanceIds!.length);
    assert.deepEqual(describes, [100, 100, 80]);
    const starts = mock.commandCalls(StartInstancesCommand).map((c) => c.args[0].input.InstanceIds!);
    assert.deepEqual(
      starts.map((ids) => ids.length),
      [100, 100, 50],
    );
    assert.deepEqual(
      starts.flat(),
      starting.map((r) => r.instanceId),
    );
    assert.deepEqual(
      mock.commandCalls(StopInstancesCommand).map((c) => c.args[0].input),
      [{ InstanceIds: stopping.map((r) => r.instanceId) }],
    );
    assert.equal(outcomes.length, 280);
    assert.deepEqual(outcomes[0], {
      resource: 'box-1',
      from: 'stopped',
      to: 'pending',
      changed: true,
      pending: true,
      details: { dryRun: false },
    });
    assert.equal(outcomes[279]!.to, 'stopping');
  });

  it('leaves alone what is already there or on its way, and says which ones are still arriving', async () => {
    const { mock, fake, action } = setup();
    fake.set(instanceId(1), 'running');
    fake.set(instanceId(2), 'pending', 5);
    fake.set(instanceId(3), 'stopped');
    const outcomes = await action.converge(
      [
        { resource: resource(1), want: 'running' },
        { resource: resource(2), want: 'running' },
        { resource: resource(3), want: 'stopped' },
      ],
      ctx,
    );
    assert.equal(mock.commandCalls(StartInstancesCommand).length, 0);
    assert.equal(mock.commandCalls(StopInstancesCommand).length, 0);
    assert.deepEqual(
      outcomes.map((o) => [o.from, o.changed, o.pending]),
      [
        ['running', false, false],
        ['pending', false, true],
        ['stopped', false, false],
      ],
    );
  });

  it('a start asked while the instance is stopping waits, polls after poll, then starts it', async () => {
    // Prepare: stopped a moment ago by someone; EC2 keeps it `stopping` for three more describes
    const { mock, fake, action } = setup({ settlePolls: 2 });
    fake.set(instanceId(7), 'stopping', 3);
    const item = { resource: resource(7), want: 'running' as const };

    // Act / Assess: each try looks, sees `stopping`, asks to be tried again later without calling StartInstances
    for (let poll = 1; poll <= 3; poll++) {
      const [outcome] = await action.converge([item], ctx);
      assert.equal(outcome!.from, 'stopping', `poll ${poll}`);
      assert.equal(outcome!.retryAfterMs, 5000);
      assert.match(String(outcome!.details!.waiting), /can be started once it is stopped/);
    }
    assert.equal(mock.commandCalls(StartInstancesCommand).length, 0);

    const [started] = await action.converge([item], ctx);
    assert.equal(started!.from, 'stopped');
    assert.equal(started!.to, 'pending');
    assert.equal(started!.pending, true);
    assert.equal(mock.commandCalls(StartInstancesCommand).length, 1);

    // `pending` for two describes, then `running`: converging again sends nothing.
    const [stillPending] = await action.converge([item], ctx);
    assert.deepEqual([stillPending!.from, stillPending!.pending], ['pending', true]);
    await action.observe([item.resource], ctx);
    const [arrived] = await action.converge([item], ctx);
    assert.deepEqual([arrived!.from, arrived!.changed, arrived!.pending], ['running', false, false]);
    assert.equal(mock.commandCalls(StartInstancesCommand).length, 1);
  });

  it('a stop asked while the instance is pending waits for it to be running', async () => {
    const { mock, fake, action } = setup();
    fake.set(instanceId(8), 'pending', 1);
    const [outcome] = await action.converge([{ resource: resource(8), want: 'stopped' }], ctx);
    assert.equal(outcome!.retryAfterMs, 5000);
    assert.equal(mock.commandCalls(StopInstancesCommand).length, 0);
  });

  it('when one instance changed state since the describe, the batch is split and only it waits', async () => {
    // Prepare: both look stopped, but by the time of the call one is `stopping` again (started and stopped by hand)
    const { mock, fake, action } = setup();
    fake.set(instanceId(1), 'stopped');
    fake.set(instanceId(2), 'stopped');
    mock.on(DescribeInstancesCommand).callsFakeOnce((input) => {
      const answer = fake.describe(input.InstanceIds ?? []);
      fake.set(instanceId(2), 'stopping', 4);
      return answer;
    });

    // Act
    const outcomes = await action.converge(
      [
        { resource: resource(1), want: 'running' },
        { resource: resource(2), want: 'running' },
      ],
      ctx,
    );

    // Assess
    assert.deepEqual(
      mock.commandCalls(StartInstancesCommand).map((c) => c.args[0].input.InstanceIds),
      [[instanceId(1), instanceId(2)], [instanceId(1)], [instanceId(2)]],
    );
    assert.deepEqual([outcomes[0]!.to, outcomes[0]!.changed], ['pending', true]);
    assert.equal(outcomes[1]!.changed, false);
    assert.equal(outcomes[1]!.retryAfterMs, 5000);
    assert.match(String(outcomes[1]!.details!.waiting), /IncorrectInstanceState/);
  });

  it('an id EC2 does not know is reported, and the others are still described and started', async () => {
    const { mock, fake, action } = setup();
    fake.set(instanceId(1), 'stopped');
    const outcomes = await action.converge(
      [
        { resource: resource(1), want: 'running' },
        { resource: resource(99), want: 'running' },
      ],
      ctx,
    );
    assert.deepEqual(
      mock.commandCalls(DescribeInstancesCommand).map((c) => c.args[0].input.InstanceIds),
      [[instanceId(1), instanceId(99)], [instanceId(1)]],
    );
    assert.equal(outcomes[0]!.changed, true);
    assert.equal(outcomes[1]!.error, `EC2 instance ${instanceId(99)}: does not exist`);
  });

  it('a terminated instance is an error, not something to start', async () => {
    const { mock, fake, action } = setup();
    fake.set(instanceId(3), 'terminated');
    const [outcome] = await action.converge([{ resource: resource(3), want: 'running' }], ctx);
    assert.equal(outcome!.error, `EC2 instance ${instanceId(3)}: terminated`);
    assert.equal(mock.commandCalls(StartInstancesCommand).length, 0);
  });

  it('hibernates where it can and stops the others the ordinary way', async () => {
    const { mock, fake, action } = setup();
    fake.set(instanceId(1), 'running');
    fake.set(instanceId(2), 'running');
    fake.hibernationCapable.add(instanceId(1));
    const outcomes = await action.converge(
      [
        { resource: resource(1), want: 'stopped', hibernate: true },
        { resource: resource(2), want: 'stopped', hibernate: true },
      ],
      ctx,
    );
    assert.deepEqual(
      mock.commandCalls(StopInstancesCommand).map((c) => c.args[0].input),
      [
        { InstanceIds: [instanceId(1), instanceId(2)], Hibernate: true },
        { InstanceIds: [instanceId(1)], Hibernate: true },
        { InstanceIds: [instanceId(2)], Hibernate: true },
        { InstanceIds: [instanceId(2)] },
      ],
    );
    assert.equal(fake.states.get(instanceId(1))!.hibernated, true);
    assert.equal(fake.states.get(instanceId(2))!.hibernated, false);
    assert.equal(outcomes[0]!.details!.hibernate, true);
    assert.match(String(outcomes[1]!.details!.hibernate), /not supported by this instance; stopped instead/);
  });

  it('in dry-run it describes but only records the start', async () => {
    const { mock, fake, action, recorded } = setup({ dryRun: true });
    fake.set(instanceId(1), 'stopped');
    const [outcome] = await action.converge([{ resource: resource(1), want: 'running' }], ctx);
    assert.equal(mock.commandCalls(StartInstancesCommand).length, 0);
    assert.equal(outcome!.to, 'running (dry-run)');
    assert.equal(outcome!.pending, false);
    assert.deepEqual(
      recorded.map((c) => [c.command, c.dryRun]),
      [
        ['DescribeInstances', false],
        ['StartInstances', true],
      ],
    );
    assert.deepEqual(recorded[1]!.input, { InstanceIds: [instanceId(1)] });
  });

  it('throttling is retried by the gateway, each attempt audited', async () => {
    const { mock, fake, action, recorded } = setup();
    fake.set(instanceId(1), 'running');
    mock
      .on(StopInstancesCommand)
      .rejectsOnce(ec2Error('RequestLimitExceeded', 'Request limit exceeded.'))
      .callsFake((input) => ({
        $metadata: {},
        StoppingInstances: fake.change('stop', input.InstanceIds ?? []),
      }));
    const [outcome] = await action.converge([{ resource: resource(1), want: 'stopped' }], ctx);
    assert.equal(outcome!.to, 'stopping');
    assert.deepEqual(
      recorded.filter((c) => c.command === 'StopInstances').map((c) => [c.ok, c.attempt]),
      [
        [false, 1],
        [true, 2],
      ],
    );
  });

  it('any other refusal of a batch is reported for each instance, without retrying each alone', async () => {
    const { mock, fake, action } = setup();
    fake.set(instanceId(1), 'running');
    fake.set(instanceId(2), 'running');
    mock.on(StopInstancesCommand).rejects(ec2Error('UnauthorizedOperation', 'You are not authorized.'));
    const outcomes = await action.converge(
      [
        { resource: resource(1), want: 'stopped' },
        { resource: resource(2), want: 'stopped' },
      ],
      ctx,
    );
    assert.equal(mock.commandCalls(StopInstancesCommand).length, 1);
    assert.match(outcomes[1]!.error!, /EC2 stop i-0+2: UnauthorizedOperation: You are not authorized/);
  });
});
