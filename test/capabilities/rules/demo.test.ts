// The demo (`npm start`, examples/chronops.yaml) end to end, as AWS would drive it: a signed SNS notification of
// the Price List API topic is POSTed over HTTP to /sns/price-list → the rule price-list starts a (dry-run,
// simulated) Fargate task → the task stops and its STOPPED event closes the run → the report appears on the page's
// console (its live stream). Only the simulated task's timings are shortened.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { SimulatorSpec } from '../../../src/aws/simulator.ts';
import { loadConfig } from '../../../src/kernel/config.ts';
import { backends, type Running, runChronops } from '../../support/harness.ts';
import { type SnsFixture, signedNotification, snsFixture } from '../../support/sns.ts';
import { openSse } from '../../support/sse.ts';
import { TOPIC } from './support.ts';

const EXAMPLE = fileURLToPath(new URL('../../../examples/chronops.yaml', import.meta.url));

describe('the demo: a signed SNS notification → a simulated Fargate task → its STOPPED event → the console', () => {
  let chronops: Running;
  let sns: SnsFixture;

  before(async () => {
    sns = await snsFixture();
    const config = loadConfig(EXAMPLE, {});
    const spec = structuredClone(config.aws.simulate) as SimulatorSpec;
    const def = spec.taskDefinitions!.pricechecker!;
    def.startSeconds = 0.2;
    def.runSeconds = 0.3;
    chronops = await runChronops(backends[0]!, {
      config: { ...config, server: { host: '127.0.0.1', port: 0 } },
      dryRun: true,
      spec,
      snsAgent: sns.agent,
    });
  });
  after(async () => {
    await chronops?.stopAll();
    await sns?.close();
  });

  it('reports how the task the notification started ended, on the page’s console', async () => {
    // Prepare
    const stream = await openSse(`${chronops.url}/api/live`);
    await stream.next((e) => e.event === 'hello');
    const notification = signedNotification(sns, {
      topicArn: TOPIC,
      subject: 'Price List Update',
      message: JSON.stringify({
        formatVersion: 'v1.0',
        offerCode: 'AmazonEC2',
        url: { JSON: 'https://x/e.json' },
      }),
    });

    try {
      // Act
      const answer = await fetch(`${chronops.url}/sns/price-list`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain; charset=UTF-8', 'x-amz-sns-message-type': 'Notification' },
        body: JSON.stringify(notification),
      });
      const report = await stream.next(
        (e) => e.event === 'console' && /price-list: task pricechecker:3 [0-9a-f]{8} finished/.test(e.data),
        20_000,
      );

      // Assess
      assert.equal(answer.status, 200);
      const posted = JSON.parse(report.data) as { text: string; blocks: unknown };
      const fields = JSON.stringify(posted.blocks);
      assert.match(fields, /\*Triggered by\*\\nSNS price-list-api: Price List Update/);
      assert.match(fields, /\*Exit codes\*\\nchecker: 0/);
      assert.match(fields, /EssentialContainerExited/);
      const { runs } = await (await fetch(`${chronops.url}/api/rules/runs?rule=price-list`)).json();
      assert.equal(runs.length, 1);
      assert.equal(runs[0].outcome, 'ok');
      const runTask = chronops.calls.find((c) => c.command === 'RunTask');
      assert.match(JSON.stringify(runTask?.input), /\{"name":"OFFER_CODE","value":"AmazonEC2"\}/);
    } finally {
      stream.close();
    }
  });
});
