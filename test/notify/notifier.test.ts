// Notifications as a capability sends them, through a running chronops: named destinations from the config file
// (webhook URLs from the environment), the console destination on the page's live stream, answers in a chat
// thread, and the config's errors for destinations.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseConfig } from '../../src/kernel/config.ts';
import { ConfigError } from '../../src/kernel/errors.ts';
import { FakeSlack } from '../support/fake-slack.ts';
import { FakeWebhook } from '../support/fake-webhooks.ts';
import { backends, eventually, type Running, runChronops } from '../support/harness.ts';
import { slackConfigObject, slackEnv } from '../support/slack.ts';
import { openSse } from '../support/sse.ts';

/** `${NAME}`: how the config file refers to an environment variable. */
const envRef = (name: string) => `\${${name}}`;

describe('notify destinations in a running chronops', () => {
  const teams = new FakeWebhook('teams');
  const jandi = new FakeWebhook('jandi');
  let run: Running;

  before(async () => {
    await Promise.all([teams.start(), jandi.start()]);
    const config = parseConfig(
      {
        timezone: 'Asia/Seoul',
        server: { host: '127.0.0.1', port: 0 },
        database: { dataDir: '/nonexistent-not-used' },
        notify: {
          destinations: {
            'ops-teams': { kind: 'teams', url: envRef('TEST_TEAMS_URL') },
            'ops-room': { kind: 'jandi', url: envRef('TEST_JANDI_URL') },
            page: { kind: 'console' },
          },
        },
      },
      { TEST_TEAMS_URL: teams.url('ops'), TEST_JANDI_URL: jandi.url('ops-room') },
    );
    run = await runChronops(backends[0]!, { config });
  });
  after(async () => {
    await run.stopAll();
    await Promise.all([teams.stop(), jandi.stop()]);
  });

  it('sends to a named Teams and JANDI destination, each once, with the URL only in memory', async () => {
    // Act
    await run.notifier.send('ops-teams', { title: 'job done', severity: 'success' }, { key: 'n:1' });
    await run.notifier.send('ops-room', { title: '작업 완료', text: '3개 테넌트 성공' }, { key: 'n:2' });
    // Assess
    await eventually(
      async () => teams.delivered('ops').length === 1 && jandi.delivered('ops-room').length === 1,
    );
    const rows = await run.chat.store.listOutbox();
    const row = rows.find((r) => r.key === 'n:1')!;
    assert.equal(row.destination, 'ops-teams');
    assert.equal(row.platform, 'teams');
    assert.doesNotMatch(JSON.stringify(rows), /127\.0\.0\.1/);
    assert.match(JSON.stringify(jandi.delivered('ops-room')[0]!.body), /작업 완료/);
    // Counted once recorded as sent (just after the receiver has it).
    await eventually(async () =>
      /chronops_outbox_sends_total\{kind="teams",destination="ops-teams",outcome="sent"\} 1/.test(
        await (await run.app.request('/metrics')).text(),
      ),
    );
  });

  it('the console destination shows on the page, and a chat thread answer on a console thread', async () => {
    // Prepare
    const sse = await openSse(`${run.url}/api/live`);
    try {
      // Act
      await run.notifier.send('page', { title: 'task stopped', text: 'exit 0' }, { key: 'n:3' });
      await run.notifier.reply(
        { platform: 'console', channel: 'console', threadTs: '1795324121.000100' },
        { reply: { text: 'rules run done' } },
        { key: 'n:4' },
      );
      // Assess
      const a = JSON.parse((await sse.next((e) => e.event === 'console' && e.data.includes('n:3'))).data);
      assert.equal(a.threadTs, null);
      assert.match(JSON.stringify(a.blocks), /task stopped/);
      const b = JSON.parse((await sse.next((e) => e.event === 'console' && e.data.includes('n:4'))).data);
      assert.equal(b.threadTs, '1795324121.000100');
      assert.equal(b.text, 'rules run done');
    } finally {
      sse.close();
    }
  });

  it('refuses an unknown destination name, naming the configured ones', async () => {
    await assert.rejects(
      run.notifier.send('nowhere', { title: 'x' }, { key: 'n:5' }),
      /no notify destination "nowhere" \(configured: ops-teams, ops-room, page\)/,
    );
  });
});

