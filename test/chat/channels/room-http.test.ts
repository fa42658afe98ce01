// JANDI and Teams end to end over real HTTP: a request with JANDI's token or Teams' HMAC signature goes through the
// gateway (verified, stored, held), the chat channel and the one router; a quick command is answered in the HTTP
// response in the platform's format, a slow one is answered "started" and its outcome arrives later at a fake
// incoming webhook on loopback; a wrong token or signature runs nothing.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { signTeamsRequest } from '../../../src/gateway/sources/teams.ts';
import { parseConfig } from '../../../src/kernel/config.ts';
import { FakeWebhook } from '../../support/fake-webhooks.ts';
import { backends, eventually, type Running, runChronops } from '../../support/harness.ts';
import {
  JANDI_TOKENS,
  jandiMessage,
  TEAMS_SECRET,
  teamsActivity,
  WEBHOOK_ENV,
} from '../../support/webhooks.ts';

const envRef = (name: string) => `\${${name}}`;

describe('JANDI and Teams over HTTP, through the gateway and the router', () => {
  const jandiHook = new FakeWebhook('jandi');
  const teamsHook = new FakeWebhook('teams');
  let run: Running;
  let slowRuns = 0;

  before(async () => {
    await Promise.all([jandiHook.start(), teamsHook.start()]);
    const config = parseConfig(
      {
        server: { host: '127.0.0.1', port: 0 },
        database: { dataDir: '/nonexistent-not-used' },
        sources: [
          {
            kind: 'jandi',
            name: 'jandi',
            rooms: [
              { name: 'ops', token: envRef('JANDI_TOKEN_OPS'), replyTo: 'ops-room', locale: 'ko' },
              { name: 'infra', token: envRef('JANDI_TOKEN_INFRA') },
            ],
            replyWithinMs: 1500,
          },
          {
            kind: 'teams',
            name: 'teams',
            secret: envRef('TEAMS_SECRET'),
            replyTo: 'ops-teams',
            replyWithinMs: 1500,
          },
        ],
        notify: {
          destinations: {
            'ops-room': { kind: 'jandi', url: jandiHook.url('ops') },
            'ops-teams': { kind: 'teams', url: teamsHook.url('ops') },
          },
        },
        jandi: { permissions: { delete: { users: ['boss@example.com'] } } },
      },
      WEBHOOK_ENV,
    );
    run = await runChronops(backends[0]!, { config });
    // A command that takes longer than the response may wait (an RDS start, say).
    run.chat.handler.command('slow', {
      run: async () => {
        slowRuns += 1;
        await new Promise((resolve) => setTimeout(resolve, 1500));
        return [{ text: ':white_check_mark: started rds shop-db: available' }];
      },
      usage: { syntax: 'slow', about: { en: 'slow', ko: '느림' }, example: 'slow' },
    });
  });
  after(async () => {
    await run.stopAll();
    await Promise.all([jandiHook.stop(), teamsHook.stop()]);
  });

  const post = (path: string, body: string, headers: Record<string, string> = {}) =>
    fetch(`${run.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
    });

  it('JANDI: a quick command is answered in the response, in JANDI format and the room language', async () => {
    // Act
    const started = Date.now();
    const response = await post('/jandi/jandi', JSON.stringify(jandiMessage({ text: '/chronops lsit' })));
    // Assess
    assert.equal(response.status, 200);
    const body = (await response.json()) as { body: string; connectColor: string };
    assert.ok(Date.now() - started < 1500, 'answered within the hold');
    assert.match(body.body, /알 수 없는 명령 "lsit" 입니다.*"list" 을\(를\) 입력하려고 하셨나요/);
    assert.equal(body.connectColor, '#F2994A');
    const [audit] = await run.store.listAudit({ action: 'chat.', limit: 1 });
    assert.equal(audit!.source, 'jandi');
    assert.equal(audit!.actor, 'kim@example.com');
    assert.equal(audit!.details?.channel, 'ops');
  });

  it('JANDI: a slow command answers "started" at once; the outcome follows through the room webhook, once', async () => {
    // Prepare
    const message = jandiMessage({ text: '/chronops slow' });
    // Act
    const response = await post('/jandi/jandi', JSON.stringify(message));
    const again = await post('/jandi/jandi', JSON.stringify(message)); // JANDI sends it again
    // Assess
    assert.equal(response.status, 200);
    assert.match(((await response.json()) as { body: string }).body, /처리 중입니다/);
    assert.equal(again.status, 200);
    await eventually(async () => jandiHook.delivered('ops').length === 1);
    assert.equal(
      (jandiHook.delivered('ops')[0]!.body as { body: string }).body,
      '✅ started rds shop-db: available',
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(jandiHook.delivered('ops').length, 1);
    assert.equal(slowRuns, 1);
  });

  it('JANDI: the room permissions apply to the writer', async () => {
    const response = await post(
      '/jandi/jandi',
      JSON.stringify(jandiMessage({ token: JANDI_TOKENS.infra, text: '/chronops delete w_1' })),
    );
    const body = (await response.json()) as { body: string };
    assert.match(body.body, /only listed people and groups may use `delete`.*jandi\.permissions\.delete/);
  });

  it('JANDI: a wrong token gets 401 and runs nothing', async () => {
    const before = (await run.store.listAudit({ action: 'chat.', limit: 1000 })).length;
    const response = await post(
      '/jandi/jandi',
      JSON.stringify(jandiMessage({ token: 'not-a-token', text: '/chronops help' })),
    );
    assert.equal(response.status, 401);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal((await run.store.listAudit({ action: 'chat.', limit: 1000 })).length, before);
  });

  it('Teams: a signed mention is answered within 5 s with an Adaptive Card; a slow one follows by the Workflows webhook', async () => {
    // Prepare
    const quick = teamsActivity({ text: 'help' });
    const slow = teamsActivity({ text: 'slow' });
    // Act
    const t0 = Date.now();
    const a = await post('/teams/teams', quick, { authorization: signTeamsRequest(TEAMS_SECRET, quick) });
    const b = await post('/teams/teams', slow, { authorization: signTeamsRequest(TEAMS_SECRET, slow) });
    // Assess
    assert.equal(a.status, 200);
    const card = (await a.json()) as {
      type: string;
      attachments: Array<{ contentType: string; content: unknown }>;
    };
    assert.ok(Date.now() - t0 < 5000);
    assert.equal(card.type, 'message');
    assert.equal(card.attachments[0]!.contentType, 'application/vnd.microsoft.card.adaptive');
    assert.match(JSON.stringify(card.attachments[0]!.content), /Commands:/);
    assert.match(JSON.stringify(await b.json()), /Working on it/);
    await eventually(async () => teamsHook.delivered('ops').length === 1);
    assert.match(JSON.stringify(teamsHook.delivered('ops')[0]!.body), /started rds shop-db: available/);
    const audits = await run.store.listAudit({ action: 'chat.help', limit: 1 });
    assert.equal(audits[0]!.actor, '0f0e0d0c-aaaa-bbbb-cccc-000000000001');
  });

  it('Teams: a forged signature gets 401', async () => {
    const body = teamsActivity({ text: 'help' });
    const response = await post('/teams/teams', body, {
      authorization: signTeamsRequest(Buffer.from('another secret').toString('base64'), body),
    });
    assert.equal(response.status, 401);
  });
});
