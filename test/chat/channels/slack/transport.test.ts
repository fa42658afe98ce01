// The Slack transport's reads and its error classification, against the fake Web API.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WebAPIHTTPError, WebAPIPlatformError, WebAPIRateLimitedError } from '@slack/web-api';
import {
  messageText,
  SlackTransport,
  transportError,
} from '../../../../src/chat/channels/slack/transport.ts';
import { ChatTransportError } from '../../../../src/chat/port.ts';
import { createLogger } from '../../../../src/kernel/logger.ts';
import { FakeSlack } from '../../../support/fake-slack.ts';
import { ALERT, BOT_TOKEN } from '../../../support/slack.ts';

describe('SlackTransport', () => {
  let fake: FakeSlack;
  let transport: SlackTransport;

  before(async () => {
    fake = await new FakeSlack().start();
    transport = new SlackTransport({
      token: BOT_TOKEN,
      apiUrl: fake.url,
      logger: createLogger({ level: 'silent' }),
      readRetries: 1,
    });
  });
  after(async () => {
    await fake.stop();
  });

  it('reads the parent of a thread', async () => {
    const parent = fake.seed('C0READ', ALERT);
    assert.equal(await transport.readParent('C0READ', parent), ALERT);
  });

  it('reads an alert a bot posted as blocks only', async () => {
    // Prepare: Slack gives such a message a summary `text`; the lines are in the blocks.
    const parent = fake.seed('C0READ', 'New alert', {
      blocks: [
        { type: 'header', text: { type: 'plain_text', text: '[오늘 오픈 예정 인기 상품] 2099-11-23' } },
        { type: 'section', text: { type: 'mrkdwn', text: '1. (12345) 나이키 덩크 로우 - 16:00 오픈' } },
      ],
    });
    // Act
    const text = await transport.readParent('C0READ', parent);
    // Assess
    assert.match(
      text ?? '',
      /\[오늘 오픈 예정 인기 상품\] 2099-11-23\n1\. \(12345\) 나이키 덩크 로우 - 16:00 오픈/,
    );
  });

  it('retries a rate-limited read after Retry-After (WebClient)', async () => {
    const parent = fake.seed('C0READ', 'hello');
    fake.fail('conversations.replies', { ratelimited: 1 });
    assert.equal(await transport.readParent('C0READ', parent), 'hello');
    const calls = fake.callsOf('conversations.replies').slice(-2);
    assert.deepEqual(
      calls.map((c) => c.status),
      [429, 200],
    );
    assert.ok(calls[1]!.at - calls[0]!.at >= 1000);
  });

  it('a thread that does not exist is an error retrying cannot fix', async () => {
    await assert.rejects(transport.readParent('C0READ', '1.000000'), (error: unknown) => {
      assert.ok(error instanceof ChatTransportError);
      assert.equal(error.code, 'thread_not_found');
      assert.equal(error.retryable, false);
      return true;
    });
  });

  it('reads the members of a user group', async () => {
    fake.groups.set('S0OPS', ['U1', 'U2']);
    assert.deepEqual(await transport.members('S0OPS'), ['U1', 'U2']);
  });
});

describe('transportError', () => {
  it('says which failures certainly did nothing', () => {
    const limited = transportError(new WebAPIRateLimitedError(7), 'chat.postMessage');
    assert.deepEqual([limited.certain, limited.retryable, limited.retryAfterMs], [true, true, 7000]);
    const gone = transportError(
      new WebAPIPlatformError({ ok: false, error: 'not_in_channel' }),
      'chat.postMessage',
    );
    assert.deepEqual([gone.code, gone.certain, gone.retryable], ['not_in_channel', true, false]);
    const internal = transportError(
      new WebAPIPlatformError({ ok: false, error: 'internal_error' }),
      'chat.postMessage',
    );
    assert.deepEqual([internal.certain, internal.retryable], [false, true]);
    const http = transportError(new WebAPIHTTPError(503, 'Service Unavailable', {}, ''), 'chat.postMessage');
    assert.deepEqual([http.code, http.certain, http.retryable], ['http_503', false, true]);
  });
});

describe('messageText', () => {
  it('adds attachment text to the message text', () => {
    assert.equal(
      messageText({ text: 'header', attachments: [{ text: '1. (1) A - 16:00' }] }),
      'header\n1. (1) A - 16:00',
    );
  });
});
