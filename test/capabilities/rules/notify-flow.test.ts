// Rules' messages through the one outbox to real HTTP receivers on loopback: a rule's notify actions to a Slack
// incoming webhook and a JANDI room, and the report of its Fargate task's end to a Teams Workflows webhook (an
// Adaptive Card with the rule, the trigger, the duration, each container's exit code, the stop code and reason, a
// link to the task). Each is received once.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseConfig } from '../../../src/kernel/config.ts';
import { FakeWebhook } from '../../support/fake-webhooks.ts';
import { backends, eventually, type Running, runChronops, simulatorSpec } from '../../support/harness.ts';
import { TOPIC } from './support.ts';

const envRef = (name: string) => `\${${name}}`;

describe('rules notify through the outbox (fake Slack, Teams and JANDI webhooks on loopback)', () => {
  const slack = new FakeWebhook('slack-webhook');
  const teams = new FakeWebhook('teams');
  const jandi = new FakeWebhook('jandi');
  let run: Running;

  before(async () => {
    await Promise.all([slack.start(), teams.start(), jandi.start()]);
    const config = parseConfig(
      {
        dryRun: true,
        server: { host: '127.0.0.1', port: 0 },
        database: { dataDir: '/nonexistent-not-used' },
        notify: {
          destinations: {
            'team-slack': { kind: 'slack-webhook', url: envRef('T_SLACK_URL') },
            'ops-teams': { kind: 'teams', url: envRef('T_TEAMS_URL') },
            'ops-room': { kind: 'jandi', url: envRef('T_JANDI_URL') },
          },
        },
        resources: {
          tasks: [
            { name: 'pricing', cluster: 'pricing', region: 'us-east-1', taskDefinitions: ['pricechecker'] },
          ],
        },
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
                  report: 'ops-teams',
                },
              },
              {
                notify: {
                  to: 'team-slack',
                  title: 'Price checker started',
                  text: 'asked by {{ detail.user }}',
                },
              },
              { notify: { to: 'ops-room', title: '가격 확인 시작', text: '{{ detail.user }} 요청' } },
            ],
          },
        ],
      },
      { T_SLACK_URL: slack.url('hook'), T_TEAMS_URL: teams.url('ops'), T_JANDI_URL: jandi.url('ops-room') },
    );
    run = await runChronops(backends[0]!, {
      config,
      dryRun: true,
      spec: {
        ...simulatorSpec(),
        clusters: ['pricing'],
        taskDefinitions: {
          pricechecker: {
            revision: 9,
            containers: [{ name: 'checker', exitCode: 2 }],
            startSeconds: 0.2,
            runSeconds: 0.5,
          },
        },
      },
    });
  });
  after(async () => {
    await run?.stopAll();
    await Promise.all([slack.stop(), teams.stop(), jandi.stop()]);
  });

  it('notify actions reach Slack and JANDI, the task’s end reaches Teams as an alert card, each once', async () => {
    // Act
    const response = await run.app.request('/api/rules/price-list/run', {
      method: 'POST',
      headers: { 'x-chronops-actor': 'ops-kim', 'idempotency-key': 'once' },
    });
    await run.app.request('/api/rules/price-list/run', {
      method: 'POST',
      headers: { 'x-chronops-actor': 'ops-kim', 'idempotency-key': 'once' },
    });

    // Assess
    assert.equal(response.status, 202);
    await eventually(
      async () =>
        slack.delivered().length === 1 && jandi.delivered().length === 1 && teams.delivered().length === 1,
      15_000,
      'a message at each receiver',
    );
    assert.match(JSON.stringify(slack.delivered()[0]!.body), /Price checker started/);
    assert.match(JSON.stringify(slack.delivered()[0]!.body), /asked by ops-kim/);
    const room = jandi.delivered()[0]!.body as {
      body: string;
      connectInfo?: Array<{ title?: string; description?: string }>;
    };
    assert.match(JSON.stringify(room), /가격 확인 시작/);
    assert.match(JSON.stringify(room), /ops-kim 요청/);
    const card = JSON.stringify(teams.delivered()[0]!.body);
    assert.match(card, /application\/vnd\.microsoft\.card\.adaptive/);
    assert.match(card, /Alert: price-list: task pricechecker:9 [0-9a-f]{8} failed/);
    assert.match(card, /Exit codes/);
    assert.match(card, /checker: 2/);
    assert.match(card, /EssentialContainerExited/);
    assert.match(card, /Essential container in task exited/);
    assert.match(card, /run requested by ops-kim \(api\)/);
    assert.match(card, /console\.aws\.amazon\.com\/ecs\/v2\/clusters\/pricing\/tasks\//);
    // Nothing more arrives afterwards (the second request found its runs done).
    await new Promise((r) => setTimeout(r, 1500));
    assert.deepEqual(
      [slack.delivered().length, jandi.delivered().length, teams.delivered().length],
      [1, 1, 1],
    );
  });
});
