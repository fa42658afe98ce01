// SNS HTTP(S) subscriptions: what arrives on `POST /sns/<source>` is checked here before anything is stored.
//
// - The signature (SignatureVersion 1: SHA1withRSA, 2: SHA256withRSA) is checked by the registry's
//   sns-payload-validator: it builds the string AWS signs, accepts a signing certificate only from
//   `https://sns.<region>.amazonaws.com[.cn]/SimpleNotificationService-<hex>.pem`, and caches certificates (LRU), so
//   after the first message of a certificate no request leaves chronops.
// - The message's age: a message signed long ago (a replay) is refused.
// - The topic: only topics configured for the source are accepted, and only their SubscriptionConfirmation is
//   confirmed (a GET of SubscribeURL, itself only on an SNS host). Anyone can subscribe a URL to their own topic;
//   without this check chronops would confirm it.
// - Raw message delivery is refused: such a message carries no signature at all, so it could come from anyone.
//
// A Notification becomes a delivery keyed by its MessageId (SNS redelivers with the same id).

import type { Agent } from 'node:https';
import SnsPayloadValidator from 'sns-payload-validator';

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
  /** How certificates are fetched (tests: an agent that reaches a local HTTPS server). Default: node's. */
  requestAgent?: Agent;
  now?: () => Date;
}

export interface VerifiedSns {
  envelope: SnsEnvelope;
  /** The delivery key within the source: the MessageId. */
  messageId: string;
}

const TYPES = new Set<string>(['Notification', 'SubscriptionConfirmation', 'UnsubscribeConfirmation']);
const SNS_HOST = /^sns\.[a-z0-9-]{3,}\.amazonaws\.com(\.cn)?$/;

export class SnsVerifier {
  readonly #topics: Set<string>;
  readonly #maxAgeMs: number;
  readonly #maxFutureMs: number;
  readonly #now: () => Date;
  readonly #validator: SnsPayloadValidator;

  constructor(options: SnsVerifierOptions) {
    this.#topics = new Set(options.topics);
    this.#maxAgeMs = (options.maxAgeSeconds ?? 3600) * 1000;
    this.#maxFutureMs = (options.maxFutureSeconds ?? 300) * 1000;
    this.#now = options.now ?? (() => new Date());
    this.#validator = new SnsPayloadValidator({
      useCache: true,
      maxCerts: 100,
      ...(options.requestAgent ? { requestAgent: options.requestAgent } : {}),
    });
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
    const envelope = parseEnvelope(body);
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
    try {
      await this.#validator.validate(envelope as unknown as SnsPayloadValidator.SnsPayload);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (message === 'Invalid SigningCertURL') {
        throw new SnsRefusal(
          'unauthorized',
          'cert_url',
          'SigningCertURL is not an SNS certificate URL (https://sns.<region>.amazonaws.com/…)',
        );
      }
      if (message === 'Invalid Signature' || message === 'Invalid SignatureVersion') {
        throw new SnsRefusal('unauthorized', 'signature', `the signature does not verify (${message})`);
      }
      // The certificate could not be fetched: not the sender's fault; SNS will try again.
      throw error;
    }
    if (envelope.Type !== 'Notification' && !isSnsUrl(envelope.SubscribeURL)) {
      throw new SnsRefusal('malformed', 'subscribe_url', 'SubscribeURL is not an SNS URL');
    }
    return { envelope, messageId: envelope.MessageId };
  }
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
 * answer 200, so that the request fails and SNS sends the confirmation again.
 */
export async function confirmSubscription(
  envelope: SnsEnvelope,
  options: { fetch?: typeof fetch; timeoutMs?: number } = {},
): Promise<void> {
  if (envelope.Type !== 'SubscriptionConfirmation' || !isSnsUrl(envelope.SubscribeURL)) {
    throw new SnsRefusal(
      'malformed',
      'subscribe_url',
      'not a subscription confirmation with an SNS SubscribeURL',
    );
  }
  const response = await (options.fetch ?? fetch)(envelope.SubscribeURL!, {
    method: 'GET',
    signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
  });
  if (!response.ok) {
    throw new Error(`SNS answered ${response.status} to the confirmation of ${envelope.TopicArn}`);
  }
}
