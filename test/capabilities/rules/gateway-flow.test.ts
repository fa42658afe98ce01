// Events through the gateway to the rules, in a running chronops: an EventBridge API destination POSTs an ECS
// "Task State Change" (STOPPED) of a task a rule started; the gateway checks the API key, stores it, answers 200,
// and its worker hands it to the rules, which close the run and report it — once, whatever the redeliveries.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseConfig } from '../../../src/kernel/config.ts';
import { backends, eventually, type Running, runChronops, simulatorSpec } from '../../support/harness.ts';
import { TOPIC } from './support.ts';

const KEY = 'events-api-key-0f3c2a9b';

const config = parseConfig(
  {
    dryRun: true,
    notify: { destinations: { console: { kind: 'console' } } },
    resources: {
      tasks: [
        { name: 'pricing', cluster: 'pricing', region: 'us-east-1', taskDefinitions: ['pricechecker'] },
      ],
    },
    sources: [{ kind: 'events', name: 'aws-events', apiKey: `\${EVENTS_KEY}` }],
    rules: [
      {
        name: 'price-list',
        match: { source: 'price-list', topicArn: TOPIC },
        actions: [
          {
            runTask: {
              task: 'pricing',
              taskDefinition: 'pricechecker',
              subnets: ['subnet-0123456789abcdef0'],
              report: 'console',
            },
          },
        ],
      },
    ],
    server: { host: '127.0.0.1', port: 0 },
    database: { dataDir: '/nonexistent-not-used' },
  },
  { EVENTS_KEY: KEY },
);

/** The task runs for an hour in the simulator: only the event posted by the test can stop it. */
const spec = {
  ...simulatorSpec(),
  clusters: ['pricing'],
  taskDefinitions: {
    pricechecker: { revision: 7, containers: [{ name: 'checker' }], startSeconds: 0, runSeconds: 3600 },
  },
};

function stopped(taskArn: string, id: string) {
  return {
    version: '0',
    id,
    'detail-type': 'ECS Task State Change',
    source: 'aws.ecs',
    account: '000000000000',
    time: new Date().toISOString(),
    region: 'us-east-1',
    resources: [taskArn],
    detail: {
      taskArn,
      clusterArn: 'arn:aws:ecs:us-east-1:000000000000:cluster/pricing',
      lastStatus: 'STOPPED',
      desiredStatus: 'STOPPED',
      startedBy: 'chronops',
      createdAt: new Date(Date.now() - 65_000).toISOString(),
      startedAt: new Date(Date.now() - 60_000).toISOString(),
      stoppedAt: new Date().toISOString(),
      stopCode: 'EssentialContainerExited',
      stoppedReason: 'Essential container in task exited',
      containers: [{ name: 'checker', exitCode: 1, lastStatus: 'STOPPED' }],
    },
  };
}

for (const backend of backends) {
  describe(`events through the gateway to the rules (${backend.name})`, () => {
    let chronops: Running;
    before(async () => {
      chronops = await runChronops(backend, { config, spec, dryRun: true });
    });
    after(async () => {
      await chronops.stopAll();
    });

    const post = (body: unknown, key = KEY) =>
      chronops.app.request('/events/aws-events', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-chronops-api-key': key },
        body: JSON.stringify(body),
      });
    const runs = async () =>
      (await (await chronops.app.request('/api/rules/runs?rule=price-list')).json()).runs as Array<{
        id: string;
        status: string;
        outcome: string | null;
        taskArn: string | null;
        containers: unknown;
      }>;

    it('a pushed STOPPED event closes the run it belongs to, once; a wrong key is refused and stores nothing', async () => {
      // Prepare: a run whose task is running.
      const started = await chronops.app.request('/api/rules/price-list/run', { method: 'POST' });
      assert.equal(started.status, 202);
      const [run] = await runs();
      assert.equal(run?.status, 'running');
      const event = stopped(run!.taskArn!, 'evt-stop-1');

      // Act
      const refused = await post(event, 'not-the-key');
      const first = await post(event);
      const closed = await eventually(
        async () => {
          const [r] = await runs();
          return r?.status === 'stopped' ? r : undefined;
        },
        10_000,
        'the run closed by the pushed event',
      );
      const again = await post(event);
      const redeliveredAsNew = await post({ ...event, id: 'evt-stop-2' });

      // Assess
      assert.equal(refused.status, 401);
      assert.equal(first.status, 200);
      assert.equal(again.status, 200);
      assert.equal(redeliveredAsNew.status, 200);
      assert.equal(closed.outcome, 'alert');
      assert.deepEqual(closed.containers, [{ name: 'checker', exitCode: 1 }]);
      // Every delivery is handled (the later ones find the run closed already): one report only.
      for (const key of ['aws-events:evt-stop-1', 'aws-events:evt-stop-2']) {
        await eventually(
          async () => (await chronops.gateway.inbox.get(key))?.status === 'done',
          10_000,
          `delivery ${key} handled`,
        );
      }
      const metrics = await (await chronops.app.request('/metrics')).text();
      assert.match(
        metrics,
        /chronops_rule_runs_total\{rule="price-list",action="runTask",outcome="stopped-alert"\} 1\n/,
      );
    });
  });
}
