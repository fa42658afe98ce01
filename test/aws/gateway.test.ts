import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import {
  ApplicationAutoScalingClient,
  DescribeScalableTargetsCommand,
} from '@aws-sdk/client-application-auto-scaling';
import { DescribeServicesCommand, ECSClient, UpdateServiceCommand } from '@aws-sdk/client-ecs';
import { CreateDBInstanceCommand, DBInstanceAlreadyExistsFault, RDSClient } from '@aws-sdk/client-rds';
import { mockClient } from 'aws-sdk-client-mock';
import type { CloudCall } from '../../src/aws/gateway.ts';
import { AwsGateway, isThrottling, redact } from '../../src/aws/gateway.ts';
import { AwsSimulator } from '../../src/aws/simulator.ts';

function setup(options: { dryRun?: boolean; maxAttempts?: number; simulator?: AwsSimulator } = {}) {
  const recorded: { call: CloudCall; executionId?: string }[] = [];
  const sleeps: number[] = [];
  const gateway = new AwsGateway({
    ...options,
    sink: { record: (call, executionId) => void recorded.push({ call, executionId }) },
    sleep: async (ms) => void sleeps.push(ms),
    random: () => 0.5,
    baseDelayMs: 100,
  });
  return { gateway, recorded, sleeps };
}

function throttle(name = 'ThrottlingException'): Error {
  return Object.assign(new Error('Rate exceeded'), {
    name,
    $metadata: { httpStatusCode: 400, requestId: 'req-t' },
  });
}

