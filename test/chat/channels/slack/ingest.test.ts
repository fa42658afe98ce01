// The Slack gateway on its three request URLs: real signed requests (and forged, stale, future, altered and
// oversized ones) against chronops in this process and over real HTTP; what is stored before the 200.
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, afterEach, before, describe, it } from 'node:test';
import { SlackSignature, signSlackRequest } from '../../../../src/chat/channels/slack/signature.ts';
import { Gateway } from '../../../../src/gateway/gateway.ts';
import type { InboxItem } from '../../../../src/gateway/inbox-store.ts';
import { SlackSource } from '../../../../src/gateway/sources/slack.ts';
import { parseConfig } from '../../../../src/kernel/config.ts';
import { ConfigError } from '../../../../src/kernel/errors.ts';
import { createLogger } from '../../../../src/kernel/logger.ts';
import { FakeSlack } from '../../../support/fake-slack.ts';
import { backends, type Running, runChronops } from '../../../support/harness.ts';
import { preparedDataDir, startServer, writeConfig } from '../../../support/process.ts';
import {
  cancelBody,
  commandBody,
  deliver,
  mentionBody,
  SIGNING_SECRET,
  signedHeaders,
  slackConfig,
  slackConfigObject,
  slackEnv,
  type Target,
} from '../../../support/slack.ts';

const now = () => Math.floor(Date.now() / 1000);

