// A generic signed webhook, for any other system, in one of two common schemes:
//
// - Standard Webhooks (standardwebhooks.com): `webhook-id`, `webhook-timestamp` (seconds), `webhook-signature`
//   (space-separated `v1,<base64>` entries) = HMAC-SHA256 of `<id>.<timestamp>.<body>` keyed with the secret
//   (`whsec_` + base64). The id is the delivery key; the timestamp must be within the tolerance.
// - GitHub: `X-Hub-Signature-256: sha256=<hex>` = HMAC-SHA256 of the body keyed with the secret's bytes;
//   `X-GitHub-Delivery` is the delivery key, `X-GitHub-Event` the type. GitHub signs no time: a replay is caught
//   by its delivery id while the inbox keeps it (3 days).

import { parseBody } from '../body.ts';
import { type Acceptance, type GatewayRequest, Refusal, SOURCE_PREFIX, type Source } from '../source.ts';
import { checkFreshness, digestOf, hmacSha256, safeEqual } from '../verify.ts';

export interface GenericSourceOptions {
  name: string;
  scheme: 'standard' | 'github';
  secret: string;
  maxBodyBytes: number;
  toleranceSeconds: number;
}

/** The key bytes of a Standard Webhooks secret (`whsec_<base64>`; without the prefix, base64 as well). */
export function standardKey(secret: string): Buffer {
  return Buffer.from(secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret, 'base64');
}

/** Standard Webhooks' `webhook-signature` value for a message (also what tests sign with). */
export function signStandardWebhook(
  secret: string,
  id: string,
  timestamp: number | string,
  body: string | Buffer,
) {
  return `v1,${hmacSha256(standardKey(secret), `${id}.${timestamp}.`, body).toString('base64')}`;
}

/** GitHub's `X-Hub-Signature-256` value for a body. */
export function signGithubWebhook(secret: string, body: string | Buffer): string {
  return `sha256=${hmacSha256(secret, body).toString('hex')}`;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

export class GenericSource implements Source {
  readonly kind = 'generic' as const;
  readonly name: string;
  readonly paths: readonly string[];
  readonly maxBodyBytes: number;
  private readonly o: GenericSourceOptions;

  constructor(options: GenericSourceOptions) {
    this.o = options;
    this.name = options.name;
    this.paths = [`${SOURCE_PREFIX.generic}/${options.name}`];
    this.maxBodyBytes = options.maxBodyBytes;
  }

  accept(req: GatewayRequest): Acceptance {
    return this.o.scheme === 'standard' ? this.standard(req) : this.github(req);
  }

  private standard(req: GatewayRequest): Acceptance {
    const id = req.header('webhook-id')?.trim();
    const timestamp = req.header('webhook-timestamp')?.trim();
    const signatures = req.header('webhook-signature')?.trim();
    if (!id || !timestamp || !signatures) {
      throw new Refusal('unauthorized', 'missing webhook-id, webhook-timestamp or webhook-signature', {
        detail: 'missing_headers',
      });
    }
    if (!/^\d{1,15}$/.test(timestamp)) {
      throw new Refusal('unauthorized', 'webhook-timestamp is not an integer (seconds)', {
        detail: 'bad_timestamp',
      });
    }
    checkFreshness(Number(timestamp) * 1000, req.receivedAt, this.o.toleranceSeconds, 'webhook-timestamp');
    const expected = signStandardWebhook(this.o.secret, id, timestamp, req.body).slice('v1,'.length);
    // Several signatures may be sent (a secret being rotated): one valid v1 is enough. Compare with every one.
    let valid = false;
    for (const entry of signatures.split(' ')) {
      const [version, signature] = entry.split(',', 2);
      if (version === 'v1' && signature !== undefined && safeEqual(signature, expected)) valid = true;
    }
    if (!valid) throw new Refusal('unauthorized', 'signature does not match', { detail: 'mismatch' });
    const text = req.body.toString('utf8');
    const parsed = parseBody(text, req.header('content-type'));
    const type = parsed.format === 'json' ? str(parsed.value.type) : str(parsed.fields.type);
    return { delivery: { key: `${this.name}:${id}`, type: type ?? 'webhook', body: text } };
  }

  private github(req: GatewayRequest): Acceptance {
    const given = req.header('x-hub-signature-256')?.trim();
    if (!given)
      throw new Refusal('unauthorized', 'missing X-Hub-Signature-256', { detail: 'missing_headers' });
    if (!safeEqual(given, signGithubWebhook(this.o.secret, req.body))) {
      throw new Refusal('unauthorized', 'signature does not match', { detail: 'mismatch' });
    }
    const text = req.body.toString('utf8');
    const parsed = parseBody(text, req.header('content-type'));
    // GitHub's form encoding carries the JSON in one `payload` field.
    const payload =
      parsed.format === 'json' ? parsed.value : parsed.fields.payload ? safeJson(parsed.fields.payload) : {};
    const delivery = req.header('x-github-delivery')?.trim();
    return {
      delivery: {
        key: `${this.name}:${delivery || digestOf(text)}`,
        type: req.header('x-github-event')?.trim() || 'webhook',
        subtype: str(payload.action) ?? null,
        body: text,
        partitionKey: str((payload.repository as { full_name?: unknown } | undefined)?.full_name) ?? null,
      },
    };
  }
}

function safeJson(text: string): Record<string, unknown> {
  try {
    const v = JSON.parse(text);
    return v && typeof v === 'object' && !Array.isArray(v) ? v : {};
  } catch {
    throw new Refusal('malformed', 'the "payload" field is not valid JSON', { detail: 'bad_json' });
  }
}
