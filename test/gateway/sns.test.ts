import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import SnsPayloadValidator from 'sns-payload-validator';
import {
  confirmSubscription,
  isCertificateUrl,
  isSnsUrl,
  SnsRefusal,
  SnsVerifier,
} from '../../src/gateway/sns.ts';
import {
  CERT_URL,
  type SnsFixture,
  sign,
  signedConfirmation,
  signedNotification,
  snsFixture,
} from '../support/sns.ts';

const TOPIC = 'arn:aws:sns:us-east-1:278350005181:price-list-api';
const OTHER = 'arn:aws:sns:us-east-1:123456789012:someone-elses-topic';
const noHeaders = () => undefined;

function refusal(reason: SnsRefusal['reason'], detail: string) {
  return (error: unknown) =>
    error instanceof SnsRefusal && error.reason === reason && error.detail === detail;
}

describe('SNS verifier (real signatures, certificate over HTTPS)', () => {
  let fixture: SnsFixture;
  let verifier: SnsVerifier;

  before(async () => {
    fixture = await snsFixture();
    verifier = new SnsVerifier({ topics: [TOPIC], requestAgent: fixture.agent });
  });
  after(async () => {
    await fixture.close();
  });

  it('verifies SignatureVersion 1 (SHA1) and 2 (SHA256); the certificate is fetched once and cached', async () => {
    // Prepare
    const v1 = signedNotification(fixture, { topicArn: TOPIC, version: '1', subject: 'Price List Update' });
    const v2 = signedNotification(fixture, { topicArn: TOPIC, version: '2' });
    const before = fixture.fetches();

    // Act
    const a = await verifier.verify(JSON.stringify(v1), (h) =>
      h === 'x-amz-sns-message-type' ? 'Notification' : undefined,
    );
    const b = await verifier.verify(JSON.stringify(v2), noHeaders);
    for (let i = 0; i < 5; i++)
      await verifier.verify(JSON.stringify(signedNotification(fixture, { topicArn: TOPIC })), noHeaders);

    // Assess
    assert.equal(a.messageId, v1.MessageId);
    assert.equal(a.envelope.Subject, 'Price List Update');
    assert.equal(b.envelope.Message, '{"offerCode":"AmazonEC2"}');
    assert.ok(fixture.fetches() - before <= 1, `certificate fetched ${fixture.fetches() - before} times`);
  });

  it('a redelivery (same MessageId, same signature) verifies again with the same key', async () => {
    const message = JSON.stringify(signedNotification(fixture, { topicArn: TOPIC }));
    const first = await verifier.verify(message, noHeaders);
    const again = await verifier.verify(message, noHeaders);
    assert.equal(first.messageId, again.messageId);
  });

  it('refuses a message signed with another key (forged)', async () => {
    // Prepare
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const forged = signedNotification(
      { privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() },
      { topicArn: TOPIC },
    );

    // Act / Assess
    await assert.rejects(
      verifier.verify(JSON.stringify(forged), noHeaders),
      refusal('unauthorized', 'signature'),
    );
  });

  it('refuses a message changed after it was signed (tampered), v1 and v2', async () => {
    for (const version of ['1', '2'] as const) {
      const message = signedNotification(fixture, { topicArn: TOPIC, version });
      message.Message = '{"offerCode":"AmazonEC2","extra":"injected"}';
      await assert.rejects(
        verifier.verify(JSON.stringify(message), noHeaders),
        refusal('unauthorized', 'signature'),
      );
    }
    const resigned = signedNotification(fixture, { topicArn: TOPIC });
    resigned.Signature = sign({ ...resigned, Subject: 'different' }, fixture.privateKey, '2');
    await assert.rejects(
      verifier.verify(JSON.stringify(resigned), noHeaders),
      refusal('unauthorized', 'signature'),
    );
  });

  it('refuses an old message (replay) and one dated far in the future', async () => {
    const old = signedNotification(fixture, {
      topicArn: TOPIC,
      timestamp: new Date(Date.now() - 2 * 3600_000),
    });
    const future = signedNotification(fixture, {
      topicArn: TOPIC,
      timestamp: new Date(Date.now() + 3600_000),
    });
    await assert.rejects(verifier.verify(JSON.stringify(old), noHeaders), refusal('unauthorized', 'stale'));
    await assert.rejects(
      verifier.verify(JSON.stringify(future), noHeaders),
      refusal('unauthorized', 'future'),
    );
  });

  it('refuses a notification of a topic not configured for the source, before any network', async () => {
    const before = fixture.fetches();
    const message = signedNotification(fixture, { topicArn: OTHER });
    await assert.rejects(verifier.verify(JSON.stringify(message), noHeaders), refusal('forbidden', 'topic'));
    assert.equal(fixture.fetches(), before);
  });

  it('a confirmation of a configured topic verifies and is confirmed by a GET of its SubscribeURL; of another topic, never', async () => {
    // Prepare
    const listed = signedConfirmation(fixture, { topicArn: TOPIC });
    const unlisted = signedConfirmation(fixture, { topicArn: OTHER });
    const gets: string[] = [];
    const fakeFetch = (async (url: string | URL | Request) => {
      gets.push(String(url));
      return new Response('<ConfirmSubscriptionResponse/>', { status: 200 });
    }) as typeof fetch;

    // Act
    const verified = await verifier.verify(JSON.stringify(listed), (h) =>
      h === 'x-amz-sns-message-type' ? 'SubscriptionConfirmation' : undefined,
    );
    await confirmSubscription(verified.envelope, { fetch: fakeFetch });

    // Assess
    assert.deepEqual(gets, [listed.SubscribeURL]);
    await assert.rejects(verifier.verify(JSON.stringify(unlisted), noHeaders), refusal('forbidden', 'topic'));
  });

  it('a confirmation SNS does not accept fails, so that SNS sends it again', async () => {
    const verified = await verifier.verify(
      JSON.stringify(signedConfirmation(fixture, { topicArn: TOPIC })),
      noHeaders,
    );
    const refusing = (async () => new Response('nope', { status: 403 })) as unknown as typeof fetch;
    await assert.rejects(confirmSubscription(verified.envelope, { fetch: refusing }), /SNS answered 403/);
  });

  it('refuses a certificate URL that is not SNS’s, without fetching it', async () => {
    // Prepare
    const before = fixture.fetches();
    const message = signedNotification(fixture, { topicArn: TOPIC });
    const evil = {
      ...message,
      SigningCertURL:
        'https://sns.us-east-1.amazonaws.com.evil.example/SimpleNotificationService-0123456789abcdef0123456789abcdef.pem',
    };
    const http = { ...message, SigningCertURL: message.SigningCertURL!.replace('https:', 'http:') };

    // Act / Assess
    await assert.rejects(
      verifier.verify(JSON.stringify(evil), noHeaders),
      refusal('unauthorized', 'cert_url'),
    );
    await assert.rejects(
      verifier.verify(JSON.stringify(http), noHeaders),
      refusal('unauthorized', 'cert_url'),
    );
    assert.equal(fixture.fetches(), before);
  });

  it('refuses a confirmation whose SubscribeURL is not an SNS URL, even when signed', async () => {
    const message = signedConfirmation(fixture, {
      topicArn: TOPIC,
      subscribeUrl: 'https://attacker.example/confirm',
    });
    await assert.rejects(
      verifier.verify(JSON.stringify(message), noHeaders),
      refusal('malformed', 'subscribe_url'),
    );
  });

  it('refuses raw message delivery, bad JSON, an unknown Type, missing fields, a type header that disagrees', async () => {
    const good = JSON.stringify(signedNotification(fixture, { topicArn: TOPIC }));
    await assert.rejects(
      verifier.verify('{"offerCode":"AmazonEC2"}', (h) =>
        h === 'x-amz-sns-rawdelivery' ? 'true' : undefined,
      ),
      refusal('unauthorized', 'raw_delivery'),
    );
    await assert.rejects(verifier.verify('not json', noHeaders), refusal('malformed', 'json'));
    await assert.rejects(verifier.verify('{"Type":"Publish"}', noHeaders), refusal('malformed', 'type'));
    await assert.rejects(
      verifier.verify('{"Type":"Notification","MessageId":"x"}', noHeaders),
      refusal('malformed', 'fields'),
    );
    await assert.rejects(
      verifier.verify(good, (h) => (h === 'x-amz-sns-message-type' ? 'SubscriptionConfirmation' : undefined)),
      refusal('malformed', 'type_mismatch'),
    );
  });

  it('agrees with the registry’s sns-payload-validator, message by message (valid, forged, tampered; v1 and v2)', async () => {
    // Prepare
    const library = new SnsPayloadValidator({ useCache: true, requestAgent: fixture.agent });
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const otherKey = { privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
    const cases: Array<[string, Record<string, string>]> = [];
    for (const version of ['1', '2'] as const) {
      cases.push([
        `valid v${version}`,
        signedNotification(fixture, { topicArn: TOPIC, version, subject: 'S' }),
      ]);
      cases.push([`no subject v${version}`, signedNotification(fixture, { topicArn: TOPIC, version })]);
      cases.push([`confirmation v${version}`, signedConfirmation(fixture, { topicArn: TOPIC, version })]);
      cases.push([`forged v${version}`, signedNotification(otherKey, { topicArn: TOPIC, version })]);
      const tampered = signedNotification(fixture, { topicArn: TOPIC, version });
      tampered.MessageId = 'another-id';
      cases.push([`tampered v${version}`, tampered]);
      const swapped = signedNotification(fixture, { topicArn: TOPIC, version: version === '1' ? '2' : '1' });
      swapped.SignatureVersion = version;
      cases.push([`wrong version v${version}`, swapped]);
    }

    // Act / Assess
    for (const [what, message] of cases) {
      const theirs = await library.validate({ ...message } as never).then(
        () => true,
        () => false,
      );
      const ours = await verifier.verify(JSON.stringify(message), noHeaders).then(
        () => true,
        () => false,
      );
      assert.equal(ours, theirs, `${what}: chronops ${ours}, sns-payload-validator ${theirs}`);
    }
    assert.deepEqual(
      cases
        .map(([what]) => what)
        .filter((w) => w.startsWith('valid') || w.startsWith('no subject') || w.startsWith('confirmation'))
        .length,
      6,
    );
  });

  it('fetches a certificate once even for concurrent first messages, through an injected loader; a failed fetch is a 5xx, not a refusal', async () => {
    // Prepare
    const urls: string[] = [];
    let fail = true;
    const loader = async (url: string) => {
      urls.push(url);
      if (fail) throw new Error('connect ETIMEDOUT');
      return fixture.certificate;
    };
    const own = new SnsVerifier({ topics: [TOPIC], loadCertificate: loader });
    const messages = Array.from({ length: 5 }, () =>
      JSON.stringify(signedNotification(fixture, { topicArn: TOPIC })),
    );

    // Act
    await assert.rejects(
      own.verify(messages[0]!, noHeaders),
      (e: unknown) => !(e instanceof SnsRefusal) && /ETIMEDOUT/.test(String(e)),
    );
    fail = false;
    await Promise.all(messages.map((m) => own.verify(m, noHeaders)));

    // Assess
    assert.deepEqual(urls, [CERT_URL, CERT_URL]);
  });

  it('isCertificateUrl: an SNS host over https, a SimpleNotificationService-….pem path, no query', () => {
    assert.equal(isCertificateUrl(CERT_URL), true);
    assert.equal(isCertificateUrl(`${CERT_URL}?x=1`), false);
    assert.equal(isCertificateUrl(CERT_URL.replace('.pem', '.crt')), false);
    assert.equal(
      isCertificateUrl('https://sns.us-east-1.amazonaws.com/evil/SimpleNotificationService-1.pem'),
      false,
    );
  });

  it('isSnsUrl accepts only https on an SNS host, default port', () => {
    assert.equal(isSnsUrl('https://sns.ap-northeast-2.amazonaws.com/?Action=ConfirmSubscription'), true);
    assert.equal(isSnsUrl('https://sns.cn-north-1.amazonaws.com.cn/x'), true);
    assert.equal(isSnsUrl('http://sns.us-east-1.amazonaws.com/x'), false);
    assert.equal(isSnsUrl('https://sns.us-east-1.amazonaws.com:8443/x'), false);
    assert.equal(isSnsUrl('https://sns.us-east-1.amazonaws.com.evil.example/x'), false);
    assert.equal(isSnsUrl('https://evil.example/sns.us-east-1.amazonaws.com'), false);
    assert.equal(isSnsUrl(undefined), false);
  });
});
