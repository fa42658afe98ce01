// SNS HTTP(S) subscriptions: what arrives on `POST /sns/<source>` is checked here before anything is stored.
//
// - The signature: SignatureVersion 1 is SHA1withRSA, 2 is SHA256withRSA, over the string AWS documents
//   ("Key\nValue\n" for the message's fields in a fixed order, per message type). The signing certificate is
//   accepted only from `https://sns.<region>.amazonaws.com[.cn]/SimpleNotificationService-<id>.pem`, fetched once
//   and cached as a parsed public key, so after the first message no request leaves chronops and no certificate is
//   parsed again. (The registry's sns-payload-validator does the same checks but parses the PEM certificate at
//   every message, which caps it at about a quarter of the rate: measured in docs/benchmarks.md, `npm run
//   bench:events`. It stays as the reference the tests compare this verifier with, message by message.)
// - The message's age: a message signed long ago (a replay) is refused.
// - The topic: only topics configured for the source are accepted, and only their SubscriptionConfirmation is
//   confirmed (a GET of SubscribeURL, itself only on an SNS host). Anyone can subscribe a URL to their own topic;
//   without this check chronops would confirm it.
// - Raw message delivery is refused: such a message carries no signature at all, so it could come from anyone.
//
// A Notification becomes a delivery keyed by its MessageId (SNS redelivers with the same id).

import { createPublicKey, type KeyObject, verify as verifySignature } from 'node:crypto';
import { type Agent, get } from 'node:https';

export type SnsMessageType = 'Notification' | 'SubscriptionConfirmation' | 'UnsubscribeConfirmation';

/** Why a request is refused; `reason` maps to the HTTP status (400, 401, 403). */
export class SnsRefusal extends Error {
  readonly reason: 'malformed' | 'unauthorized' | 'forbidden';
  readonly detail: string;
  constructor(reason: SnsRefusal['reason'], detail: string, message: string) {
    super(message);
    this.name = 'SnsRefusal';
    this.reason = reason;
    this.detail = detail;
  }
}

export interface SnsEnvelope {
  Type: SnsMessageType;
  MessageId: string;
  TopicArn: string;
  Message: string;
  Timestamp: string;
  SignatureVersion: string;
  Signature: string;
  SigningCertURL: string;
  Subject?: string;
  SubscribeURL?: string;
  Token?: string;
  UnsubscribeURL?: string;
  MessageAttributes?: Record<string, unknown>;
}

export interface SnsVerifierOptions {
  /** Topic ARNs this source accepts (and confirms subscriptions of). */
  topics: readonly string[];
  /** Older messages are refused. Default 3600 s (SNS's longest retry policies stay within it). */
  maxAgeSeconds?: number;
  /** Messages dated further in the future are refused (clock skew). Default 300 s. */
  maxFutureSeconds?: number;
  /** How a certificate is fetched (its URL already checked). Default: an HTTPS GET with `requestAgent`. */
  loadCertificate?: (url: string) => Promise<string>;
  /** The agent of the default loader (tests: one that reaches a local HTTPS server). */
  requestAgent?: Agent;
  /** Certificates kept (parsed). Default 100. */
  maxCertificates?: number;
  now?: () => Date;
}

export interface VerifiedSns {
  envelope: SnsEnvelope;
  /** The delivery key within the source: the MessageId. */
  messageId: string;
}

const TYPES = new Set<string>(['Notification', 'SubscriptionConfirmation', 'UnsubscribeConfirmation']);
const SNS_HOST = /^sns\.[a-z0-9-]{3,}\.amazonaws\.com(\.cn)?$/;
const CERT_PATH = /^\/SimpleNotificationService-[A-Za-z0-9]{1,64}\.pem$/;
/** The fields signed, in the order AWS signs them. */
const SIGNED_FIELDS: Record<SnsMessageType, readonly string[]> = {
  Notification: ['Message', 'MessageId', 'Subject', 'Timestamp', 'TopicArn', 'Type'],
  SubscriptionConfirmation: [
    'Message',
    'MessageId',
    'SubscribeURL',
    'Timestamp',
    'Token',
    'TopicArn',
    'Type',
  ],
  UnsubscribeConfirmation: ['Message', 'MessageId', 'SubscribeURL', 'Timestamp', 'Token', 'TopicArn', 'Type'],
};

export class SnsVerifier {
  readonly #topics: Set<string>;
  readonly #maxAgeMs: number;
  readonly #maxFutureMs: number;
  readonly #now: () => Date;
  readonly #load: (url: string) => Promise<string>;
  readonly #maxCertificates: number;
  /** Parsed public keys by certificate URL; a promise, so that concurrent first messages fetch once. */
  readonly #keys = new Map<string, Promise<KeyObject>>();

