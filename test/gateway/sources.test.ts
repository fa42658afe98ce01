// Each webhook source beside Slack, with real signed requests over real HTTP (node:http front) and in process
// (Hono routes, as Lambda calls them): JSON, form-encoded and base64 bodies; forged, stale, replayed and oversized
// requests, of which nothing is stored.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { DeliveryRecord } from '../../src/gateway/inbox-store.ts';
import { parseConfig } from '../../src/kernel/config.ts';
import { ConfigError } from '../../src/kernel/errors.ts';
import { backends, type Running, runChronops } from '../support/harness.ts';
import { slackConfigObject } from '../support/slack.ts';
import {
  EVENTS_KEY,
  ecsTaskStopped,
  githubHeaders,
  JANDI_TOKENS,
  jandiMessage,
  STANDARD_SECRET,
  standardHeaders,
  teamsActivity,
  teamsHeaders,
  WEBHOOK_ENV,
  webhookSources,
} from '../support/webhooks.ts';

function config(sources: unknown[], env: Record<string, string> = WEBHOOK_ENV) {
  const { slack: _slack, ...base } = slackConfigObject();
  return parseConfig({ ...base, sources }, env);
}

for (const door of ['hono', 'node:http'] as const)
  describe(`webhook sources (${door})`, () => {
    let run: Running;

    before(async () => {
      run = await runChronops(backends[0]!, {
        config: config([
          ...webhookSources({ maxBodyBytes: 2048, replyWithinMs: 0 }),
          { kind: 'teams', name: 'teams-off', secret: `\${NOT_SET_ANYWHERE}` },
        ]),
        gatewayWorker: false,
      });
    });
    after(async () => {
      await run.stopAll();
    });

    const post = (path: string, body: string, headers: Record<string, string>) => {
      const init = { method: 'POST', headers, body };
      return door === 'hono' ? run.app.request(path, init) : fetch(`${run.url}${path}`, init);
    };
    const stored = async (source: string): Promise<DeliveryRecord[]> =>
      run.gateway.inbox.list(1000, { source });
    const json = { 'content-type': 'application/json' };

    describe('JANDI', () => {
      it('stores a message whose token is one room’s, under that room, without the token', async () => {
        // Prepare
        const ops = jandiMessage({ text: '/chronops help' });
        const infra = jandiMessage({ token: JANDI_TOKENS.infra, text: '/chronops list' });
        // Act
        const a = await post('/jandi/webhook', JSON.stringify(ops), json);
        const b = await post('/jandi/webhook', JSON.stringify(infra), json);
        // Assess
        assert.deepEqual([a.status, b.status], [200, 200]);
        assert.match(a.headers.get('content-type') ?? '', /application\/vnd\.tosslab\.jandi-v2\+json/);
        assert.ok(((await a.json()) as { body: string }).body.length > 0);
        const rows = await stored('webhook');
        const row = rows.find((r) => JSON.parse(r.body).text === '/chronops help');
        assert.equal(row?.kind, 'jandi');
        assert.equal(row?.subtype, 'ops');
        assert.equal(row?.type, 'message');
        assert.equal(row?.partitionKey, 'shop/ops');
        assert.equal(JSON.parse(row!.body).token, undefined);
        assert.doesNotMatch(row!.body, new RegExp(JANDI_TOKENS.ops));
        assert.equal(rows.find((r) => JSON.parse(r.body).text === '/chronops list')?.subtype, 'infra');
      });

      it('refuses a wrong or missing token and a stale message with 401, storing nothing', async () => {
        const before = (await stored('webhook')).length;
        const wrong = await post('/jandi/webhook', JSON.stringify(jandiMessage({ token: 'guess' })), json);
        const { token: _t, ...noToken } = jandiMessage();
        const missing = await post('/jandi/webhook', JSON.stringify(noToken), json);
        const old = new Date(Date.now() - 301_000).toISOString();
        const stale = await post('/jandi/webhook', JSON.stringify(jandiMessage({ createdAt: old })), json);
        assert.deepEqual([wrong.status, missing.status, stale.status], [401, 401, 401]);
        assert.match(await stale.text(), /createdAt is 30\ds old/);
        assert.equal((await stored('webhook')).length, before);
      });

      it('stores a redelivered message once (JANDI sends no id: the key is what it sends)', async () => {
        const message = JSON.stringify(jandiMessage({ text: '/chronops again' }));
        const answers = await Promise.all([1, 2, 3].map(() => post('/jandi/webhook', message, json)));
        assert.ok(answers.every((a) => a.status === 200));
        const rows = (await stored('webhook')).filter((r) => JSON.parse(r.body).text === '/chronops again');
        assert.equal(rows.length, 1);
      });

      it('takes form-encoded and base64 bodies', async () => {
        const form = new URLSearchParams(jandiMessage({ text: '/chronops form' })).toString();
        const a = await post('/jandi/webhook', form, { 'content-type': 'application/x-www-form-urlencoded' });
        const b64 = Buffer.from(JSON.stringify(jandiMessage({ text: '/chronops b64' }))).toString('base64');
        const b = await post('/jandi/webhook', b64, { ...json, 'content-transfer-encoding': 'base64' });
        assert.deepEqual([a.status, b.status], [200, 200]);
        const texts = (await stored('webhook')).map((r) => JSON.parse(r.body).text);
        assert.ok(texts.includes('/chronops form') && texts.includes('/chronops b64'));
      });
    });

    describe('Teams', () => {
      it('stores a signed activity under its id and answers within the request', async () => {
        const body = teamsActivity({ id: `t-${door}-1`, text: 'list' });
        const answer = await post('/teams/teams', body, teamsHeaders(body));
        assert.equal(answer.status, 200);
        assert.equal(((await answer.json()) as { type: string }).type, 'message');
        const row = (await stored('teams')).find((r) => r.key === `teams:t-${door}-1`);
        assert.equal(row?.body, body);
        assert.equal(row?.partitionKey, 'tenant-0001/19:abc@thread.skype;messageid=1700000000000');
      });

      it('refuses another key, a changed byte, no header and a stale timestamp with 401', async () => {
        const before = (await stored('teams')).length;
        const body = teamsActivity({ text: 'now --ecs 12' });
        const other = await post(
          '/teams/teams',
          body,
          teamsHeaders(body, Buffer.from('another').toString('base64')),
        );
        const changed = await post('/teams/teams', body.replace('12', '19'), teamsHeaders(body));
        const none = await post('/teams/teams', body, json);
        const staleBody = teamsActivity({ timestamp: new Date(Date.now() - 3_600_000).toISOString() });
        const stale = await post('/teams/teams', staleBody, teamsHeaders(staleBody));
        assert.deepEqual([other.status, changed.status, none.status, stale.status], [401, 401, 401, 401]);
        assert.equal((await stored('teams')).length, before);
      });

      it('verifies a base64 body over the decoded bytes, and stores a replay once', async () => {
        const body = teamsActivity({ id: `t-${door}-b64` });
        const headers = { ...teamsHeaders(body), 'content-transfer-encoding': 'base64' };
        const answers = await Promise.all(
          [1, 2].map(() => post('/teams/teams', Buffer.from(body).toString('base64'), headers)),
        );
        assert.deepEqual(
          answers.map((a) => a.status),
          [200, 200],
        );
        assert.equal((await stored('teams')).filter((r) => r.key === `teams:t-${door}-b64`).length, 1);
      });

      it('answers 404 on a configured source that is off, saying why', async () => {
        const body = teamsActivity();
        const answer = await post('/teams/teams-off', body, teamsHeaders(body));
        assert.equal(answer.status, 404);
        assert.match(await answer.text(), /NOT_SET_ANYWHERE is not set/);
      });
    });

    describe('generic: Standard Webhooks', () => {
      it('stores a signed message under its webhook-id with its type, once however often it comes', async () => {
        const body = JSON.stringify({ type: 'invoice.paid', data: { id: 'in_1' } });
        const headers = standardHeaders(body, { id: `msg_${door}_1` });
        const answers = await Promise.all([1, 2].map(() => post('/hooks/billing', body, headers)));
        assert.deepEqual(
          answers.map((a) => a.status),
          [200, 200],
        );
        const rows = (await stored('billing')).filter((r) => r.key === `billing:msg_${door}_1`);
        assert.equal(rows.length, 1);
        assert.equal(rows[0]?.type, 'invoice.paid');
        assert.equal(rows[0]?.kind, 'generic');
      });

      it('accepts one valid signature among several (a secret being rotated)', async () => {
        const body = JSON.stringify({ type: 'invoice.created' });
        const good = standardHeaders(body);
        const old = standardHeaders(body, {
          id: good['webhook-id'],
          timestamp: Number(good['webhook-timestamp']),
          secret: `whsec_${Buffer.from('old-secret-old-secret').toString('base64')}`,
        });
        const headers = {
          ...good,
          'webhook-signature': `${old['webhook-signature']} ${good['webhook-signature']}`,
        };
        assert.equal((await post('/hooks/billing', body, headers)).status, 200);
      });

      it('refuses another secret, an old or future timestamp and missing headers with 401', async () => {
        const before = (await stored('billing')).length;
        const body = JSON.stringify({ type: 'invoice.paid' });
        const now = Math.floor(Date.now() / 1000);
        const wrong = await post(
          '/hooks/billing',
          body,
          standardHeaders(body, { secret: `whsec_${Buffer.from('nope-nope-nope').toString('base64')}` }),
        );
        // Ten minutes out, against a 5-minute tolerance: a slow machine's seconds between \`now\` and the request
        // cannot bring them inside it (at 301 s a loaded run once saw the future one accepted).
        const stale = await post('/hooks/billing', body, standardHeaders(body, { timestamp: now - 600 }));
        const future = await post('/hooks/billing', body, standardHeaders(body, { timestamp: now + 600 }));
        const missing = await post('/hooks/billing', body, json);
        assert.deepEqual([wrong.status, stale.status, future.status, missing.status], [401, 401, 401, 401]);
        assert.equal((await stored('billing')).length, before);
        assert.ok(STANDARD_SECRET.startsWith('whsec_'));
      });
    });

    describe('generic: GitHub', () => {
      it('stores JSON and form-encoded deliveries with their event and action', async () => {
        const body = JSON.stringify({ action: 'opened', repository: { full_name: 'shop/web' } });
        const a = await post(
          '/hooks/github',
          body,
          githubHeaders(body, { event: 'pull_request', delivery: `${door}-1` }),
        );
        const form = new URLSearchParams({ payload: body }).toString();
        const b = await post(
          '/hooks/github',
          form,
          githubHeaders(form, {
            event: 'issues',
            delivery: `${door}-2`,
            contentType: 'application/x-www-form-urlencoded',
          }),
        );
        assert.deepEqual([a.status, b.status], [200, 200]);
        const rows = await stored('github');
        const pr = rows.find((r) => r.key === `github:${door}-1`);
        assert.deepEqual([pr?.type, pr?.subtype, pr?.partitionKey], ['pull_request', 'opened', 'shop/web']);
        assert.equal(rows.find((r) => r.key === `github:${door}-2`)?.type, 'issues');
      });

      it('refuses a bad signature with 401', async () => {
        const body = JSON.stringify({ action: 'closed' });
        const answer = await post('/hooks/github', body, githubHeaders(body, { secret: 'not-it' }));
        assert.equal(answer.status, 401);
      });
    });

    describe('EventBridge (API destination push)', () => {
      it('stores an event under its id with its detail-type and source, once', async () => {
        const body = ecsTaskStopped({ id: `ev-${door}-1` });
        const headers = { ...json, 'x-api-key': EVENTS_KEY };
        const answers = await Promise.all([1, 2].map(() => post('/events/ecs', body, headers)));
        assert.deepEqual(
          answers.map((a) => a.status),
          [200, 200],
        );
        const rows = (await stored('ecs')).filter((r) => r.key === `ecs:ev-${door}-1`);
        assert.equal(rows.length, 1);
        assert.deepEqual(
          [rows[0]?.kind, rows[0]?.type, rows[0]?.subtype, rows[0]?.partitionKey],
          [
            'events',
            'ECS Task State Change',
            'aws.ecs',
            'arn:aws:ecs:us-east-1:123456789012:task/price/0abc',
          ],
        );
      });

      it('refuses a wrong or missing API key (401) and a body that is no event (400)', async () => {
        const before = (await stored('ecs')).length;
        const body = ecsTaskStopped();
        const wrong = await post('/events/ecs', body, { ...json, 'x-api-key': 'guess' });
        const missing = await post('/events/ecs', body, json);
        const notEvent = await post('/events/ecs', '{"hello":1}', { ...json, 'x-api-key': EVENTS_KEY });
        assert.deepEqual([wrong.status, missing.status, notEvent.status], [401, 401, 400]);
        assert.equal((await stored('ecs')).length, before);
      });
    });

    it('every signed source takes its body base64-encoded (signed over the decoded bytes), a GitHub redelivery once, and refuses its oversized body with 413', async () => {
      // Prepare: each source's real signed request, then the same bytes sent base64-encoded as a proxy in front of
      // API Gateway forwards them (Content-Transfer-Encoding: base64).
      const b64 = (headers: Record<string, string>) => ({
        ...headers,
        'content-transfer-encoding': 'base64',
      });
      const enc = (body: string) => Buffer.from(body).toString('base64');
      const standard = JSON.stringify({ type: 'invoice.paid', data: { id: `in_b64_${door}` } });
      const gh = JSON.stringify({ action: 'opened', repository: { full_name: 'shop/web' } });
      const ghForm = new URLSearchParams({ payload: gh }).toString();
      const event = ecsTaskStopped({ id: `ev-b64-${door}` });
      // Act
      const answers = await Promise.all([
        post('/hooks/billing', enc(standard), b64(standardHeaders(standard, { id: `msg_b64_${door}` }))),
        post(
          '/hooks/github',
          enc(gh),
          b64(githubHeaders(gh, { event: 'issues', delivery: `${door}-b64-1` })),
        ),
        post(
          '/hooks/github',
          enc(ghForm),
          b64(
            githubHeaders(ghForm, {
              event: 'issues',
              delivery: `${door}-b64-2`,
              contentType: 'application/x-www-form-urlencoded',
            }),
          ),
        ),
        post('/events/ecs', enc(event), b64({ ...json, 'x-api-key': EVENTS_KEY })),
      ]);
      const replay = await post(
        '/hooks/github',
        gh,
        githubHeaders(gh, { event: 'issues', delivery: `${door}-b64-1` }),
      );
      // Assess
      assert.deepEqual(
        answers.map((a) => a.status),
        [200, 200, 200, 200],
      );
      assert.equal(replay.status, 200);
      const keys = (await run.gateway.inbox.list(1000)).map((r) => r.key);
      for (const key of [
        `billing:msg_b64_${door}`,
        `github:${door}-b64-1`,
        `github:${door}-b64-2`,
        `ecs:ev-b64-${door}`,
      ])
        assert.equal(keys.filter((k) => k === key).length, 1, key);
      const row = (await stored('github')).find((r) => r.key === `github:${door}-b64-2`);
      assert.equal(row?.body, ghForm, 'stored as the sender sent it (decoded)');
      // Oversized (limit 2048 here): 413 for each, nothing stored.
      const before = (await run.gateway.inbox.list(1000)).length;
      const bigStandard = JSON.stringify({ type: 'big', data: 'x'.repeat(3000) });
      const bigGh = JSON.stringify({ action: 'big', pad: 'x'.repeat(3000) });
      const bigEvent = ecsTaskStopped().replace('"version":"0"', `"version":"0","pad":"${'x'.repeat(3000)}"`);
      const tooLarge = await Promise.all([
        post('/hooks/billing', bigStandard, standardHeaders(bigStandard)),
        post('/hooks/github', bigGh, githubHeaders(bigGh, { delivery: `${door}-big` })),
        post('/events/ecs', bigEvent, { ...json, 'x-api-key': EVENTS_KEY }),
      ]);
      assert.deepEqual(
        tooLarge.map((a) => a.status),
        [413, 413, 413],
      );
      assert.equal((await run.gateway.inbox.list(1000)).length, before);
    });

    it('refuses a body over a source’s limit with 413, and an unknown source with 404, storing nothing', async () => {
      const count = async () => (await run.gateway.inbox.list(1000)).length;
      const before = await count();
      const big = JSON.stringify(jandiMessage({ text: 'x'.repeat(3000) }));
      const tooLarge = await post('/jandi/webhook', big, json);
      const bigTeams = teamsActivity({ text: 'y'.repeat(3000) });
      const tooLargeTeams = await post('/teams/teams', bigTeams, teamsHeaders(bigTeams));
      const unknown = await post('/hooks/nope', '{}', json);
      assert.deepEqual([tooLarge.status, tooLargeTeams.status, unknown.status], [413, 413, 404]);
      assert.equal(await count(), before);
    });
  });

describe('sources in the config', () => {
  it('names a missing secret of a source that must be on, and refuses a secret written in the file', () => {
    assert.throws(
      () => config([{ kind: 'teams', name: 'teams', secret: `\${TEAMS_NOT_SET}`, enabled: true }]),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.issues.some(
          (i) => i.field === 'sources[0].secret' && /TEAMS_NOT_SET is not set/.test(i.message),
        ),
    );
    assert.throws(
      () => config([{ kind: 'generic', name: 'gh', scheme: 'github', secret: 'ghs-actual-secret-value' }]),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.issues.some((i) => /secrets are not written in the config file/.test(i.message)),
    );
    assert.throws(
      () => config([{ kind: 'generic', name: 'slack', scheme: 'github', secret: `\${GITHUB_SECRET}` }]),
      (error: unknown) => error instanceof ConfigError && /used already/.test(error.message),
    );
  });

  it('keeps the sources’ secrets out of the logs', () => {
    const c = config(webhookSources());
    for (const value of Object.values(WEBHOOK_ENV))
      assert.ok(c.secrets.includes(value), 'a secret to redact');
    assert.deepEqual(
      c.sources.on.map((s) => s.name),
      ['webhook', 'teams', 'billing', 'github', 'ecs'],
    );
  });
});
