// The Slack source: v0 signature over the exact bytes Slack sent, the three request URLs (events, slash commands,
// interactions), `url_verification` and `ssl_check` answered at once, and the delivery key Slack's retries repeat
// (event_id; a command's or an action's trigger_id; else the body's digest).

import { createHash } from 'node:crypto';
import { decodeSlackBody, SlackBodyError, type SlackPayload } from '../../chat/channels/slack/body.ts';
import { type SlackSignature, SlackSignatureError } from '../../chat/channels/slack/signature.ts';
import type { Logger } from '../../kernel/logger.ts';
import {
  type Acceptance,
  type DeliveryDraft,
  type GatewayRequest,
  Refusal,
  retryNumber,
  type Source,
} from '../source.ts';

export interface SlackSourceOptions {
  verifier: SlackSignature;
  maxBodyBytes: number;
  logger?: Logger;
  /** The source's name (and key prefix); `slack`. */
  name?: string;
}

/** The three request URLs of the Slack app (manifest: slack/manifest.yaml). Any kind is accepted on each. */
export const SLACK_PATHS = ['/slack/events', '/slack/commands', '/slack/interactions'] as const;

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const obj = (v: unknown): Record<string, unknown> =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};

export class SlackSource implements Source {
  readonly kind = 'slack' as const;
  readonly name: string;
  readonly paths = SLACK_PATHS;
  readonly maxBodyBytes: number;
  private readonly verifier: SlackSignature;
  private readonly logger: Logger | undefined;

  constructor(options: SlackSourceOptions) {
    this.name = options.name ?? 'slack';
    this.verifier = options.verifier;
    this.maxBodyBytes = options.maxBodyBytes;
    this.logger = options.logger;
  }

  accept(req: GatewayRequest): Acceptance {
    try {
      this.verifier.verify(
        { timestamp: req.header('x-slack-request-timestamp'), signature: req.header('x-slack-signature') },
        req.body,
      );
    } catch (error) {
      if (error instanceof SlackSignatureError) {
        throw new Refusal('unauthorized', error.message, { detail: error.reason, cause: error });
      }
      throw error;
    }
    const text = req.body.toString('utf8');
    let payload: SlackPayload;
    try {
      payload = decodeSlackBody(text, req.header('content-type'));
    } catch (error) {
      if (error instanceof SlackBodyError) throw new Refusal('malformed', error.message, { cause: error });
      throw error;
    }
    if (payload.kind === 'ssl_check') return { outcome: 'ssl_check', answer: { status: 200 } };
    if (payload.kind === 'event') {
      const type = payload.body.type;
      if (type === 'url_verification') {
        const challenge = payload.body.challenge;
        if (typeof challenge !== 'string')
          throw new Refusal('malformed', 'url_verification without a challenge');
        return { outcome: 'url_verification', answer: { status: 200, json: { challenge } } };
      }
      if (type !== 'event_callback') {
        if (type === 'app_rate_limited') {
          this.logger?.warn({ body: payload.body }, 'slack: events are being rate limited for this app');
        }
        return { outcome: 'ignored', answer: { status: 200 } };
      }
    }
    const delivery = this.draft(payload, text, retryNumber(req.header('x-slack-retry-num')));
    if (!delivery) throw new Refusal('malformed', 'event_callback without an event_id');
    return { delivery };
  }

  private draft(payload: SlackPayload, text: string, retryNum: number | null): DeliveryDraft | undefined {
    const digest = () => createHash('sha256').update(text).digest('hex').slice(0, 40);
    const p = this.name;
    switch (payload.kind) {
      case 'event': {
        const id = payload.body.event_id;
        if (typeof id !== 'string' || id === '') return undefined;
        const event = obj(payload.body.event);
        return {
          key: `${p}:event:${id}`,
          type: 'event_callback',
          subtype: str(event.type) ?? null,
          body: text,
          retryNum,
          // Messages and mentions carry `channel`; reactions, pins and the like name it under `item`.
          partitionKey: partition(
            str(payload.body.team_id),
            str(event.channel) ?? str(obj(event.item).channel) ?? str(event.channel_id),
          ),
        };
      }
      case 'command': {
        const f = payload.fields;
        return {
          key: `${p}:command:${f.trigger_id || digest()}`,
          type: 'command',
          subtype: f.command ?? null,
          body: text,
          retryNum,
          partitionKey: partition(f.team_id, f.channel_id),
        };
      }
      case 'interaction': {
        const trigger = payload.payload.trigger_id;
        return {
          key: `${p}:interaction:${typeof trigger === 'string' && trigger ? trigger : digest()}`,
          type: 'interaction',
          subtype: str(payload.payload.type) ?? null,
          body: text,
          retryNum,
          partitionKey: partition(
            str(obj(payload.payload.team).id),
            str(obj(payload.payload.channel).id) ?? str(obj(payload.payload.container).channel_id),
          ),
        };
      }
      case 'ssl_check':
        return undefined;
    }
  }
}

/** `team/channel`, or what there is of it. */
function partition(team: string | undefined, channel: string | undefined): string | null {
  if (!team && !channel) return null;
  return `${team ?? ''}/${channel ?? ''}`;
}
