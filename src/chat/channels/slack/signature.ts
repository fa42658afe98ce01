// Slack's request signing (v0): https://api.slack.com/authentication/verifying-requests-from-slack
//
//   basestring = 'v0:' + X-Slack-Request-Timestamp + ':' + raw body (the bytes as sent, before any parsing)
//   X-Slack-Signature = 'v0=' + hex(HMAC-SHA256(signing secret, basestring))
//
// This file is the ONE implementation of that HMAC: the gateway, the tests and the benchmark all call
// `signSlackRequest` / `SlackSignature.verify`, so they cannot drift apart.

import { createHmac, timingSafeEqual } from 'node:crypto';
import { ChronopsError, ConfigError } from '../../../kernel/errors.ts';

/** Header names (lower case, as Node and Hono give them). */
export const SLACK_TIMESTAMP_HEADER = 'x-slack-request-timestamp';
export const SLACK_SIGNATURE_HEADER = 'x-slack-signature';

/** Slack's recommendation: refuse requests more than five minutes away from our clock (replay window). */
export const DEFAULT_TOLERANCE_SECONDS = 300;

export const SlackSignatureReasons = {
  missingHeaders: 'missing_headers',
  badTimestamp: 'bad_timestamp',
  stale: 'stale',
  future: 'future',
  mismatch: 'mismatch',
} as const;
export type SlackSignatureReason = (typeof SlackSignatureReasons)[keyof typeof SlackSignatureReasons];

/** The request does not come from Slack (or is a replay): answer 401 and process nothing. */
export class SlackSignatureError extends ChronopsError {
  override readonly code = 'unauthorized';
  override readonly status = 401;
  readonly reason: SlackSignatureReason;
  constructor(reason: SlackSignatureReason, message: string) {
    super(message);
    this.reason = reason;
  }
}

export interface SlackSignatureOptions {
  signingSecret: string;
  /** Clock in milliseconds since the epoch; `Date.now` unless a test injects one. */
  now?: () => number;
  /** How far (either direction) the request timestamp may be from `now`, in seconds. Default 300. */
  toleranceSeconds?: number;
}

export interface SlackSignatureHeaders {
  timestamp?: string | null;
  signature?: string | null;
}

/**
 * The `X-Slack-Signature` value for a body: `v0=` + hex HMAC-SHA256 of `v0:{timestamp}:{body}`.
 * `body` must be the raw body as sent (a string is taken as its UTF-8 bytes).
 */
export function signSlackRequest(
  secret: string,
  timestamp: string | number,
  body: string | Uint8Array,
): string {
  const hmac = createHmac('sha256', secret);
  hmac.update(`v0:${timestamp}:`, 'utf8');
  if (typeof body === 'string') hmac.update(body, 'utf8');
  else hmac.update(body);
  return `v0=${hmac.digest('hex')}`;
}

const INTEGER = /^\d{1,15}$/;

export class SlackSignature {
  readonly #secret: string;
  readonly #now: () => number;
  readonly #toleranceSeconds: number;

  constructor(options: SlackSignatureOptions) {
    if (typeof options.signingSecret !== 'string' || options.signingSecret.trim() === '') {
      throw new ConfigError([
        { field: 'SLACK_SIGNING_SECRET', message: 'the Slack signing secret is required to verify requests' },
      ]);
    }
    const tolerance = options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
    if (!Number.isInteger(tolerance) || tolerance <= 0) {
      throw new ConfigError([{ field: 'toleranceSeconds', message: 'must be a positive integer (seconds)' }]);
    }
    this.#secret = options.signingSecret;
    this.#now = options.now ?? Date.now;
    this.#toleranceSeconds = tolerance;
  }

  /**
   * Throws `SlackSignatureError` unless the request is signed with our secret and its timestamp is within the
   * tolerance of our clock (in either direction). `rawBody` must be the exact bytes Slack signed.
   */
  verify(headers: SlackSignatureHeaders, rawBody: string | Uint8Array): void {
    const timestamp = headers.timestamp?.trim();
    const signature = headers.signature?.trim();
    if (!timestamp || !signature) {
      const missing = [!timestamp && 'X-Slack-Request-Timestamp', !signature && 'X-Slack-Signature'].filter(
        Boolean,
      );
      throw new SlackSignatureError('missing_headers', `missing ${missing.join(' and ')}`);
    }
    if (!INTEGER.test(timestamp)) {
      throw new SlackSignatureError('bad_timestamp', 'X-Slack-Request-Timestamp is not an integer (seconds)');
    }
    const sentAt = Number(timestamp);
    const nowSeconds = Math.floor(this.#now() / 1000);
    if (nowSeconds - sentAt > this.#toleranceSeconds) {
      throw new SlackSignatureError(
        'stale',
        `request timestamp is ${nowSeconds - sentAt}s old (more than ${this.#toleranceSeconds}s)`,
      );
    }
    if (sentAt - nowSeconds > this.#toleranceSeconds) {
      throw new SlackSignatureError(
        'future',
        `request timestamp is ${sentAt - nowSeconds}s in the future (more than ${this.#toleranceSeconds}s)`,
      );
    }
    const expected = Buffer.from(signSlackRequest(this.#secret, timestamp, rawBody), 'utf8');
    const given = Buffer.from(signature, 'utf8');
    // timingSafeEqual needs equal lengths; a different length is a mismatch (and reveals nothing about the secret).
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new SlackSignatureError('mismatch', 'signature does not match');
    }
  }
}
