// SNS to the rules, in a running chronops over real HTTP: `POST /sns/price-list` with messages signed in the test
// (a test key pair, its certificate served by a local HTTPS server for sns.us-east-1.amazonaws.com, reached through
// the agent chronops is given — the URL checks, the fetch and the cache are production's). A listed topic's
// subscription is confirmed by a GET of its SubscribeURL; a notification is verified, stored under its MessageId
// before the 200, and starts the rule's task once, whatever the redeliveries.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { parseConfig } from '../../../src/kernel/config.ts';
import { backends, eventually, type Running, runChronops, simulatorSpec } from '../../support/harness.ts';
import {
  type SnsFixture,
  sign,
  signedConfirmation,
  signedNotification,
  snsFixture,
} from '../../support/sns.ts';
import { TOPIC } from './support.ts';

const OTHER = 'arn:aws:sns:us-east-1:123456789012:someone-elses-topic';

const config = parseConfig(
  {
    dryRun: true,
    notify: { destinations: { console: { kind: 'console' } } },
    resources: {
      tasks: [
        { name: 'pricing', cluster: 'pricing', region: 'us-east-1', taskDefinitions: ['pricechecker'] },
      ],
    },
    sources: [{ kind: 'sns', name: 'price-list', topics: [TOPIC] }],
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
              containerOverrides: [{ name: 'checker', environment: { OFFER: '{{ Message.offerCode }}' } }],
              report: 'console',
            },
          },
        ],
      },
    ],
    server: { host: '127.0.0.1', port: 0 },
    database: { dataDir: '/nonexistent-not-used' },
  },
  {},
);

const spec = {
  ...simulatorSpec(),
  clusters: ['pricing'],
  taskDefinitions: {
    pricechecker: { revision: 7, containers: [{ name: 'checker' }], startSeconds: 0, runSeconds: 3600 },
  },
};