describe('notify config', () => {
  const base = { resources: {}, database: { dataDir: '/x' } };

  it("names a JANDI room's or a Teams source's replyTo that is no destination", () => {
    let issues: { field: string; message: string }[] = [];
    try {
      parseConfig(
        {
          ...base,
          sources: [
            {
              kind: 'jandi',
              name: 'jandi',
              rooms: [{ name: 'ops', token: envRef('T'), replyTo: 'ops-rom' }],
            },
            { kind: 'teams', name: 'teams', secret: envRef('S'), replyTo: 'ops-teams' },
          ],
          notify: {
            destinations: {
              'ops-room': { kind: 'jandi', url: 'https://wh.jandi.com/connect-api/webhook/1/x' },
            },
          },
        },
        { T: 'jandi-token-0123456789', S: Buffer.from('secret').toString('base64') },
      );
    } catch (error) {
      issues = (error as ConfigError).issues;
    }
    assert.deepEqual(issues, [
      {
        field: 'sources[0].rooms[0].replyTo',
        message: 'no notify destination "ops-rom" (notify.destinations: ops-room)',
      },
      {
        field: 'sources[1].replyTo',
        message: 'no notify destination "ops-teams" (notify.destinations: ops-room)',
      },
    ]);
  });

  it('resolves environment references, applies the defaults of each kind and keeps the URLs as secrets', () => {
    const config = parseConfig(
      {
        ...base,
        notify: {
          destinations: {
            t: { kind: 'teams', url: envRef('HOOK') },
            s: {
              kind: 'slack-webhook',
              url: `https://hooks.slack.com/services/T0/B0/${envRef('SLACK_HOOK_TOKEN')}`,
              minIntervalMs: 2000,
            },
          },
        },
      },
      { HOOK: 'https://example.webhook.office.com/workflows/abc123', SLACK_HOOK_TOKEN: 'xyzsecret' },
    );
    assert.deepEqual(config.notify.destinations.t, {
      name: 't',
      kind: 'teams',
      url: 'https://example.webhook.office.com/workflows/abc123',
      minIntervalMs: 250,
      timeoutMs: 10_000,
      maxBytes: 28_000,
      onUncertain: 'skip',
    });
    assert.equal(config.notify.destinations.s!.url, 'https://hooks.slack.com/services/T0/B0/xyzsecret');
    assert.equal(config.notify.destinations.s!.minIntervalMs, 2000);
    assert.ok(config.secrets.includes('https://example.webhook.office.com/workflows/abc123'));
    assert.ok(config.secrets.includes('/services/T0/B0/xyzsecret'));
  });

  it('names each bad destination field', () => {
    let issues: { field: string; message: string }[] = [];
    try {
      parseConfig(
        {
          ...base,
          notify: {
            destinations: {
              a: { kind: 'teams', url: envRef('NOT_SET') },
              b: { kind: 'jandi' },
              c: { kind: 'slack-webhook', url: 'ftp://x' },
              d: { kind: 'slack', channel: 'C0123ABCD' },
              e: { kind: 'email', url: 'x' },
              f: { kind: 'console', url: 'http://x' },
            },
          },
        },
        {},
      );
    } catch (error) {
      assert.ok(error instanceof ConfigError);
      issues = error.issues;
    }
    const message = (field: string) =>
      issues.find((i) => i.field === field)?.message ?? `(none for ${field})`;
    assert.match(
      message('notify.destinations.e.kind'),
      /must be one of slack, slack-webhook, teams, jandi, console/,
    );
    // The kinds are checked first; fix that and the rest is named together.
    const rest = (() => {
      try {
        parseConfig(
          {
            ...base,
            notify: {
              destinations: {
                a: { kind: 'teams', url: envRef('NOT_SET') },
                b: { kind: 'jandi' },
                c: { kind: 'slack-webhook', url: 'ftp://x' },
                d: { kind: 'slack', channel: 'C0123ABCD' },
                f: { kind: 'console', url: 'http://x' },
              },
            },
          },
          {},
        );
      } catch (error) {
        return (error as ConfigError).issues;
      }
      return [];
    })();
    const m = (field: string) => rest.find((i) => i.field === field)?.message ?? `(none for ${field})`;
    assert.match(m('notify.destinations.a.url'), /environment variable NOT_SET is not set/);
    assert.match(m('notify.destinations.b.url'), /is required for a jandi webhook/);
    assert.match(m('notify.destinations.c.url'), /http:\/\/ or https:\/\//);
    assert.match(m('notify.destinations.d'), /turn Slack on/);
    assert.match(m('notify.destinations.f.url'), /a console destination has no url/);
  });
});

describe('a Slack channel as a notify destination (the bot token)', () => {
  it('posts the notification as Block Kit in the channel, and an answer in a Slack thread', async () => {
    // Prepare
    const fake = await new FakeSlack().start();
    const run = await runChronops(backends[0]!, {
      config: parseConfig(
        {
          ...slackConfigObject(),
          notify: { destinations: { alerts: { kind: 'slack', channel: 'C0ALERTS' } } },
        },
        slackEnv(fake),
      ),
    });
    try {
      const parent = fake.seed('C0OPS', 'rules run price-list');
      // Act
      await run.notifier.send(
        'alerts',
        { title: 'task stopped', severity: 'error', fields: [{ title: 'Exit code', value: '1' }] },
        { key: 'slack:n:1' },
      );
      await run.notifier.reply(
        { platform: 'slack', channel: 'C0OPS', threadTs: parent },
        { reply: { text: 'rules run price-list: done' } },
        { key: 'slack:n:2' },
      );
      // Assess
      await eventually(
        async () => fake.posted('C0ALERTS').length === 1 && fake.posted('C0OPS', parent).length === 1,
      );
      const [alert] = fake.posted('C0ALERTS');
      assert.match(alert!.text, /^:rotating_light: task stopped/);
      assert.match(JSON.stringify(alert!.blocks), /\*Exit code\*\\n1/);
      assert.equal(alert!.metadata?.event_payload.key, 'slack:n:1');
      const [answer] = fake.posted('C0OPS', parent);
      assert.equal(answer!.thread_ts, parent);
      assert.equal(answer!.text, 'rules run price-list: done');
    } finally {
      await run.stopAll();
      await fake.stop();
    }
  });
});
