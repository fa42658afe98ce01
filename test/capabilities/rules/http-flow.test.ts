// Rules' http action through the one service caller (`services:`), in a running chronops: a team's service on
// loopback records each request and checks chronops' signature with the shared secret. The event fills the path
// (percent-encoded), the body and a header; the run id is the Idempotency-Key, and a redelivered event calls once.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RulesCapability } from '../../../src/capabilities/rules/capability.ts';
import { parseConfig } from '../../../src/kernel/config.ts';
import { backends, type Running, runChronops } from '../../support/harness.ts';
import { JobService } from '../../support/job-service.ts';
import { snsBody, TOPIC } from './support.ts';

const SECRET = 'billing-shared-secret-9f2c';

for (const backend of backends) {
  describe(`rules' http action through the service caller (${backend.name})`, () => {
    let chronops: Running;
    let rules: RulesCapability;
    const service = new JobService({
      secret: SECRET,
      script: (call) =>
        call.path.startsWith('/prices/Broken') ? { status: 500, body: 'boom' } : { status: 200, body: 'ok' },
    });

    before(async () => {
      await service.start();
      const config = parseConfig(
        {
          services: [{ name: 'billing', baseUrl: service.url, secret: `\${BILLING_SECRET}` }],
          rules: [
            {
              name: 'price-list',
              match: { source: 'price-list', topicArn: TOPIC },
              actions: [
                {
                  http: {
                    service: 'billing',
                    method: 'POST',
                    path: '/prices/{{ Message.offerCode }}',
                    body: { offer: '{{ Message.offerCode }}', url: '{{ Message.url.JSON }}' },
                    headers: { 'X-Offer': '{{ Message.offerCode }}' },
                  },
                },
              ],
            },
          ],
          server: { host: '127.0.0.1', port: 0 },
          database: { dataDir: '/nonexistent-not-used' },
        },
        { BILLING_SECRET: SECRET },
      );
      chronops = await runChronops(backend, { config });
      rules = chronops.capabilities.rules as RulesCapability;
    });
    after(async () => {
      await chronops?.stopAll();
      await service.stop();
    });

    const deliver = (id: string, offer: string) =>
      rules.handleDelivery({
        key: `price-list:${id}`,
        source: 'price-list',
        kind: 'sns',
        body: snsBody(id, offer),
        receivedAt: new Date(),
      });
    const run = async (id: string) =>
      (await (await chronops.app.request(`/api/rules/runs/${id}`)).json()).run as {
        status: string;
        outcome: string;
        error: string | null;
      };

    it('calls the service once per delivery, signed, with the event in path, body and header', async () => {
      // Act
      const first = await deliver('http-1', 'AmazonEC2');
      const again = await deliver('http-1', 'AmazonEC2');
      const hostile = await deliver('http-2', '../admin?x=1#');

      // Assess
      const runId = first.runs[0]!.runId;
      assert.equal(again.runs[0]!.runId, runId);
      assert.equal(service.calls.length, 2, 'the redelivery made no second call');
      const [call, second] = service.calls;
      assert.equal(call!.method, 'POST');
      assert.equal(call!.path, '/prices/AmazonEC2');
      assert.equal(call!.signed, true, call!.signatureProblem ?? 'signed');
      assert.equal(call!.headers['idempotency-key'], runId);
      assert.equal(call!.headers['x-chronops-run'], runId);
      assert.equal(call!.headers['x-offer'], 'AmazonEC2');
      assert.deepEqual(JSON.parse(call!.body), {
        offer: 'AmazonEC2',
        url: 'https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/AmazonEC2/20261201000000/index.json',
      });
      // A value in the path stays one path segment.
      assert.equal(second!.path, '/prices/..%2Fadmin%3Fx%3D1%23');
      assert.equal(JSON.parse(second!.body).offer, '../admin?x=1#');
      const done = await run(runId);
      assert.equal(done.status, 'done');
      assert.equal(done.outcome, 'ok');
      assert.equal(hostile.runs[0]!.status, 'done');
    });

    it('a service answering 500 makes a failed run with the answer in it', async () => {
      // Act
      const result = await deliver('http-3', 'Broken');

      // Assess
      const failed = await run(result.runs[0]!.runId);
      assert.equal(failed.status, 'failed');
      assert.match(failed.error ?? '', /500/);
      const metrics = await (await chronops.app.request('/metrics')).text();
      assert.match(
        metrics,
        /chronops_rule_runs_total\{rule="price-list",action="http",outcome="failed"\} 1\n/,
      );
    });
  });
}
