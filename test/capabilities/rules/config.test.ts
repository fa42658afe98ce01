import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../../src/kernel/config.ts';
import { ConfigError } from '../../../src/kernel/errors.ts';

const TOPIC = 'arn:aws:sns:us-east-1:278350005181:price-list-api';

function file(overrides: { tasks?: unknown; rules?: unknown } = {}): Record<string, unknown> {
  return {
    resources: {
      ecs: [{ name: 'web', cluster: 'shop', service: 'web', region: 'ap-northeast-2', maxTasks: 20 }],
      tasks: overrides.tasks ?? [
        {
          name: 'pricing',
          cluster: 'pricing',
          region: 'us-east-1',
          taskDefinitions: ['pricechecker'],
          maxRunning: 2,
        },
      ],
    },
    notify: { destinations: { ops: { kind: 'console' } } },
    services: [{ name: 'billing', baseUrl: 'https://billing.internal' }],
    rules: overrides.rules ?? [
      {
        name: 'price-list',
        description: 'Run the price checker when AWS publishes new prices',
        match: {
          source: 'price-list',
          topicArn: TOPIC,
          pattern: { Message: { offerCode: [{ prefix: 'Amazon' }] } },
        },
        actions: [
          {
            runTask: {
              task: 'pricing',
              taskDefinition: 'pricechecker',
              subnets: ['subnet-0123456789abcdef0'],
              securityGroups: ['sg-0123456789abcdef0'],
              assignPublicIp: true,
              containerOverrides: [
                {
                  name: 'checker',
                  command: ['--offer', '{{ Message.offerCode }}'],
                  environment: { VERSION: '{{ Message.version }}', N: 3 },
                },
              ],
              report: 'ops',
            },
          },
          { notify: { to: 'ops', text: 'Prices of {{ Message.offerCode }} changed' } },
        ],
      },
    ],
  };
}

function issuesOf(raw: unknown): { field: string; message: string }[] {
  try {
    parseConfig(raw, {});
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    return error.issues;
  }
  assert.fail('the config was accepted');
}

function ruleWith(patch: Record<string, unknown>) {
  const base = (file().rules as Record<string, unknown>[])[0]!;
  return { rules: [{ ...base, ...patch }] };
}