  constructor(options: SnsVerifierOptions) {
    this.#topics = new Set(options.topics);
    this.#maxAgeMs = (options.maxAgeSeconds ?? 3600) * 1000;
    this.#maxFutureMs = (options.maxFutureSeconds ?? 300) * 1000;
    this.#now = options.now ?? (() => new Date());
    this.#load = options.loadCertificate ?? ((url) => fetchCertificate(url, options.requestAgent));
    this.#maxCertificates = options.maxCertificates ?? 100;
  }

  /** Checks one request (its raw body and the headers SNS sends); throws SnsRefusal when it must not be taken. */
  async verify(body: string, header: (name: string) => string | undefined): Promise<VerifiedSns> {
    if (header('x-amz-sns-rawdelivery') === 'true') {
      throw new SnsRefusal(
        'unauthorized',
        'raw_delivery',
        'raw message delivery is on for this subscription: its messages carry no signature; turn RawMessageDelivery off',
      );
    }
    let envelope: SnsEnvelope;
    try {
      envelope = parseEnvelope(body);
    } catch (error) {
      // SNS names the message type in a header; a body that is no envelope under it is a raw delivery whose
      // header did not come through (a proxy): say so rather than "not JSON".
      if (error instanceof SnsRefusal && header('x-amz-sns-message-type') === 'Notification') {
        throw new SnsRefusal(
          'unauthorized',
          'raw_delivery',
          'the body is not an SNS envelope: is raw message delivery on for this subscription? Its messages carry no signature; turn RawMessageDelivery off',
        );
      }
      throw error;
    }
    const typeHeader = header('x-amz-sns-message-type');
    if (typeHeader !== undefined && typeHeader !== envelope.Type) {
      throw new SnsRefusal(
        'malformed',
        'type_mismatch',
        `x-amz-sns-message-type says ${typeHeader}, the body ${envelope.Type}`,
      );
    }
    if (!this.#topics.has(envelope.TopicArn)) {
      throw new SnsRefusal(
        'forbidden',
        'topic',
        `topic ${envelope.TopicArn} is not configured for this source`,
      );
    }
    const at = Date.parse(envelope.Timestamp);
    const now = this.#now().getTime();
    if (Number.isNaN(at)) throw new SnsRefusal('malformed', 'timestamp', 'Timestamp is not a date');
    if (now - at > this.#maxAgeMs) {
      throw new SnsRefusal(
        'unauthorized',
        'stale',
        `the message was signed ${Math.round((now - at) / 1000)} s ago; older than ${this.#maxAgeMs / 1000} s is refused`,
      );
    }
    if (at - now > this.#maxFutureMs) {
      throw new SnsRefusal('unauthorized', 'future', 'the message is dated in the future; check the clock');
    }
    if (envelope.SignatureVersion !== '1' && envelope.SignatureVersion !== '2') {
      throw new SnsRefusal(
        'unauthorized',
        'signature',
        `SignatureVersion ${envelope.SignatureVersion} is not 1 or 2`,
      );
    }
    if (!isCertificateUrl(envelope.SigningCertURL)) {
      throw new SnsRefusal(
        'unauthorized',
        'cert_url',
        'SigningCertURL is not an SNS certificate URL (https://sns.<region>.amazonaws.com/…)',
      );
    }
    // A certificate that cannot be fetched is not the sender's fault: thrown as is (a 5xx), SNS tries again.
    const key = await this.#key(envelope.SigningCertURL);
    let ok: boolean;
    try {
      ok = verifySignature(
        envelope.SignatureVersion === '1' ? 'sha1' : 'sha256',
        Buffer.from(stringToSign(envelope)),
        key,
        Buffer.from(envelope.Signature, 'base64'),
      );
    } catch {
      ok = false;
    }
    if (!ok) throw new SnsRefusal('unauthorized', 'signature', 'the signature does not verify');
    if (envelope.Type !== 'Notification' && !isSnsUrl(envelope.SubscribeURL)) {
      throw new SnsRefusal('malformed', 'subscribe_url', 'SubscribeURL is not an SNS URL');
    }
    return { envelope, messageId: envelope.MessageId };
  }

