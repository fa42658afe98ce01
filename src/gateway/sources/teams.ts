// The Microsoft Teams source: an outgoing webhook. Teams signs each request with `Authorization: HMAC <base64>`,
// the HMAC-SHA256 of the raw body keyed with the base64-decoded security token shown when the webhook was made.
// The body is a Bot Framework activity; its `id` is the delivery key and its `timestamp` is checked for freshness
// (the signature covers no time). Teams shows the HTTP response as the reply only if it comes within 5 s, so the
// request is held for the worker's answer up to `replyWithinMs`.

import { parseJsonObject } from '../body.ts';
import {
  type Acceptance,
  type GatewayAnswer,
  type GatewayRequest,
  Refusal,
  SOURCE_PREFIX,
  type Source,
} from '../source.ts';
import { checkFreshness, digestOf, hmacSha256, safeEqual } from '../verify.ts';

export interface TeamsSourceOptions {
  name: string;
  /** The security token as Teams shows it (base64). */
  secret: string;
  maxBodyBytes: number;
  replyWithinMs: number;
  toleranceSeconds: number;
  fallback?: GatewayAnswer;
}

/** The `Authorization` header Teams sends for `body` (also what tests sign with). */
export function signTeamsRequest(secret: string, body: string | Buffer): string {
  return `HMAC ${hmacSha256(Buffer.from(secret, 'base64'), body).toString('base64')}`;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const obj = (v: unknown): Record<string, unknown> =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};

export class TeamsSource implements Source {
  readonly kind = 'teams' as const;
  readonly name: string;
  readonly paths: readonly string[];
  readonly maxBodyBytes: number;
  private readonly o: TeamsSourceOptions;
  private readonly key: Buffer;

  constructor(options: TeamsSourceOptions) {
    this.o = options;
    this.name = options.name;
    this.paths = [`${SOURCE_PREFIX.teams}/${options.name}`];
    this.maxBodyBytes = options.maxBodyBytes;
    this.key = Buffer.from(options.secret, 'base64');
  }

  accept(req: GatewayRequest): Acceptance {
    const auth = req.header('authorization')?.trim();
    const m = auth ? /^HMAC\s+(\S+)$/i.exec(auth) : null;
    if (!m)
      throw new Refusal('unauthorized', 'missing "Authorization: HMAC <signature>"', {
        detail: 'missing_headers',
      });
    const expected = hmacSha256(this.key, req.body).toString('base64');
    if (!safeEqual(m[1]!, expected)) {
      throw new Refusal('unauthorized', 'signature does not match', { detail: 'mismatch' });
    }
    const text = req.body.toString('utf8');
    const activity = parseJsonObject(text, 'the activity');
    const timestamp = str(activity.timestamp);
    checkFreshness(
      timestamp ? Date.parse(timestamp) : Number.NaN,
      req.receivedAt,
      this.o.toleranceSeconds,
      'timestamp',
    );
    const conversation = str(obj(activity.conversation).id);
    const tenant = str(obj(obj(activity.channelData).tenant).id);
    return {
      delivery: {
        key: `${this.name}:${str(activity.id) ?? digestOf(text)}`,
        type: str(activity.type) ?? 'message',
        subtype: null,
        body: text,
        partitionKey: conversation ? `${tenant ?? ''}/${conversation}` : null,
      },
      answer: this.o.fallback ?? {
        status: 200,
        json: { type: 'message', text: 'chronops received this; the answer follows in this channel.' },
      },
      ...(this.o.replyWithinMs > 0 ? { reply: { withinMs: this.o.replyWithinMs } } : {}),
    };
  }
}