for (const backend of backends) {
  describe(`SNS through the gateway to the rules, over HTTP (${backend.name})`, () => {
    let chronops: Running;
    let sns: SnsFixture;
    before(async () => {
      sns = await snsFixture();
      chronops = await runChronops(backend, { config, spec, dryRun: true, snsAgent: sns.agent });
    });
    after(async () => {
      await chronops.stopAll();
      await sns.close();
    });

    const post = (body: unknown, headers: Record<string, string> = {}) =>
      fetch(`${chronops.url}/sns/price-list`, {
        method: 'POST',
        // SNS posts JSON as text/plain.
        headers: { 'content-type': 'text/plain; charset=UTF-8', ...headers },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
    const runs = async () =>
      (await (await fetch(`${chronops.url}/api/rules/runs?rule=price-list`)).json()).runs as Array<{
        id: string;
        status: string;
        trigger: string;
        overrides?: unknown;
      }>;
    const stored = async () => (await chronops.gateway.inbox.list(100, { source: 'price-list' })).length;

    it('confirms the subscription of a listed topic (GET of its SubscribeURL), stores nothing; refuses an unlisted one without a GET', async () => {
      // Prepare
      const listed = signedConfirmation(sns, { topicArn: TOPIC });
      const unlisted = signedConfirmation(sns, { topicArn: OTHER });

      // Act
      const ok = await post(listed, { 'x-amz-sns-message-type': 'SubscriptionConfirmation' });
      const refused = await post(unlisted, { 'x-amz-sns-message-type': 'SubscriptionConfirmation' });

      // Assess
      assert.equal(ok.status, 200);
      assert.deepEqual(await ok.json(), { ok: true, confirmed: TOPIC });
      assert.equal(refused.status, 403);
      assert.match((await refused.json()).message, /someone-elses-topic is not configured for this source/);
      assert.deepEqual(sns.confirmations, [listed.SubscribeURL]);
      assert.equal(await stored(), 0);
    });

    it('a confirmation SNS does not accept answers 502 (SNS sends it again)', async () => {
      sns.confirmStatus = 404;
      try {
        const answer = await post(signedConfirmation(sns, { topicArn: TOPIC, version: '2' }));
        assert.equal(answer.status, 502);
        assert.match((await answer.json()).message, /SNS answered 404/);
      } finally {
        sns.confirmStatus = 200;
      }
    });

    it('a notification (v1 and v2) is stored under its MessageId before the 200 and starts the task once over redeliveries', async () => {
      // Prepare
      const v1 = signedNotification(sns, {
        topicArn: TOPIC,
        version: '1',
        subject: 'Price List Update',
        message: JSON.stringify({ offerCode: 'AmazonEC2' }),
      });
      const v2 = signedNotification(sns, {
        topicArn: TOPIC,
        message: JSON.stringify({ offerCode: 'AmazonS3' }),
      });

      // Act
      const first = await post(v1, { 'x-amz-sns-message-type': 'Notification' });
      const storedAtAnswer = await chronops.gateway.inbox.get(`price-list:${v1.MessageId}`);
      const again = await post(v1);
      const second = await post(v2);
      const both = await eventually(
        async () => {
          const r = await runs();
          return r.length === 2 && r.every((x) => x.status === 'running') ? r : undefined;
        },
        10_000,
        'two runs started',
      );
      for (const m of [v1, v2]) {
        await eventually(
          async () => (await chronops.gateway.inbox.get(`price-list:${m.MessageId}`))?.status === 'done',
          10_000,
          `delivery of ${m.MessageId} handled`,
        );
      }

      // Assess
      assert.equal(first.status, 200);
      assert.equal(again.status, 200);
      assert.equal(second.status, 200);
      assert.equal(storedAtAnswer?.kind, 'sns');
      assert.equal(storedAtAnswer?.type, 'Notification');
      assert.equal(storedAtAnswer?.subtype, TOPIC);
      assert.equal(await stored(), 2);
      assert.equal(both.length, 2);
      const runTasks = chronops.calls.filter((c) => c.command === 'RunTask');
      assert.equal(runTasks.length, 2, 'one RunTask per notification');
      const offers = runTasks
        .map((c) => JSON.stringify(c.input))
        .map((s) => /"OFFER","value":"(\w+)"/.exec(s)?.[1])
        .sort();
      assert.deepEqual(offers, ['AmazonEC2', 'AmazonS3']);
    });

    it('refuses forged, tampered, expired, wrong-topic and raw deliveries with their status and stores none', async () => {
      // Prepare
      const before = await stored();
      const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const forged = signedNotification(
        { privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() },
        { topicArn: TOPIC },
      );
      const tampered = signedNotification(sns, { topicArn: TOPIC });
      tampered.Message = '{"offerCode":"AmazonEC2","extra":"$(reboot)"}';
      const expired = signedNotification(sns, {
        topicArn: TOPIC,
        timestamp: new Date(Date.now() - 2 * 3600_000),
      });
      const wrongTopic = signedNotification(sns, { topicArn: OTHER });
      const resigned = signedNotification(sns, { topicArn: TOPIC });
      resigned.Signature = sign({ ...resigned, TopicArn: OTHER }, sns.privateKey, '2');

      // Act
      const answers = {
        forged: await post(forged),
        tampered: await post(tampered),
        expired: await post(expired),
        wrongTopic: await post(wrongTopic),
        resigned: await post(resigned),
        raw: await post('{"offerCode":"AmazonEC2"}', {
          'x-amz-sns-message-type': 'Notification',
          'x-amz-sns-rawdelivery': 'true',
        }),
        rawNoHeader: await post('{"offerCode":"AmazonEC2"}', { 'x-amz-sns-message-type': 'Notification' }),
        notJson: await post('hello'),
      };

      // Assess
      const status = Object.fromEntries(Object.entries(answers).map(([k, v]) => [k, v.status]));
      assert.deepEqual(status, {
        forged: 401,
        tampered: 401,
        expired: 401,
        wrongTopic: 403,
        resigned: 401,
        raw: 401,
        rawNoHeader: 401,
        notJson: 400,
      });
      assert.match((await answers.raw.json()).message, /raw message delivery .*turn RawMessageDelivery off/);
      assert.match((await answers.rawNoHeader.json()).message, /raw message delivery/);
      assert.match((await answers.expired.json()).message, /older than 3600 s is refused/);
      assert.equal(await stored(), before);
    });

    it('an UnsubscribeConfirmation is verified and kept, and starts no rule', async () => {
      // Prepare
      const runsBefore = (await runs()).length;
      const message = signedConfirmation(sns, { topicArn: TOPIC, type: 'UnsubscribeConfirmation' });

      // Act
      const answer = await post(message, { 'x-amz-sns-message-type': 'UnsubscribeConfirmation' });
      const kept = await eventually(
        async () => {
          const d = await chronops.gateway.inbox.get(`price-list:${message.MessageId}`);
          return d?.status === 'done' ? d : undefined;
        },
        10_000,
        'the unsubscribe confirmation handled',
      );

      // Assess
      assert.equal(answer.status, 200);
      assert.equal(kept.type, 'UnsubscribeConfirmation');
      assert.equal((await runs()).length, runsBefore);
      assert.ok(!sns.confirmations.includes(message.SubscribeURL!), 'an unsubscription is not confirmed');
    });
  });
}
