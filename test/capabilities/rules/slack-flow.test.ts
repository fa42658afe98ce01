// `rules run <rule>` from Slack, end to end: signed app mentions in, the local fake Slack Web API out. The
// permission key rules.run is checked (someone not listed gets a polite refusal in the thread and nothing runs);
// a listed person's run starts the (dry-run, simulated) task, and its end is reported in the same thread.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseConfig } from '../../../src/kernel/config.ts';
import { FakeSlack } from '../../support/fake-slack.ts';
import { backends, eventually, type Running, runChronops, simulatorSpec } from '../../support/harness.ts';
import { deliver, mentionBody, slackConfigObject, slackEnv } from '../../support/slack.ts';
import { TOPIC } from './support.ts';

const CHANNEL = 'C0OPS';

const spec = {
  ...simulatorSpec(),
  clusters: ['pricing'],
  taskDefinitions: {
    pricechecker: {
      revision: 4,
      containers: [{ name: 'checker', exitCode: 0 }],
      startSeconds: 0.2,
      runSeconds: 0.3,
    },
  },
};

for (const backend of backends) {
  describe(`rules run from Slack, permission-checked, reported in the thread (${backend.name})`, () => {
    let fake: FakeSlack;
    let chronops: Running;

    before(async () => {
      fake = await new FakeSlack().start();
      const raw = slackConfigObject({ permissions: { 'rules.run': { users: ['U0ALICE'] } } });
      const config = parseConfig(
        {
          ...raw,
          dryRun: true,
          resources: {
            ...(raw.resources as object),
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
                  },
                },
              ],
            },
          ],
        },
        slackEnv(fake),
      );
      chronops = await runChronops(backend, { config, spec, dryRun: true });
    });
    after(async () => {
      await chronops?.stopAll();
      await fake.stop();
    });

    it('refuses someone not listed under rules.run; a listed person’s run reports its task’s end in the thread', async () => {
      // Prepare
      const refusedThread = fake.seed(CHANNEL, 'Prices look stale');
      const thread = fake.seed(CHANNEL, 'Prices look stale again');

      // Act
      await deliver(
        chronops.app,
        'events',
        mentionBody({ text: 'rules run price-list', threadTs: refusedThread, user: 'U0MALLORY' }),
      );
      const [refusal] = await eventually(
        async () => fake.posted(CHANNEL, refusedThread).length > 0 && fake.posted(CHANNEL, refusedThread),
        15_000,
        'the refusal in the thread',
      );
      await deliver(
        chronops.app,
        'events',
        mentionBody({ text: 'rules run price-list', threadTs: thread, user: 'U0ALICE' }),
      );
      const posted = await eventually(
        async () => {
          const texts = fake
            .posted(CHANNEL, thread)
            .map((m) => `${m.text} ${JSON.stringify(m.blocks ?? [])}`);
          return texts.some((t) => /price-list: task pricechecker:4 [0-9a-f]{8} finished/.test(t)) && texts;
        },
        20_000,
        'the task’s end in the thread',
      );

      // Assess
      assert.match(refusal!.text, /^Sorry <@U0MALLORY>, I can't do that: .*rules\.run/s);
      assert.ok(
        posted.some((t) => /Running \*price-list\*: runTask running\. I will say here how it ends\./.test(t)),
        'the command’s answer in the thread',
      );
      assert.ok(
        posted.some((t) => /would start task pricechecker:4/.test(t)),
        'the start in the thread',
      );
      const { runs } = await (await chronops.app.request('/api/rules/runs?rule=price-list')).json();
      assert.equal(runs.length, 1, 'only the listed person’s run');
      assert.equal(runs[0].outcome, 'ok');
      assert.match(runs[0].event, /run requested by .+ \(slack\)/);
    });
  });
}
