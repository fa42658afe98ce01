import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  SlackSignature,
  SlackSignatureError,
  type SlackSignatureReason,
  signSlackRequest,
} from '../../../../src/chat/channels/slack/signature.ts';
import { ConfigError } from '../../../../src/kernel/errors.ts';

const SECRET = '8f742231b10e8888abcd99yyyzzz85a5';
const NOW_S = 1_795_000_000;
const now = () => NOW_S * 1000;
const BODY = JSON.stringify({
  type: 'event_callback',
  event_id: 'Ev01',
  event: { type: 'app_mention', text: '안녕' },
});

function rejection(reason: SlackSignatureReason) {
  return (error: unknown) => {
    assert.ok(error instanceof SlackSignatureError, `expected SlackSignatureError, got ${String(error)}`);
    assert.equal(error.reason, reason);
    assert.equal(error.status, 401);
    return true;
  };
}

describe('signSlackRequest', () => {
  it('is v0= hex HMAC-SHA256 of v0:timestamp:body (Slack documentation example)', () => {
    // Prepare: the example of https://api.slack.com/authentication/verifying-requests-from-slack
    const body =
      'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&' +
      'channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&' +
      'response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&' +
      'trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c';
    // Act
    const signature = signSlackRequest(SECRET, '1531420618', body);
    // Assess
    assert.equal(signature, 'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503');
  });

  it('signs a Uint8Array body like the same bytes as a string', () => {
    const expected = `v0=${createHmac('sha256', SECRET).update(`v0:${NOW_S}:${BODY}`).digest('hex')}`;
    assert.equal(signSlackRequest(SECRET, NOW_S, Buffer.from(BODY, 'utf8')), expected);
    assert.equal(signSlackRequest(SECRET, String(NOW_S), BODY), expected);
  });
});

describe('SlackSignature.verify', () => {
  const verifier = new SlackSignature({ signingSecret: SECRET, now });
  const signed = (timestamp: number, body: string | Uint8Array = BODY) => ({
    timestamp: String(timestamp),
    signature: signSlackRequest(SECRET, timestamp, body),
  });

  it('accepts a good signature (string and byte bodies)', () => {
    // Prepare
    const headers = signed(NOW_S);
    // Act / Assess
    assert.doesNotThrow(() => verifier.verify(headers, BODY));
    assert.doesNotThrow(() => verifier.verify(headers, new TextEncoder().encode(BODY)));
  });

  it('refuses a signature made with another secret', () => {
    const headers = { timestamp: String(NOW_S), signature: signSlackRequest('not-the-secret', NOW_S, BODY) };
    assert.throws(() => verifier.verify(headers, BODY), rejection('mismatch'));
  });

  it('refuses a body with one byte changed', () => {
    // Prepare
    const headers = signed(NOW_S);
    const bytes = Buffer.from(BODY, 'utf8');
    bytes[10] = bytes[10]! ^ 0x01;
    // Act / Assess
    assert.throws(() => verifier.verify(headers, bytes), rejection('mismatch'));
  });

  it('refuses a request 301 s old', () => {
    assert.throws(() => verifier.verify(signed(NOW_S - 301), BODY), rejection('stale'));
  });

  it('refuses a request 301 s in the future', () => {
    assert.throws(() => verifier.verify(signed(NOW_S + 301), BODY), rejection('future'));
  });

  it('accepts exactly 300 s in either direction', () => {
    assert.doesNotThrow(() => verifier.verify(signed(NOW_S - 300), BODY));
    assert.doesNotThrow(() => verifier.verify(signed(NOW_S + 300), BODY));
  });

  it('honours a custom tolerance', () => {
    // Prepare
    const strict = new SlackSignature({ signingSecret: SECRET, now, toleranceSeconds: 60 });
    // Act / Assess
    assert.doesNotThrow(() => strict.verify(signed(NOW_S - 60), BODY));
    assert.throws(() => strict.verify(signed(NOW_S - 61), BODY), rejection('stale'));
  });

  it('refuses missing headers', () => {
    const good = signed(NOW_S);
    assert.throws(() => verifier.verify({}, BODY), rejection('missing_headers'));
    assert.throws(
      () => verifier.verify({ timestamp: good.timestamp, signature: null }, BODY),
      rejection('missing_headers'),
    );
    assert.throws(
      () => verifier.verify({ timestamp: '', signature: good.signature }, BODY),
      rejection('missing_headers'),
    );
  });

  it('refuses a timestamp that is not an integer', () => {
    // Prepare: correctly signed over the odd timestamp, so only the timestamp check can refuse it
    for (const timestamp of ['abc', '1795000000.5', '-1795000000', '1e9', '0x6afcf780']) {
      const headers = { timestamp, signature: signSlackRequest(SECRET, timestamp, BODY) };
      // Act / Assess
      assert.throws(() => verifier.verify(headers, BODY), rejection('bad_timestamp'), timestamp);
    }
  });

  it('refuses a signature of a different length (and one without the v0= prefix)', () => {
    const good = signed(NOW_S).signature;
    assert.throws(
      () => verifier.verify({ timestamp: String(NOW_S), signature: good.slice(0, -2) }, BODY),
      rejection('mismatch'),
    );
    assert.throws(
      () => verifier.verify({ timestamp: String(NOW_S), signature: `${good}00` }, BODY),
      rejection('mismatch'),
    );
    assert.throws(
      () => verifier.verify({ timestamp: String(NOW_S), signature: good.slice(3) }, BODY),
      rejection('mismatch'),
    );
  });

  it('refuses to be built without a signing secret', () => {
    assert.throws(
      () => new SlackSignature({ signingSecret: '' }),
      (error: unknown) => error instanceof ConfigError && error.issues[0]?.field === 'SLACK_SIGNING_SECRET',
    );
  });
});