describe('rules config', () => {
  it('reads the allow-list and the rules: topics and sources as lists, the pattern compiled, defaults applied', () => {
    // Act
    const config = parseConfig(file(), {});

    // Assess
    assert.deepEqual(config.rules.tasks, {
      pricing: {
        name: 'pricing',
        cluster: 'pricing',
        region: 'us-east-1',
        taskDefinitions: ['pricechecker'],
        maxRunning: 2,
      },
    });
    const [rule] = config.rules.rules;
    assert.equal(rule?.name, 'price-list');
    assert.deepEqual(rule?.match.sources, ['price-list']);
    assert.deepEqual(rule?.match.topicArns, [TOPIC]);
    assert.equal(rule?.match.pattern?.matches({ Message: { offerCode: 'AmazonEC2' } }), true);
    assert.equal(rule?.dryRun, false);
    assert.deepEqual(rule?.actions, [
      {
        kind: 'runTask',
        task: 'pricing',
        family: 'pricechecker',
        subnets: ['subnet-0123456789abcdef0'],
        securityGroups: ['sg-0123456789abcdef0'],
        assignPublicIp: true,
        containerOverrides: [
          {
            name: 'checker',
            command: ['--offer', '{{ Message.offerCode }}'],
            environment: { VERSION: '{{ Message.version }}', N: '3' },
          },
        ],
        report: 'ops',
      },
      { kind: 'notify', to: 'ops', text: 'Prices of {{ Message.offerCode }} changed' },
    ]);
  });

  it('a pinned revision is kept; an http action gets POST and / by default', () => {
    // Prepare
    const raw = ruleWith({
      actions: [
        {
          runTask: {
            task: 'pricing',
            taskDefinition: 'pricechecker:7',
            subnets: ['subnet-0123456789abcdef0'],
          },
        },
        { http: { service: 'billing', body: { offer: '{{ Message.offerCode }}' } } },
      ],
    });

    // Act
    const config = parseConfig(file(raw), {});

    // Assess
    assert.deepEqual(config.rules.rules[0]?.actions, [
      {
        kind: 'runTask',
        task: 'pricing',
        family: 'pricechecker',
        revision: 7,
        subnets: ['subnet-0123456789abcdef0'],
        securityGroups: [],
        assignPublicIp: false,
        containerOverrides: [],
      },
      {
        kind: 'http',
        service: 'billing',
        method: 'POST',
        path: '/',
        body: { offer: '{{ Message.offerCode }}' },
      },
    ]);
  });

  it('no rules and no tasks is fine', () => {
    const config = parseConfig({ resources: { ecs: [] } }, {});
    assert.deepEqual(config.rules, { rules: [], tasks: {} });
  });

  it('refuses a task or family not on the allow-list, naming the field and what is allowed', () => {
    // Prepare
    const notListed = ruleWith({
      actions: [{ runTask: { task: 'billing', taskDefinition: 'x', subnets: ['subnet-0123456789abcdef0'] } }],
    });
    const otherFamily = ruleWith({
      actions: [
        { runTask: { task: 'pricing', taskDefinition: 'miner:3', subnets: ['subnet-0123456789abcdef0'] } },
      ],
    });

    // Act / Assess
    assert.deepEqual(issuesOf(file(notListed)), [
      {
        field: 'rules[0].actions[0].runTask.task',
        message: '"billing" is not in resources.tasks (known: pricing)',
      },
    ]);
    assert.deepEqual(issuesOf(file(otherFamily)), [
      {
        field: 'rules[0].actions[0].runTask.taskDefinition',
        message: 'family "miner" is not allowed on pricing (allowed: pricechecker)',
      },
    ]);
  });

  it('refuses a bad pattern with the path inside it', () => {
    const issues = issuesOf(file(ruleWith({ match: { pattern: { detail: { state: [{ prefix: 3 }] } } } })));
    assert.deepEqual(issues, [
      {
        field: 'rules[0].match.pattern.detail.state[0].prefix',
        message: 'must be a string, or { "equals-ignore-case": "text" }',
      },
    ]);
  });

  it('refuses a rule that matches everything, a bad topic ARN, an action of two kinds, a broken template', () => {
    assert.deepEqual(issuesOf(file(ruleWith({ match: {} }))), [
      {
        field: 'rules[0].match',
        message: 'must name a source, a topicArn or a pattern (a rule that matches everything is refused)',
      },
    ]);
    assert.equal(
      issuesOf(file(ruleWith({ match: { topicArn: 'price-list-api' } })))[0]?.field,
      'rules[0].match.topicArn',
    );
    assert.deepEqual(
      issuesOf(file(ruleWith({ actions: [{ notify: { to: 'ops', text: 'x' }, http: { service: 'b' } }] }))),
      [
        {
          field: 'rules[0].actions[0]',
          message: 'must be exactly one of runTask, notify, http (got notify, http)',
        },
      ],
    );
    assert.deepEqual(issuesOf(file(ruleWith({ actions: [{ http: { service: 'biling' } }] }))), [
      {
        field: 'rules[0].actions[0].http.service',
        message: 'no service "biling" (configured: billing)',
      },
    ]);
    assert.deepEqual(
      issuesOf(file(ruleWith({ actions: [{ notify: { to: 'ops', text: 'offer {{ Message.offerCode' } }] }))),
      [
        {
          field: 'rules[0].actions[0].notify.text',
          message: '"{{" is not closed by "}}" in "offer {{ Message.offerCode"',
        },
      ],
    );
  });

  it('refuses a destination that is not a notify destination of the config', () => {
    const raw = ruleWith({
      actions: [
        {
          runTask: {
            task: 'pricing',
            taskDefinition: 'pricechecker',
            subnets: ['subnet-0123456789abcdef0'],
            report: 'pager',
          },
        },
        { notify: { to: 'slack-ops', text: 'x' } },
      ],
    });
    assert.deepEqual(issuesOf(file(raw)), [
      {
        field: 'rules[0].actions[0].runTask.report',
        message: 'no notify destination "pager" (configured: ops)',
      },
      {
        field: 'rules[0].actions[1].notify.to',
        message: 'no notify destination "slack-ops" (configured: ops)',
      },
    ]);
  });

  it('refuses bad ids: subnet, security group, container, environment name', () => {
    // Prepare
    const raw = ruleWith({
      actions: [
        {
          runTask: {
            task: 'pricing',
            taskDefinition: 'pricechecker',
            subnets: ['10.0.0.0/24'],
            securityGroups: ['default'],
            containerOverrides: [{ name: 'bad name', environment: { 'not-a-name': 'x' } }],
          },
        },
      ],
    });

    // Act
    const fields = issuesOf(file(raw)).map((i) => i.field);

    // Assess
    assert.deepEqual(fields.sort(), [
      'rules[0].actions[0].runTask.containerOverrides[0].environment.not-a-name',
      'rules[0].actions[0].runTask.containerOverrides[0].name',
      'rules[0].actions[0].runTask.securityGroups[0]',
      'rules[0].actions[0].runTask.subnets[0]',
    ]);
  });

  it('refuses duplicate names: two rules, a task entry named like a capacity resource', () => {
    // Prepare
    const rule = (file().rules as unknown[])[0];
    const tasks = [
      { name: 'web', cluster: 'c', region: 'us-east-1', taskDefinitions: ['a'] },
      { name: 'pricing', cluster: 'pricing', region: 'us-east-1', taskDefinitions: ['pricechecker'] },
    ];

    // Act
    const issues = issuesOf(file({ tasks, rules: [rule, rule] }));

    // Assess
    assert.deepEqual(issues, [
      { field: 'resources.tasks[0].name', message: '"web" is already used by resources.ecs[0]' },
      { field: 'rules[1].name', message: '"price-list" is already the name of rules[0]' },
    ]);
  });
});
