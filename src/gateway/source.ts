// The gateway's port: a Source turns one HTTP request into a stored delivery (or an immediate answer). Every
// source kind — Slack, JANDI, Teams, a generic signed webhook, SNS, EventBridge API destinations — implements it,
// and the one Gateway (gateway.ts) runs the same path for all of them:
//
//   route by path (unknown → 404) → size limit (413) → base64 body decoded → source.accept: verify (401) and
//   decode (400), name the delivery (its dedupe key) → store it durably → answer (200, or the source's answer)
//
// A source never stores or answers by itself, so that nothing refused is ever stored and nothing stored is ever
// answered before its commit.

import { ChronopsError } from '../kernel/errors.ts';

export const SourceKinds = {
  slack: 'slack',
  jandi: 'jandi',
  teams: 'teams',
  generic: 'generic',
  sns: 'sns',
  events: 'events',
} as const;
export type SourceKind = (typeof SourceKinds)[keyof typeof SourceKinds];

/** The URL prefix of each kind: a source named `n` of kind `k` listens on `/<prefix>/n` (Slack: its three URLs). */
export const SOURCE_PREFIX: Record<SourceKind, string> = {
  slack: '/slack',
  jandi: '/jandi',
  teams: '/teams',
  generic: '/hooks',
  sns: '/sns',
  events: '/events',
};

/** What a source sees of a request: the exact bytes the sender signed, and the headers (lower-case names). */
export interface GatewayRequest {
  path: string;
  body: Buffer;
  header(name: string): string | undefined;
  /** When the request arrived (ms since the epoch). */
  receivedAt: number;
}

/** An HTTP answer, host-agnostic (node:http, Hono and Lambda render it). */
export interface GatewayAnswer {
  status: number;
  json?: unknown;
  text?: string;
  headers?: Record<string, string>;
}

/** What a source makes of an accepted request: the delivery to store. */
export interface DeliveryDraft {
  /** Unique per delivery across every source (prefixed with the source's name); redeliveries repeat it. */
  key: string;
  /** The delivery's type in its source's terms (Slack `event_callback`, SNS `Notification`, GitHub `push` …). */
  type: string;
  /** A finer type where the source has one (Slack `app_mention`, a slash command's name, an SNS topic ARN). */
  subtype?: string | null;
  /** The body as the sender sent it (decoded from base64 when it came so). */
  body: string;
  /** The sender's retry number, when it says (Slack X-Slack-Retry-Num). */
  retryNum?: number | null;
  /** What keeps related deliveries in order when relayed (a team and channel); null: no order needed. */
  partitionKey?: string | null;
}

export type Acceptance =
  | {
      delivery: DeliveryDraft;
      /** The answer once stored (default 200 with an empty body). */
      answer?: GatewayAnswer;
      /**
       * Hold the HTTP request up to `withinMs` for an answer the worker gives (JANDI answers in the response;
       * Teams within 5 s). Without one in time, `answer` is sent and the worker's reply goes another way.
       */
      reply?: { withinMs: number };
    }
  | {
      /** Answered without storing: url_verification, ssl_check, an event nobody acts on, a confirmation. */
      outcome: string;
      answer: GatewayAnswer;
    };

export interface Source {
  readonly name: string;
  readonly kind: SourceKind;
  /** The exact paths it listens on. */
  readonly paths: readonly string[];
  /** Larger bodies get 413 and are not read. */
  readonly maxBodyBytes: number;
  /**
   * Verifies and decodes one request. Throws `Refusal` (401 unauthorized, 400 malformed …) when it must not be
   * stored; anything else thrown is a failure of chronops (500, the sender retries).
   */
  accept(request: GatewayRequest): Acceptance | Promise<Acceptance>;
}

export const RefusalReasons = {
  unauthorized: 'unauthorized',
  malformed: 'malformed',
  tooLarge: 'too_large',
  unknownSource: 'unknown_source',
  forbidden: 'forbidden',
} as const;
export type RefusalReason = (typeof RefusalReasons)[keyof typeof RefusalReasons];

/** The HTTP status of each refusal. */
export const REFUSAL_STATUS: Record<RefusalReason, number> = {
  unauthorized: 401,
  malformed: 400,
  too_large: 413,
  unknown_source: 404,
  forbidden: 403,
};

/** The request is refused: nothing is stored, the sender gets `status` and the message. */
export class Refusal extends ChronopsError {
  override readonly code: string;
  override readonly status: number;
  readonly reason: RefusalReason;
  /** A finer reason for the logs and metrics (`stale`, `mismatch`, `missing_headers` …). */
  readonly detail: string;
  constructor(reason: RefusalReason, message: string, options: { detail?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.reason = reason;
    this.code = reason;
    this.status = REFUSAL_STATUS[reason];
    this.detail = options.detail ?? reason;
  }
}

/** The delivery's number in the sender's retry sequence, when the header holds an integer. */
export function retryNumber(value: string | undefined): number | null {
  if (value === undefined || value.trim() === '') return null;
  const n = Number(value);
  return Number.isInteger(n) && n >= 0 ? n : null;
}