  #key(url: string): Promise<KeyObject> {
    let key = this.#keys.get(url);
    if (key !== undefined) {
      // Least recently used last.
      this.#keys.delete(url);
      this.#keys.set(url, key);
      return key;
    }
    key = this.#load(url).then((pem) => createPublicKey(pem));
    this.#keys.set(url, key);
    key.catch(() => this.#keys.delete(url));
    if (this.#keys.size > this.#maxCertificates) this.#keys.delete(this.#keys.keys().next().value!);
    return key;
  }
}

/** The string SNS signs for this message. */
export function stringToSign(envelope: SnsEnvelope): string {
  let out = '';
  for (const field of SIGNED_FIELDS[envelope.Type]) {
    const value = (envelope as unknown as Record<string, unknown>)[field];
    if (typeof value === 'string') out += `${field}\n${value}\n`;
  }
  return out;
}

/** `https://sns.<region>.amazonaws.com[.cn]/SimpleNotificationService-<id>.pem`, default port, nothing else. */
export function isCertificateUrl(url: string): boolean {
  return isSnsUrl(url) && CERT_PATH.test(new URL(url).pathname) && new URL(url).search === '';
}

/** GET of a certificate: HTTPS, 200, a PEM of at most 16 KiB, within 5 s. */
function fetchCertificate(url: string, agent: Agent | undefined): Promise<string> {
  return new Promise((resolve, reject) => {
    const request = get(url, { ...(agent ? { agent } : {}), timeout: 5000 }, (response) => {
      if (response.statusCode !== 200) {
        response.resume();
        reject(new Error(`fetching the SNS certificate ${url}: HTTP ${response.statusCode}`));
        return;
      }
      let pem = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        pem += chunk;
        if (pem.length > 16 * 1024)
          request.destroy(new Error(`the SNS certificate ${url} is larger than 16 KiB`));
      });
      response.on('end', () => resolve(pem));
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error(`fetching the SNS certificate ${url}: timed out`)));
    request.on('error', reject);
  });
}

/** True for `https://sns.<region>.amazonaws.com/…`: the only place chronops confirms a subscription at. */
export function isSnsUrl(url: string | undefined): boolean {
  if (!url) return false;
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'https:' && SNS_HOST.test(parsed.hostname) && parsed.port === '';
  } catch {
    return false;
  }
}

function parseEnvelope(body: string): SnsEnvelope {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new SnsRefusal('malformed', 'json', 'the body is not JSON (an SNS message is)');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new SnsRefusal('malformed', 'json', 'the body is not an SNS message');
  }
  const e = parsed as Record<string, unknown>;
  if (typeof e.Type !== 'string' || !TYPES.has(e.Type)) {
    throw new SnsRefusal(
      'malformed',
      'type',
      'Type must be Notification, SubscriptionConfirmation or UnsubscribeConfirmation',
    );
  }
  const required = [
    'MessageId',
    'TopicArn',
    'Message',
    'Timestamp',
    'SignatureVersion',
    'Signature',
    'SigningCertURL',
  ];
  if (e.Type !== 'Notification') required.push('SubscribeURL', 'Token');
  const missing = required.filter((k) => typeof e[k] !== 'string');
  if (missing.length > 0) throw new SnsRefusal('malformed', 'fields', `missing ${missing.join(', ')}`);
  return e as unknown as SnsEnvelope;
}

/**
 * Confirms a subscription: a GET of its SubscribeURL (checked again to be an SNS URL). Throws when SNS does not
 * answer 200, so that the request fails and SNS sends the confirmation again. With `agent`, the GET goes through
 * node:https with that agent (tests: one that reaches a local HTTPS server); else through `fetch`.
 */
export async function confirmSubscription(
  envelope: SnsEnvelope,
  options: { fetch?: typeof fetch; agent?: Agent; timeoutMs?: number } = {},
): Promise<void> {
  if (envelope.Type !== 'SubscriptionConfirmation' || !isSnsUrl(envelope.SubscribeURL)) {
    throw new SnsRefusal(
      'malformed',
      'subscribe_url',
      'not a subscription confirmation with an SNS SubscribeURL',
    );
  }
  const url = envelope.SubscribeURL!;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const status = options.agent
    ? await new Promise<number>((resolve, reject) => {
        const request = get(url, { agent: options.agent, timeout: timeoutMs }, (response) => {
          response.resume();
          response.on('end', () => resolve(response.statusCode ?? 0));
          response.on('error', reject);
        });
        request.on('timeout', () => request.destroy(new Error(`confirming ${envelope.TopicArn}: timed out`)));
        request.on('error', reject);
      })
    : (
        await (options.fetch ?? fetch)(url, {
          method: 'GET',
          signal: AbortSignal.timeout(timeoutMs),
        })
      ).status;
  if (status < 200 || status > 299) {
    throw new Error(`SNS answered ${status} to the confirmation of ${envelope.TopicArn}`);
  }
}
