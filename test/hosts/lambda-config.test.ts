// The Lambda host's own config reader: the gateway's sections of the same file as `chronops serve`, checked with
// the same schemas and read the same way (the server's whole Config is the reference), the other sections left
// to the server.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadGatewayConfig, parseGatewayConfig } from '../../src/hosts/lambda-config.ts';
import { parseConfig } from '../../src/kernel/config.ts';
import { ConfigError } from '../../src/kernel/errors.ts';
import { slackConfigObject } from '../support/slack.ts';
import { WEBHOOK_ENV, webhookSources } from '../support/webhooks.ts';

const ENV = {
  ...WEBHOOK_ENV,
  SLACK_SIGNING_SECRET: 'lambda-config-signing',
  SLACK_BOT_TOKEN: 'xoxb-lambda-config',
};
const FILE = {
  ...slackConfigObject({ maxBodyBytes: 4096 }),
  sources: webhookSources(),
  kafka: { brokers: ['127.0.0.1:9092'], routes: [{ source: 'slack', topics: ['all'] }] },
};

describe('the Lambda host config', () => {
  it('reads the gateway sections as the server does', () => {
    const server = parseConfig(FILE, ENV);
    const lambda = parseGatewayConfig(FILE, ENV);
    assert.deepEqual(lambda.sources, server.sources);
    assert.deepEqual(lambda.kafka, server.kafka);
    assert.deepEqual(lambda.slack, {
      enabled: true,
      signingSecret: 'lambda-config-signing',
      maxBodyBytes: server.slack.maxBodyBytes,
    });
    assert.deepEqual(new Set(lambda.secrets), new Set(server.secrets));
  });

  it("names a bad field of its sections and leaves the server's sections alone", () => {
    const bad = { ...FILE, resources: 'not checked here', kafka: { brokers: ['nope'], routes: [] } };
    assert.throws(
      () => parseGatewayConfig(bad, ENV),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.issues.some((i) => i.field === 'kafka.brokers[0]' && i.message === 'must be host:port') &&
        error.issues.some(
          (i) => i.field === 'kafka.routes' && i.message === 'must have at least one route',
        ) &&
        !error.issues.some((i) => i.field.startsWith('resources')),
    );
    assert.throws(() => parseGatewayConfig({ slack: { enabled: true } }, {}), /SLACK_SIGNING_SECRET/);
  });

  it('reads the file as YAML, or as JSON for .json', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'chronops-lambda-config-'));
    try {
      writeFileSync(join(dir, 'c.json'), JSON.stringify(FILE));
      writeFileSync(
        join(dir, 'c.yaml'),
        'kafka:\n  brokers: [127.0.0.1:9092]\n  routes: [{ source: slack, topics: [all] }]\n',
      );
      assert.deepEqual(
        (await loadGatewayConfig(join(dir, 'c.json'), ENV)).kafka,
        parseConfig(FILE, ENV).kafka,
      );
      const yaml = await loadGatewayConfig(join(dir, 'c.yaml'), ENV);
      assert.deepEqual(yaml.kafka?.routes, [{ source: 'slack', topics: ['all'] }]);
      assert.equal(yaml.slack.maxBodyBytes, 128 * 1024);
      await assert.rejects(loadGatewayConfig(join(dir, 'missing.yaml'), ENV), /no such file/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
