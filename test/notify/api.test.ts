// /api/notify as the CLI and a person setting up a webhook use it: the destinations without their URLs, a test
// message and its outcome, the latest notifications, and the token in front of it all.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseConfig } from '../../src/kernel/config.ts';
import { FakeWebhook } from '../support/fake-webhooks.ts';
import { backends, eventually, type Running, runChronops } from '../support/harness.ts';

describe('/api/notify', () => {
  const jandi = new FakeWebhook('jandi');
  let run: Running;

  before(async () => {
    await jandi.start();
    const config = parseConfig(
      {
        server: { host: '127.0.0.1', port: 0 },
        database: { dataDir: '/nonexistent-not-used' },
        notify: {
          destinations: { room: { kind: 'jandi', url: jandi.url('room') }, page: { kind: 'console' } },
        },
      },
      {},
    );
    run = await runChronops(backends[0]!, { config });
  });
  after(async () => {
    await run.stopAll();
    await jandi.stop();
  });

  const call = (method: string, path: string, body?: unknown) =>
    run.app.request(path, {
      method,
      headers: { 'content-type': 'application/json', 'x-chronops-actor': 'tester' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });

  it('lists the destinations without their URLs', async () => {
    const response = await call('GET', '/api/notify/destinations');
    assert.equal(response.status, 200);
    const text = await response.text();
    assert.doesNotMatch(text, /127\.0\.0\.1|connect-api/);
    assert.deepEqual(
      JSON.parse(text).destinations.map((d: { name: string; kind: string }) => [d.name, d.kind]),
      [
        ['room', 'jandi'],
        ['page', 'console'],
      ],
    );
  });

  it('sends a test message, and its outcome shows in the messages', async () => {
    // Act
    const response = await call('POST', '/api/notify/destinations/room/test', { text: '연결 확인' });
    // Assess
    assert.equal(response.status, 202);
    const { key } = (await response.json()) as { key: string };
    await eventually(async () => jandi.delivered('room').length === 1);
    const body = jandi.delivered('room')[0]!.body as {
      body: string;
      connectInfo: Array<{ description: string }>;
    };
    assert.match(body.body, /chronops test message\*\*\n연결 확인/);
    assert.equal(body.connectInfo[1]!.description, 'tester');
    const listed = await eventually(async () => {
      const r = (await (await call('GET', '/api/notify/messages?destination=room')).json()) as {
        messages: Array<{ key: string; status: string }>;
      };
      return r.messages.find((m) => m.key === key && m.status === 'posted');
    });
    assert.equal(listed.status, 'posted');
  });

  it('sends again, on request, a message that failed; refuses one that was sent', async () => {
    // Prepare: the room's webhook was removed, then put back
    jandi.fail({ status: 404, body: 'webhook not found' });
    const sent = await call('POST', '/api/notify/destinations/room/test', { text: 'retry me' });
    const { key } = (await sent.json()) as { key: string };
    const status = async () => {
      const r = (await (await call('GET', '/api/notify/messages?destination=room')).json()) as {
        messages: Array<{ key: string; status: string }>;
      };
      return r.messages.find((m) => m.key === key)?.status;
    };
    await eventually(async () => (await status()) === 'failed');
    const before = jandi.delivered('room').length;
    // Act
    const resend = await call('POST', `/api/notify/messages/${encodeURIComponent(key)}/resend`, {});
    // Assess
    assert.equal(resend.status, 202);
    await eventually(async () => (await status()) === 'posted');
    assert.equal(jandi.delivered('room').length, before + 1);
    const again = await call('POST', `/api/notify/messages/${encodeURIComponent(key)}/resend`, {});
    assert.equal(again.status, 409);
  });

  it('answers a bad request precisely', async () => {
    const unknown = await call('POST', '/api/notify/destinations/nowhere/test', {});
    const badBody = await call('POST', '/api/notify/destinations/room/test', { text: 5 });
    const badJson = await run.app.request('/api/notify/destinations/room/test', {
      method: 'POST',
      body: '{',
    });
    const badStatus = await call('GET', '/api/notify/messages?status=lost');
    assert.equal(unknown.status, 404);
    assert.match(
      ((await unknown.json()) as { error: { message: string } }).error.message,
      /configured: room, page/,
    );
    assert.equal(badBody.status, 400);
    assert.equal(badJson.status, 400);
    assert.equal(badStatus.status, 400);
  });
});

describe('/api/notify behind the token', () => {
  it('refuses a request without it', async () => {
    const saved = process.env.CHRONOPS_TOKEN;
    process.env.CHRONOPS_TOKEN = 'a-long-enough-test-token';
    const run = await runChronops(backends[0]!, {
      config: parseConfig({ server: { host: '127.0.0.1', port: 0 }, database: { dataDir: '/x' } }, {}),
    });
    try {
      const without = await run.app.request('/api/notify/destinations');
      const withToken = await run.app.request('/api/notify/destinations', {
        headers: { authorization: 'Bearer a-long-enough-test-token' },
      });
      assert.equal(without.status, 401);
      assert.equal(withToken.status, 200);
    } finally {
      await run.stopAll();
      if (saved === undefined) delete process.env.CHRONOPS_TOKEN;
      else process.env.CHRONOPS_TOKEN = saved;
    }
  });
});