describe('AwsGateway', () => {
  it('sends a command and records the call with service, command, input, request id and attempt', async () => {
    // Prepare
    const { gateway, recorded } = setup();
    const ecs = mockClient(gateway.client(ECSClient, 'eu-west-1'));
    ecs
      .on(UpdateServiceCommand)
      .resolves({ $metadata: { requestId: 'req-1' }, service: { desiredCount: 12 } });

    // Act
    const output = await gateway.send(
      gateway.client(ECSClient, 'eu-west-1'),
      new UpdateServiceCommand({ cluster: 'shop', service: 'web', desiredCount: 12 }),
      { mutating: true, dryRun: false, executionId: 'exec-1' },
    );

    // Assess
    assert.equal(output.service?.desiredCount, 12);
    assert.deepEqual(
      ecs.commandCalls(UpdateServiceCommand).map((c) => c.args[0].input),
      [{ cluster: 'shop', service: 'web', desiredCount: 12 }],
    );
    assert.equal(recorded.length, 1);
    const { call, executionId } = recorded[0]!;
    assert.equal(executionId, 'exec-1');
    assert.equal(call.service, 'ECS');
    assert.equal(call.command, 'UpdateService');
    assert.deepEqual(call.input, { cluster: 'shop', service: 'web', desiredCount: 12 });
    assert.equal(call.requestId, 'req-1');
    assert.equal(call.ok, true);
    assert.equal(call.dryRun, false);
    assert.equal(call.attempt, 1);
    assert.ok(call.durationMs >= 0);
    assert.ok(call.at instanceof Date);
  });

  it('names the service from the client config', async () => {
    // Prepare
    const { gateway, recorded } = setup();
    const aas = mockClient(gateway.client(ApplicationAutoScalingClient, 'eu-west-1'));
    aas.on(DescribeScalableTargetsCommand).resolves({ $metadata: {}, ScalableTargets: [] });

    // Act
    await gateway.send(
      gateway.client(ApplicationAutoScalingClient, 'eu-west-1'),
      new DescribeScalableTargetsCommand({ ServiceNamespace: 'ecs' }),
      { mutating: false, dryRun: false },
    );

    // Assess
    assert.equal(recorded[0]?.call.service, 'Application Auto Scaling');
    assert.equal(recorded[0]?.call.command, 'DescribeScalableTargets');
  });

  it('a rehearsal sends reads through the same clients and only records mutating calls, in its own sink', async () => {
    // Prepare
    const { gateway, recorded } = setup();
    const ecs = mockClient(gateway.client(ECSClient, 'eu-west-1'));
    ecs
      .on(DescribeServicesCommand)
      .resolves({ $metadata: {}, services: [{ serviceName: 'web', desiredCount: 2 }] });
    const rehearsed: CloudCall[] = [];
    const rehearsal = gateway.rehearsal({ record: (call) => void rehearsed.push(call) });

    // Act
    const read = await rehearsal.send(
      rehearsal.client(ECSClient, 'eu-west-1'),
      new DescribeServicesCommand({ cluster: 'shop', services: ['web'] }),
      { mutating: false, dryRun: false },
    );
    await rehearsal.send(
      rehearsal.client(ECSClient, 'eu-west-1'),
      new UpdateServiceCommand({ cluster: 'shop', service: 'web', desiredCount: 12 }),
      { mutating: true, dryRun: false },
    );

    // Assess
    assert.equal(read.services?.[0]?.desiredCount, 2);
    assert.equal(ecs.commandCalls(UpdateServiceCommand).length, 0);
    assert.deepEqual(
      rehearsed.map((c) => [c.command, c.dryRun]),
      [
        ['DescribeServices', false],
        ['UpdateService', true],
      ],
    );
    assert.equal(rehearsal.dryRun, true);
    assert.equal(gateway.dryRun, false);
    assert.deepEqual(recorded, []);
  });

  it('in global dry-run records a mutating command with its exact input and sends nothing', async () => {
    // Prepare
    const { gateway, recorded } = setup({ dryRun: true });
    const ecs = mockClient(gateway.client(ECSClient, 'eu-west-1'));

    // Act
    const output = await gateway.send(
      gateway.client(ECSClient, 'eu-west-1'),
      new UpdateServiceCommand({ cluster: 'shop', service: 'web', desiredCount: 12 }),
      { mutating: true, dryRun: false, executionId: 'exec-2' },
    );

    // Assess
    assert.deepEqual(output, { $metadata: {} });
    assert.equal(ecs.calls().length, 0);
    assert.equal(recorded.length, 1);
    assert.deepEqual(
      { ...recorded[0]!.call, at: undefined },
      {
        service: 'ECS',
        command: 'UpdateService',
        input: { cluster: 'shop', service: 'web', desiredCount: 12 },
        dryRun: true,
        ok: true,
        durationMs: 0,
        attempt: 1,
        at: undefined,
      },
    );
    assert.equal(recorded[0]!.executionId, 'exec-2');
  });

  it('names the command from the SDK operation schema when a bundler renamed the class', async () => {
    // Prepare
    const { gateway, recorded } = setup({ dryRun: true });
    const Minified = class extends UpdateServiceCommand {};
    Object.defineProperty(Minified, 'name', { value: 'e' });

    // Act
    await gateway.send(
      gateway.client(ECSClient, 'eu-west-1'),
      new Minified({ service: 'web', desiredCount: 1 }),
      {
        mutating: true,
        dryRun: false,
      },
    );

    // Assess
    assert.equal(recorded[0]?.call.command, 'UpdateService');
  });

  it('in per-call dry-run still sends reads, withholds writes', async () => {
    // Prepare
    const { gateway, recorded } = setup();
    const ecs = mockClient(gateway.client(ECSClient, 'eu-west-1'));
    ecs
      .on(DescribeServicesCommand)
      .resolves({ $metadata: {}, services: [{ serviceName: 'web', desiredCount: 2 }] });
    const client = gateway.client(ECSClient, 'eu-west-1');

    // Act
    const read = await gateway.send(
      client,
      new DescribeServicesCommand({ cluster: 'shop', services: ['web'] }),
      {
        mutating: false,
        dryRun: true,
      },
    );
    await gateway.send(
      client,
      new UpdateServiceCommand({ cluster: 'shop', service: 'web', desiredCount: 5 }),
      {
        mutating: true,
        dryRun: true,
      },
    );

    // Assess
    assert.equal(read.services?.[0]?.desiredCount, 2);
    assert.equal(ecs.commandCalls(DescribeServicesCommand).length, 1);
    assert.equal(ecs.commandCalls(UpdateServiceCommand).length, 0);
    assert.deepEqual(
      recorded.map((r) => [r.call.command, r.call.dryRun]),
      [
        ['DescribeServices', false],
        ['UpdateService', true],
      ],
    );
  });

  it('retries throttling with growing backoff, recording every attempt, then succeeds', async () => {
    // Prepare
    const { gateway, recorded, sleeps } = setup();
    const rds = mockClient(gateway.client(RDSClient, 'eu-west-1'));
    rds
      .on(CreateDBInstanceCommand)
      .rejectsOnce(throttle('Throttling'))
      .rejectsOnce(throttle('ThrottlingException'))
      .resolves({ $metadata: { requestId: 'req-ok' }, DBInstance: { DBInstanceIdentifier: 'hot-w-1' } });

    // Act
    const output = await gateway.send(
      gateway.client(RDSClient, 'eu-west-1'),
      new CreateDBInstanceCommand({
        DBInstanceIdentifier: 'hot-w-1',
        DBInstanceClass: 'db.r6g.large',
        Engine: 'x',
      }),
      { mutating: true, dryRun: false },
    );

    // Assess
    assert.equal(output.DBInstance?.DBInstanceIdentifier, 'hot-w-1');
    assert.equal(rds.commandCalls(CreateDBInstanceCommand).length, 3);
    assert.deepEqual(
      recorded.map((r) => [r.call.attempt, r.call.ok, r.call.error ?? null, r.call.requestId]),
      [
        [1, false, 'Throttling: Rate exceeded', 'req-t'],
        [2, false, 'ThrottlingException: Rate exceeded', 'req-t'],
        [3, true, null, 'req-ok'],
      ],
    );
    // Equal jitter with random() = 0.5: three quarters of 100, then of 200.
    assert.deepEqual(sleeps, [75, 150]);
  });

  it('gives up after maxAttempts and rethrows the last throttling error', async () => {
    // Prepare
    const { gateway, recorded, sleeps } = setup({ maxAttempts: 3 });
    const ecs = mockClient(gateway.client(ECSClient, 'eu-west-1'));
    ecs.on(UpdateServiceCommand).rejects(throttle());

    // Act
    const sending = gateway.send(
      gateway.client(ECSClient, 'eu-west-1'),
      new UpdateServiceCommand({ cluster: 'shop', service: 'web', desiredCount: 3 }),
      { mutating: true, dryRun: false },
    );

    // Assess
    await assert.rejects(sending, { name: 'ThrottlingException' });
    assert.equal(ecs.commandCalls(UpdateServiceCommand).length, 3);
    assert.deepEqual(
      recorded.map((r) => r.call.attempt),
      [1, 2, 3],
    );
    assert.equal(sleeps.length, 2);
  });

  it('recognises throttling by code, by $retryable.throttling and by HTTP 429', () => {
    // Prepare
    const retryable = Object.assign(new Error('slow down'), {
      name: 'Whatever',
      $retryable: { throttling: true },
    });
    const tooMany = Object.assign(new Error('429'), { name: 'Unknown', $metadata: { httpStatusCode: 429 } });

    // Act
    const verdicts = [
      isThrottling(throttle('RequestLimitExceeded')),
      isThrottling(throttle('TooManyRequestsException')),
      isThrottling(retryable),
      isThrottling(tooMany),
      isThrottling(new Error('boom')),
      isThrottling(throttle('LimitExceededException')),
    ];

    // Assess
    assert.deepEqual(verdicts, [true, true, true, true, false, false]);
  });

  it('rethrows any other error unchanged after recording it once, without retrying', async () => {
    // Prepare
    const { gateway, recorded, sleeps } = setup();
    const rds = mockClient(gateway.client(RDSClient, 'eu-west-1'));
    const fault = new DBInstanceAlreadyExistsFault({ message: 'DB instance already exists', $metadata: {} });
    rds.on(CreateDBInstanceCommand).rejects(fault);

    // Act
    const sending = gateway.send(
      gateway.client(RDSClient, 'eu-west-1'),
      new CreateDBInstanceCommand({
        DBInstanceIdentifier: 'hot-w-1',
        DBInstanceClass: 'db.r6g.large',
        Engine: 'x',
      }),
      { mutating: true, dryRun: false },
    );

    // Assess
    await assert.rejects(sending, (error) => error === fault);
    assert.equal(rds.commandCalls(CreateDBInstanceCommand).length, 1);
    assert.equal(recorded.length, 1);
    assert.equal(recorded[0]!.call.ok, false);
    assert.equal(recorded[0]!.call.error, 'DBInstanceAlreadyExistsFault: DB instance already exists');
    assert.deepEqual(sleeps, []);
  });

  it('redacts secret-looking keys in recorded inputs, at any depth, but sends the real input', async () => {
    // Prepare
    const { gateway, recorded } = setup();
    const rds = mockClient(gateway.client(RDSClient, 'eu-west-1'));
    rds.on(CreateDBInstanceCommand).resolves({ $metadata: {} });
    const input = {
      DBInstanceIdentifier: 'db-1',
      DBInstanceClass: 'db.t4g.micro',
      Engine: 'postgres',
      MasterUserPassword: 'hunter2',
      Tags: [{ Key: 'owner', Value: 'ops' }],
    };

    // Act
    await gateway.send(gateway.client(RDSClient, 'eu-west-1'), new CreateDBInstanceCommand(input), {
      mutating: true,
      dryRun: false,
    });
    const nested = redact({ a: [{ SessionToken: 't', ok: 1 }], Credentials: { x: 1 }, clientSecret: 's' });

    // Assess
    assert.equal(rds.commandCalls(CreateDBInstanceCommand)[0]?.args[0].input.MasterUserPassword, 'hunter2');
    assert.deepEqual(recorded[0]!.call.input, { ...input, MasterUserPassword: '[redacted]' });
    assert.deepEqual(nested, {
      a: [{ SessionToken: '[redacted]', ok: 1 }],
      Credentials: '[redacted]',
      clientSecret: '[redacted]',
    });
  });

  it('keeps idempotency tokens and page markers, which only look like secrets', () => {
    assert.deepEqual(
      redact({ clientToken: 'cr-1', ClientToken: 'c', nextToken: 'n', NextToken: 'N', SessionToken: 's' }),
      {
        clientToken: 'cr-1',
        ClientToken: 'c',
        nextToken: 'n',
        NextToken: 'N',
        SessionToken: '[redacted]',
      },
    );
  });

  it('creates one client per class and region, with SDK retries off', async () => {
    // Prepare
    const { gateway } = setup();

    // Act
    const a = gateway.client(ECSClient, 'eu-west-1');
    const b = gateway.client(ECSClient, 'eu-west-1');
    const c = gateway.client(ECSClient, 'ap-northeast-2');
    const d = gateway.client(RDSClient, 'eu-west-1');

    // Assess
    assert.equal(a, b);
    assert.notEqual(a, c);
    assert.notEqual(a as unknown, d as unknown);
    assert.equal(await c.config.region(), 'ap-northeast-2');
    assert.equal(await a.config.maxAttempts(), 1);
  });

  it('answers from the simulator when one is configured, sending nothing to the SDK client', async () => {
    // Prepare
    const simulator = new AwsSimulator({
      ecs: { web: { cluster: 'shop', service: 'web', desiredCount: 2 } },
    });
    const { gateway, recorded } = setup({ simulator });
    const ecs = mockClient(gateway.client(ECSClient, 'eu-west-1'));

    // Act
    const output = await gateway.send(
      gateway.client(ECSClient, 'eu-west-1'),
      new UpdateServiceCommand({ cluster: 'shop', service: 'web', desiredCount: 7 }),
      { mutating: true, dryRun: false },
    );

    // Assess
    assert.equal(output.service?.desiredCount, 7);
    assert.equal(ecs.calls().length, 0);
    assert.equal(recorded[0]?.call.requestId, 'sim-1');
    assert.equal(gateway.simulated, true);
  });

  it('leaves AWS_ENDPOINT_URL to the SDK, so an emulator receives the calls', async () => {
    // Prepare: a local endpoint answering like ECS (JSON 1.1 protocol)
    const seen: { target: string | undefined; body: string }[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => {
        body += chunk;
      });
      req.on('end', () => {
        seen.push({ target: req.headers['x-amz-target'] as string | undefined, body });
        res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': 'emu-1' });
        res.end(JSON.stringify({ services: [{ serviceName: 'web', desiredCount: 4 }], failures: [] }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const keys = ['AWS_ENDPOINT_URL', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'] as const;
    const saved = keys.map((key) => [key, process.env[key]] as const);
    process.env.AWS_ENDPOINT_URL = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    process.env.AWS_ACCESS_KEY_ID = 'test';
    process.env.AWS_SECRET_ACCESS_KEY = 'test';
    const { gateway, recorded } = setup();

    try {
      // Act
      const output = await gateway.send(
        gateway.client(ECSClient, 'eu-west-1'),
        new DescribeServicesCommand({ cluster: 'shop', services: ['web'] }),
        { mutating: false, dryRun: false },
      );

      // Assess
      assert.equal(output.services?.[0]?.desiredCount, 4);
      assert.equal(seen.length, 1);
      assert.match(seen[0]!.target ?? '', /DescribeServices$/);
      assert.deepEqual(JSON.parse(seen[0]!.body), { cluster: 'shop', services: ['web'] });
      assert.equal(recorded[0]?.call.requestId, 'emu-1');
    } finally {
      for (const [key, value] of saved) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
      server.close();
    }
  });
});
