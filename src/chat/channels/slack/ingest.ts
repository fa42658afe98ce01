// The Slack gateway: what happens between a request arriving and its 200. Verify the signature over the exact
// bytes Slack sent, decode, name the delivery (its dedupe key), store it durably, answer. Nothing else: the
// command is handled later by the inbox worker, at its own pace. Host-agnostic (the Hono routes call it; a
// Lambda handler given API Gateway's base64 body can call it too).

import { createHash } from 'node:crypto';
import { Counter } from 'prom-client';
import type { Logger } from '../../../kernel/logger.ts';
import type { Metrics } from '../../../kernel/metrics.ts';
import type { InboxItem } from '../../chat-store.ts';
import { decodeSlackBody, SlackBodyError, type SlackPayload, slackBodyBytes } from './body.ts';
import { type SlackSignature, SlackSignatureError } from './signature.ts';

export interface SlackRequest {
  /** The body as received: bytes, or text (base64 text when `isBase64`). */
  body: Uint8Array | string;
  isBase64?: boolean;
  headers: {
    timestamp?: string | null;
    signature?: string | null;
    contentType?: string | null;
    /** X-Slack-Retry-Num: 1–3 on Slack's retries (and sometimes 0 on a redelivery). */
    retryNum?: string | null;
  };
}

export interface SlackResponse {
  status: number;
  /** JSON body, when there is one. */
  json?: Record<string, unknown>;
}

export type IngestOutcome =
  | 'stored'
  | 'url_verification'
  | 'ssl_check'
  | 'ignored'
  | 'unauthorized'
  | 'malformed'
  | 'too_large';

export interface SlackIngestOptions {
  verifier: SlackSignature;
  /** Stores one delivery durably (resolves after commit); a key already stored is dropped there. */
  store: (item: InboxItem) => Promise<void>;
  /** Told after a delivery is stored: the local worker may start at once. */
  onStored?: () => void;
  logger: Logger;
  metrics?: Metrics;
}

/** Dedupe keys: Slack's event id; a slash command's or an action's trigger id; else the body's digest. */
function keyOf(payload: SlackPayload, text: string): { key: string; kind: InboxItem['kind'] } | undefined {
  const digest = () => createHash('sha256').update(text).digest('hex').slice(0, 40);
  switch (payload.kind) {
    case 'event': {
      const id = payload.body.event_id;
      if (typeof id !== 'string' || id === '') return undefined;
      return { key: `slack:event:${id}`, kind: 'event' };
    }
    case 'command': {
      const trigger = payload.fields.trigger_id;
      return { key: `slack:command:${trigger || digest()}`, kind: 'command' };
    }
    case 'interaction': {
      const trigger = payload.payload.trigger_id;
      return {
        key: `slack:interaction:${typeof trigger === 'string' && trigger ? trigger : digest()}`,
        kind: 'interaction',
      };
    }
    case 'ssl_check':
      return undefined;
  }
}

export class SlackIngest {
  private readonly o: SlackIngestOptions;
  private readonly requests: Counter<'outcome'> | undefined;

  constructor(options: SlackIngestOptions) {
    this.o = options;
    this.requests = options.metrics
      ? new Counter({
          name: 'chronops_slack_requests_total',
          help: 'Requests on /slack/* by outcome (stored, url_verification, ssl_check, ignored, unauthorized, malformed, too_large)',
          labelNames: ['outcome'] as const,
          registers: [options.metrics.registry],
        })
      : undefined;
  }

  /** Counts a request refused before it reached `handle` (the body limit). */
  count(outcome: IngestOutcome): void {
    this.requests?.inc({ outcome });
  }

  async handle(req: SlackRequest): Promise<SlackResponse> {
    let bytes: Uint8Array;
    try {
      bytes =
        typeof req.body === 'string'
          ? slackBodyBytes(req.body, req.isBase64 ?? false)
          : this.bytesOf(req.body, req);
    } catch (error) {
      return this.refuse('malformed', 400, error);
    }
    try {
      this.o.verifier.verify({ timestamp: req.headers.timestamp, signature: req.headers.signature }, bytes);
    } catch (error) {
      if (error instanceof SlackSignatureError) return this.refuse('unauthorized', 401, error);
      throw error;
    }
    const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
    let payload: SlackPayload;
    try {
      payload = decodeSlackBody(text, req.headers.contentType ?? undefined);
    } catch (error) {
      if (error instanceof SlackBodyError) return this.refuse('malformed', 400, error);
      throw error;
    }
    if (payload.kind === 'ssl_check') return this.ok('ssl_check');
    if (payload.kind === 'event') {
      const type = payload.body.type;
      if (type === 'url_verification') {
        const challenge = payload.body.challenge;
        if (typeof challenge !== 'string') {
          return this.refuse('malformed', 400, new SlackBodyError('url_verification without a challenge'));
        }
        this.count('url_verification');
        return { status: 200, json: { challenge } };
      }
      if (type !== 'event_callback') {
        if (type === 'app_rate_limited') {
          this.o.logger.warn({ body: payload.body }, 'slack: events are being rate limited for this app');
        }
        return this.ok('ignored');
      }
    }
    const id = keyOf(payload, text);
    if (!id) return this.refuse('malformed', 400, new SlackBodyError('event_callback without an event_id'));
    const retry = Number(req.headers.retryNum);
    await this.o.store({
      key: id.key,
      platform: 'slack',
      kind: id.kind,
      body: text,
      retryNum: req.headers.retryNum != null && Number.isInteger(retry) ? retry : null,
    });
    this.o.onStored?.();
    return this.ok('stored');
  }

  private bytesOf(body: Uint8Array, req: SlackRequest): Uint8Array {
    if (!req.isBase64) return body;
    return slackBodyBytes(
      Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('latin1'),
      true,
    );
  }

  private ok(outcome: IngestOutcome): SlackResponse {
    this.count(outcome);
    return { status: 200 };
  }

  private refuse(outcome: IngestOutcome, status: number, error: unknown): SlackResponse {
    this.count(outcome);
    const message = error instanceof Error ? error.message : String(error);
    this.o.logger.warn({ status, reason: message }, `slack: request refused (${outcome})`);
    return { status, json: { ok: false, error: outcome, message } };
  }
}