for (const door of ['hono', 'node:http'] as const)
  describe(`Slack request URLs (${door})`, () => {
    let fake: FakeSlack;
    let run: Running;

    before(async () => {
      fake = await new FakeSlack().start();
      // No inbox worker: these tests look at what the gateway stored, before anything handles it.
      run = await runChronops(backends[0]!, {
        config: slackConfig(fake, { maxBodyBytes: 2048 }),
        gatewayWorker: false,
      });
    });
    after(async () => {
      await run.stopAll();
      await fake.stop();
    });

    /** In process through the Hono routes (Lambda's way), or over HTTP to the node:http front of the server. */
    const target = (): Target => (door === 'hono' ? run.app : run.url);
    const post = (path: string, init: RequestInit) =>
      door === 'hono' ? run.app.request(path, init) : fetch(`${run.url}${path}`, init);

    async function inboxKeys(): Promise<string[]> {
      return (await run.gateway.inbox.list()).map((r) => r.key).sort();
    }

    it('answers url_verification with its challenge, only when signed', async () => {
      // Prepare
      const body = JSON.stringify({
        token: 't',
        challenge: 'c-3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P',
        type: 'url_verification',
      });
      // Act
      const good = await deliver(target(), 'events', body);
      const forged = await deliver(target(), 'events', body, { secret: 'not-the-secret' });
      // Assess
      assert.equal(good.status, 200);
      assert.deepEqual(await good.json(), {
        challenge: 'c-3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P',
      });
      assert.equal(forged.status, 401);
      assert.doesNotMatch(await forged.text(), /c-3eZbrw/);
    });

    it('answers ssl_check with 200 when signed, 401 when not', async () => {
      const body = 'ssl_check=1&token=legacy';
      assert.equal((await deliver(target(), 'commands', body)).status, 200);
      assert.equal((await deliver(target(), 'commands', body, { secret: 'nope' })).status, 401);
    });

    it('stores an event_callback, a slash command and a block action under their delivery keys', async () => {
      // Prepare
      const event = mentionBody({ text: 'help', eventId: 'Ev0STORE1' });
      const command = commandBody({ text: 'list', triggerId: 'trig.STORE2' });
      const action = cancelBody({ windowId: 'abcdefgh', messageTs: '1.000001', triggerId: 'trig.STORE3' });
      // Act
      const answers = await Promise.all([
        deliver(target(), 'events', event),
        deliver(target(), 'commands', command),
        deliver(target(), 'interactions', action),
      ]);
      // Assess
      assert.deepEqual(
        answers.map((a) => a.status),
        [200, 200, 200],
      );
      const rows = await run.gateway.inbox.list();
      const byKey = new Map(rows.map((r) => [r.key, r]));
      assert.equal(byKey.get('slack:event:Ev0STORE1')?.body, event);
      assert.equal(byKey.get('slack:event:Ev0STORE1')?.type, 'event_callback');
      assert.equal(byKey.get('slack:event:Ev0STORE1')?.subtype, 'app_mention');
      assert.equal(byKey.get('slack:command:trig.STORE2')?.body, command);
      assert.equal(byKey.get('slack:interaction:trig.STORE3')?.type, 'interaction');
      assert.equal(byKey.get('slack:command:trig.STORE2')?.subtype, '/chronops');
    });

    it('stores a redelivery once, whatever its retry number, even when the copies arrive together', async () => {
      // Prepare
      const body = mentionBody({ text: 'help', eventId: 'Ev0DUP' });
      // Act
      const answers = await Promise.all(
        [undefined, 1, 2, 3, 0].map((retryNum) =>
          deliver(target(), 'events', body, retryNum === undefined ? {} : { retryNum }),
        ),
      );
      // Assess
      assert.ok(answers.every((a) => a.status === 200));
      const rows = (await run.gateway.inbox.list()).filter((r) => r.key === 'slack:event:Ev0DUP');
      assert.equal(rows.length, 1);
    });

    for (const [name, options, message] of [
      [
        'a signature made with another secret',
        () => ({ secret: 'another-secret-entirely' }),
        /signature does not match/,
      ],
      ['a timestamp 301 s old', () => ({ timestamp: now() - 301 }), /s old \(more than 300s\)/],
      // Ten minutes, not 301 s: the second can turn between taking 'now' here and the server's check, and the
      // gap to a future time only shrinks with it (seen: 301 s accepted as 300 in a fresh-clone run).
      [
        'a timestamp ten minutes in the future',
        () => ({ timestamp: now() + 600 }),
        /s in the future \(more than 300s\)/,
      ],
    ] as const) {
      it(`refuses ${name} with 401 and stores nothing`, async () => {
        // Prepare
        const before = await inboxKeys();
        const body = mentionBody({ text: 'create 2 --ecs 12' });
        // Act
        const answer = await deliver(target(), 'events', body, options());
        // Assess
        assert.equal(answer.status, 401);
        assert.match(await answer.text(), message);
        assert.deepEqual(await inboxKeys(), before);
      });
    }

    it('accepts a timestamp 299 s away in either direction', async () => {
      const a = await deliver(target(), 'events', mentionBody({ text: 'help' }), { timestamp: now() - 299 });
      const b = await deliver(target(), 'events', mentionBody({ text: 'help' }), { timestamp: now() + 299 });
      assert.deepEqual([a.status, b.status], [200, 200]);
    });

    it('refuses a body with one byte changed after signing', async () => {
      // Prepare
      const body = mentionBody({ text: 'create 2 --ecs 12', eventId: 'Ev0TAMPER' });
      const headers = signedHeaders(body, 'application/json');
      const tampered = body.replace('--ecs 12', '--ecs 19');
      assert.equal(tampered.length, body.length);
      // Act
      const answer = await post('/slack/events', { method: 'POST', headers, body: tampered });
      // Assess
      assert.equal(answer.status, 401);
      assert.ok(!(await inboxKeys()).includes('slack:event:Ev0TAMPER'));
    });

    it('refuses a request without signature headers', async () => {
      const body = mentionBody({ text: 'help' });
      const answer = await post('/slack/events', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
      assert.equal(answer.status, 401);
    });

    it('refuses a signed but malformed body with 400 and stores nothing', async () => {
      // Prepare
      const before = await inboxKeys();
      // Act
      const notJson = await deliver(target(), 'events', '{"type": "event_callback", ', {});
      const noId = await deliver(
        target(),
        'events',
        JSON.stringify({ type: 'event_callback', event: { type: 'app_mention' } }),
      );
      const noCommand = await deliver(target(), 'commands', 'text=list&user_id=U1');
      const badType = await deliver(target(), 'events', 'a=b', { contentType: 'text/plain' });
      // Assess
      assert.deepEqual([notJson.status, noId.status, noCommand.status, badType.status], [400, 400, 400, 400]);
      assert.deepEqual(await inboxKeys(), before);
    });

    it('refuses a body over the limit with 413, declared or streamed, without storing it', async () => {
      // Prepare: 3 KB of text in a mention, over the 2 KiB limit of this config.
      const before = await inboxKeys();
      const body = mentionBody({ text: `help ${'x'.repeat(3000)}`, eventId: 'Ev0HUGE' });
      const headers = signedHeaders(body, 'application/json');
      // Act: with Content-Length, and streamed in chunks without one.
      const declared = await post('/slack/events', { method: 'POST', headers, body });
      const chunked =
        door === 'hono'
          ? (
              await run.app.request('/slack/events', {
                method: 'POST',
                headers,
                body: new ReadableStream({
                  start(controller) {
                    for (let i = 0; i < body.length; i += 500)
                      controller.enqueue(Buffer.from(body.slice(i, i + 500)));
                    controller.close();
                  },
                }),
                duplex: 'half',
              } as RequestInit)
            ).status
          : await new Promise<number>((resolve, reject) => {
              const req = httpRequest(`${run.url}/slack/events`, { method: 'POST', headers }, (res) => {
                res.resume();
                resolve(res.statusCode ?? 0);
              });
              req.on('error', reject);
              for (let i = 0; i < body.length; i += 500) req.write(body.slice(i, i + 500));
              req.end();
            });
      // Assess
      assert.equal(declared.status, 413);
      assert.equal(chunked, 413);
      assert.deepEqual(await inboxKeys(), before);
    });

    it('accepts a base64 body (API Gateway) verified over the decoded bytes', async () => {
      // Prepare
      const body = commandBody({ text: 'list', triggerId: 'trig.BASE64' });
      const encoded = Buffer.from(body).toString('base64');
      const signedOverDecoded = {
        ...signedHeaders(body, 'application/x-www-form-urlencoded'),
        'content-transfer-encoding': 'base64',
      };
      const signedOverEncoded = {
        ...signedHeaders(encoded, 'application/x-www-form-urlencoded'),
        'content-transfer-encoding': 'base64',
      };
      // Act
      const good = await post('/slack/commands', {
        method: 'POST',
        headers: signedOverDecoded,
        body: encoded,
      });
      const bad = await post('/slack/commands', {
        method: 'POST',
        headers: signedOverEncoded,
        body: encoded,
      });
      // Assess
      assert.equal(good.status, 200);
      assert.equal(bad.status, 401);
      const row = (await run.gateway.inbox.list()).find((r) => r.key === 'slack:command:trig.BASE64');
      assert.equal(row?.body, body);
    });

    it('counts requests by outcome on /metrics', async () => {
      const text = await (await run.app.request('/metrics')).text();
      assert.match(text, /chronops_gateway_requests_total\{source="slack",outcome="stored"\} \d+/);
      assert.match(text, /chronops_gateway_requests_total\{source="slack",outcome="unauthorized"\} \d+/);
      assert.match(text, /chronops_gateway_requests_total\{source="slack",outcome="too_large"\} \d+/);
    });
  });

/** The gateway with only the Slack source, called as a host calls it (the old SlackIngest's shape of request). */
class SlackIngest {
  private readonly gateway: Gateway;
  private readonly source: SlackSource;
  constructor(options: {
    verifier: SlackSignature;
    store: (item: InboxItem) => Promise<void>;
    logger: ReturnType<typeof createLogger>;
  }) {
    this.source = new SlackSource({ verifier: options.verifier, maxBodyBytes: 1 << 20 });
    this.gateway = new Gateway({ sources: [this.source], store: options.store, logger: options.logger });
  }
  handle(req: {
    body: string;
    isBase64?: boolean;
    headers: { timestamp?: string; signature?: string; contentType?: string; retryNum?: string };
  }) {
    const h: Record<string, string | undefined> = {
      'x-slack-request-timestamp': req.headers.timestamp,
      'x-slack-signature': req.headers.signature,
      'content-type': req.headers.contentType,
      'x-slack-retry-num': req.headers.retryNum,
    };
    return this.gateway.handle(this.source, {
      body: req.body,
      isBase64: req.isBase64 ?? false,
      header: (name) => h[name],
    });
  }
}

describe('the gateway with the Slack source (host-agnostic core)', () => {
  it('takes API Gateway base64 text and stores the decoded body', async () => {
    // Prepare
    const stored: InboxItem[] = [];
    const ts = 1_795_000_000;
    const ingest = new SlackIngest({
      verifier: new SlackSignature({ signingSecret: SIGNING_SECRET, now: () => ts * 1000 }),
      store: async (item) => {
        stored.push(item);
      },
      logger: createLogger({ level: 'silent' }),
    });
    const body = mentionBody({ text: 'help', eventId: 'Ev0LAMBDA' });
    // Act
    const answer = await ingest.handle({
      body: Buffer.from(body).toString('base64'),
      isBase64: true,
      headers: {
        timestamp: String(ts),
        signature: signSlackRequest(SIGNING_SECRET, ts, body),
        contentType: 'application/json',
        retryNum: '2',
      },
    });
    const garbage = await ingest.handle({
      body: 'not base64 at all!',
      isBase64: true,
      headers: { timestamp: String(ts), signature: 'v0=00', contentType: 'application/json' },
    });
    // Assess
    assert.equal(answer.status, 200);
    assert.deepEqual(stored, [
      {
        key: 'slack:event:Ev0LAMBDA',
        source: 'slack',
        kind: 'slack',
        type: 'event_callback',
        subtype: 'app_mention',
        body,
        retryNum: 2,
        partitionKey: 'T0TEAM/C0OPS',
        topics: null,
      },
    ]);
    assert.equal(garbage.status, 400);
  });

  it('does not answer 200 until the delivery is stored', async () => {
    // Prepare
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const ingest = new SlackIngest({
      verifier: new SlackSignature({ signingSecret: SIGNING_SECRET }),
      store: () => gate,
      logger: createLogger({ level: 'silent' }),
    });
    const body = mentionBody({ text: 'help' });
    const headers = signedHeaders(body, 'application/json');
    // Act
    let answered = false;
    const pending = ingest
      .handle({
        body,
        headers: {
          timestamp: headers['x-slack-request-timestamp'],
          signature: headers['x-slack-signature'],
          contentType: 'application/json',
        },
      })
      .then((r) => {
        answered = true;
        return r;
      });
    await new Promise((resolve) => setImmediate(resolve));
    const before = answered;
    release();
    // Assess
    assert.equal(before, false);
    assert.equal((await pending).status, 200);
  });

  it('a store that fails fails the request (Slack retries it)', async () => {
    const ingest = new SlackIngest({
      verifier: new SlackSignature({ signingSecret: SIGNING_SECRET }),
      store: async () => {
        throw new Error('database is down');
      },
      logger: createLogger({ level: 'silent' }),
    });
    const body = mentionBody({ text: 'help' });
    const h = signedHeaders(body, 'application/json');
    await assert.rejects(
      ingest.handle({
        body,
        headers: {
          timestamp: h['x-slack-request-timestamp'],
          signature: h['x-slack-signature'],
          contentType: 'application/json',
        },
      }),
      /database is down/,
    );
  });
});

describe('Slack on and off', () => {
  let run: Running | undefined;
  afterEach(async () => {
    await run?.stopAll();
    run = undefined;
  });

  it('is off without SLACK_SIGNING_SECRET: no /slack routes, and chronops runs as before', async () => {
    run = await runChronops(backends[0]!, { config: parseConfig(slackConfigObject(), {}) });
    assert.equal(run.config.slack.enabled, false);
    const answer = await deliver(run.app, 'events', mentionBody({ text: 'help' }));
    assert.equal(answer.status, 404);
    assert.equal((await run.app.request('/healthz')).status, 200);
  });

  it('needs no API token on /slack/*: the signature is the credential there', async () => {
    // Prepare
    const fake = await new FakeSlack().start();
    process.env.CHRONOPS_TOKEN = 'api-token-for-this-test';
    try {
      run = await runChronops(backends[0]!, { config: slackConfig(fake), gatewayWorker: false });
    } finally {
      delete process.env.CHRONOPS_TOKEN;
    }
    // Act
    const slack = await deliver(run.app, 'events', mentionBody({ text: 'help' }));
    const apiWithout = await run.app.request('/api/windows');
    // Assess
    assert.equal(slack.status, 200);
    assert.equal(apiWithout.status, 401);
    await fake.stop();
  });

  it('refuses a config that enables Slack without its secrets, naming them', () => {
    assert.throws(
      () => parseConfig(slackConfigObject({ enabled: true }), {}),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.issues.some((i) => i.field === 'SLACK_SIGNING_SECRET (environment)') &&
        error.issues.some((i) => i.field === 'SLACK_BOT_TOKEN (environment)'),
    );
    assert.throws(
      () => parseConfig(slackConfigObject(), { SLACK_SIGNING_SECRET: SIGNING_SECRET }),
      (error: unknown) => error instanceof ConfigError && /SLACK_BOT_TOKEN/.test(error.message),
    );
  });

  it('keeps the Slack secrets out of logs', async () => {
    const fake = new FakeSlack();
    fake.url = 'http://127.0.0.1:9/api/';
    const config = parseConfig(slackConfigObject(), slackEnv(fake));
    assert.ok(config.secrets.includes(SIGNING_SECRET));
    assert.ok(config.secrets.includes(slackEnv(fake).SLACK_BOT_TOKEN!));
    const lines: string[] = [];
    const logger = createLogger({
      secrets: config.secrets,
      destination: { write: (l: string) => lines.push(l) },
    });
    logger.info({ note: `token ${slackEnv(fake).SLACK_BOT_TOKEN} and secret ${SIGNING_SECRET}` }, 'hello');
    assert.doesNotMatch(lines.join(''), /xoxb-test|test-signing-secret/);
    // …and the line was written, with the secrets in it replaced (an empty log would pass the check above).
    assert.equal(lines.length, 1, 'the line is logged');
    assert.match(lines[0]!, /token \[redacted\] and secret \[redacted\]/);
  });

  it('chronops serve refuses to start when Slack is enabled without SLACK_SIGNING_SECRET', async () => {
    // Prepare
    const path = writeConfig({
      ...slackConfigObject({ enabled: true }),
      database: { dataDir: preparedDataDir() },
    });
    // Act
    const started = startServer(path, { SLACK_SIGNING_SECRET: '', SLACK_BOT_TOKEN: '' });
    // Assess
    await assert.rejects(started, (error: Error & { output?: string }) => {
      assert.match(error.output ?? error.message, /SLACK_SIGNING_SECRET \(environment\)/);
      return true;
    });
  });
});
