import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeSlackBody, SlackBodyError, slackBodyBytes } from '../../../../src/chat/channels/slack/body.ts';
import { SlackSignature, signSlackRequest } from '../../../../src/chat/channels/slack/signature.ts';

const JSON_TYPE = 'application/json';
const FORM_TYPE = 'application/x-www-form-urlencoded';
const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');

function bodyError(fragment: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof SlackBodyError, `expected SlackBodyError, got ${String(error)}`);
    assert.equal(error.status, 400);
    assert.match(error.message, fragment);
    return true;
  };
}

describe('decodeSlackBody', () => {
  it('decodes an Events API url_verification', () => {
    // Prepare
    const raw = JSON.stringify({ token: 't', challenge: 'c-123', type: 'url_verification' });
    // Act
    const decoded = decodeSlackBody(raw, JSON_TYPE);
    // Assess
    assert.deepEqual(decoded, {
      kind: 'event',
      body: { token: 't', challenge: 'c-123', type: 'url_verification' },
    });
  });

  it('decodes an event_callback with a charset parameter and an upper-case media type', () => {
    const raw = JSON.stringify({
      type: 'event_callback',
      event_id: 'Ev1',
      event: { type: 'app_mention', text: '생성' },
    });
    const decoded = decodeSlackBody(raw, 'Application/JSON; charset=utf-8');
    assert.equal(decoded.kind, 'event');
    assert.equal(decoded.kind === 'event' && (decoded.body.event as { text: string }).text, '생성');
  });

  it('decodes a slash command', () => {
    // Prepare
    const raw = new URLSearchParams({
      command: '/chronops',
      text: 'create 2 --ecs 12 --time "2026-11-23 16:00"',
      user_id: 'U1',
      channel_id: 'C1',
    }).toString();
    // Act
    const decoded = decodeSlackBody(raw, FORM_TYPE);
    // Assess
    assert.deepEqual(decoded, {
      kind: 'command',
      fields: {
        command: '/chronops',
        text: 'create 2 --ecs 12 --time "2026-11-23 16:00"',
        user_id: 'U1',
        channel_id: 'C1',
      },
    });
  });

  it('decodes an interaction payload', () => {
    const payload = { type: 'block_actions', actions: [{ action_id: 'cancel', value: 'w_1' }] };
    const raw = `payload=${encodeURIComponent(JSON.stringify(payload))}`;
    assert.deepEqual(decodeSlackBody(raw, FORM_TYPE), { kind: 'interaction', payload });
  });

  it('recognizes ssl_check', () => {
    assert.deepEqual(decodeSlackBody('ssl_check=1&token=abc', FORM_TYPE), { kind: 'ssl_check' });
  });

  it('decodes base64 bodies (as API Gateway delivers them) of every kind', () => {
    // Prepare
    const event = JSON.stringify({ type: 'event_callback', event_id: 'Ev2', event: { text: '오후 6시' } });
    const command = 'command=%2Fchronops&text=list';
    // Act / Assess
    assert.deepEqual(decodeSlackBody(b64(event), JSON_TYPE, true), {
      kind: 'event',
      body: JSON.parse(event),
    });
    assert.deepEqual(decodeSlackBody(b64(command), FORM_TYPE, true), {
      kind: 'command',
      fields: { command: '/chronops', text: 'list' },
    });
    assert.deepEqual(decodeSlackBody(b64('ssl_check=1&token=x'), FORM_TYPE, true), { kind: 'ssl_check' });
  });

  it('sniffs the body when there is no Content-Type', () => {
    assert.equal(decodeSlackBody('{"type":"url_verification","challenge":"x"}', undefined).kind, 'event');
    assert.equal(decodeSlackBody('command=%2Fchronops&text=help', undefined).kind, 'command');
  });

  it('refuses malformed bodies with a clear message', () => {
    assert.throws(() => decodeSlackBody('{"type":', JSON_TYPE), bodyError(/not valid JSON/));
    assert.throws(() => decodeSlackBody('[1,2]', JSON_TYPE), bodyError(/must be a JSON object/));
    assert.throws(() => decodeSlackBody('{"challenge":"x"}', JSON_TYPE), bodyError(/no "type"/));
    assert.throws(
      () => decodeSlackBody('payload=%7Bnope', FORM_TYPE),
      bodyError(/"payload" field is not valid JSON/),
    );
    assert.throws(
      () => decodeSlackBody('payload=%5B%5D', FORM_TYPE),
      bodyError(/"payload" field must be a JSON object/),
    );
    assert.throws(() => decodeSlackBody('text=hello', FORM_TYPE), bodyError(/neither a slash command/));
    assert.throws(
      () => decodeSlackBody('hello', 'text/plain'),
      bodyError(/unsupported Content-Type "text\/plain"/),
    );
    assert.throws(() => decodeSlackBody('', JSON_TYPE), bodyError(/empty body/));
    assert.throws(() => decodeSlackBody('  \n', FORM_TYPE), bodyError(/empty body/));
    assert.throws(() => decodeSlackBody('hello', undefined), bodyError(/no Content-Type/));
    assert.throws(() => decodeSlackBody('not base64!!', JSON_TYPE, true), bodyError(/not valid base64/));
    assert.throws(() => decodeSlackBody(b64('{oops'), JSON_TYPE, true), bodyError(/not valid JSON/));
  });
});

describe('slackBodyBytes: what the signature is computed over', () => {
  it('verifies a base64 delivery over the decoded bytes, not the base64 text', () => {
    // Prepare: Slack signs the JSON it sends; API Gateway hands the Lambda its base64 form
    const secret = 'shh';
    const nowS = 1_795_000_000;
    const sent = JSON.stringify({ type: 'event_callback', event_id: 'Ev3', event: { text: '나이키 덩크' } });
    const headers = { timestamp: String(nowS), signature: signSlackRequest(secret, nowS, sent) };
    const verifier = new SlackSignature({ signingSecret: secret, now: () => nowS * 1000 });
    const delivered = b64(sent);
    // Act
    const bytes = slackBodyBytes(delivered, true);
    // Assess
    assert.doesNotThrow(() => verifier.verify(headers, bytes));
    assert.throws(() => verifier.verify(headers, delivered), /signature does not match/);
    assert.deepEqual(slackBodyBytes(sent), Buffer.from(sent, 'utf8'));
  });
});
