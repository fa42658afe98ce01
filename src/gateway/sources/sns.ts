// AWS SNS HTTP(S) subscriptions: `POST /sns/<name>`. Everything is checked by the one SNS verifier (../sns.ts):
// signature v1/v2 with the certificate from an SNS host (cached), the message's age, the topic against the source's
// list, raw delivery refused. Then:
//
// - SubscriptionConfirmation (of a listed topic only — the verifier refuses others with 403): confirmed by a GET of
//   its SubscribeURL before the answer, nothing stored. If SNS does not accept the confirmation, the request fails
//   (502) and SNS sends it again.
// - Notification and UnsubscribeConfirmation: stored with `<name>:<MessageId>` as the delivery key (SNS redelivers
//   with the same MessageId), then 200. Type: the SNS message type; subtype: the topic ARN.

import type { Agent } from 'node:https';
import type { Logger } from '../../kernel/logger.ts';
import { confirmSubscription, type SnsEnvelope, SnsRefusal, SnsVerifier } from '../sns.ts';
import { type Acceptance, type GatewayRequest, Refusal, SOURCE_PREFIX, type Source } from '../source.ts';

export interface SnsSourceOptions {
  name: string;
  /** The topic ARNs whose subscriptions are confirmed and whose messages are taken. */
  topics: readonly string[];
  maxAgeSeconds: number;
  maxBodyBytes: number;
  /** The HTTPS agent of the certificate fetch and the confirmation GET (tests: one that reaches loopback). */
  requestAgent?: Agent;
  /** How a confirmation is sent (default: a GET of SubscribeURL). */
  confirm?: (envelope: SnsEnvelope) => Promise<void>;
  logger?: Logger;
}

export class SnsSource implements Source {
  readonly kind = 'sns' as const;
  readonly name: string;
  readonly paths: readonly string[];
  readonly maxBodyBytes: number;
  readonly verifier: SnsVerifier;
  private readonly confirm: (envelope: SnsEnvelope) => Promise<void>;
  private readonly logger: Logger | undefined;

  constructor(options: SnsSourceOptions) {
    this.name = options.name;
    this.paths = [`${SOURCE_PREFIX.sns}/${options.name}`];
    this.maxBodyBytes = options.maxBodyBytes;
    this.logger = options.logger;
    this.verifier = new SnsVerifier({
      topics: options.topics,
      maxAgeSeconds: options.maxAgeSeconds,
      ...(options.requestAgent ? { requestAgent: options.requestAgent } : {}),
    });
    const agent = options.requestAgent;
    this.confirm = options.confirm ?? ((envelope) => confirmSubscription(envelope, agent ? { agent } : {}));
  }

  async accept(req: GatewayRequest): Promise<Acceptance> {
    const text = req.body.toString('utf8');
    let envelope: SnsEnvelope;
    try {
      ({ envelope } = await this.verifier.verify(text, req.header));
    } catch (error) {
      if (error instanceof SnsRefusal) {
        throw new Refusal(error.reason, error.message, { detail: error.detail });
      }
      throw error;
    }
    if (envelope.Type === 'SubscriptionConfirmation') {
      try {
        await this.confirm(envelope);
      } catch (error) {
        this.logger?.warn(
          { err: error, source: this.name, topic: envelope.TopicArn },
          'SNS subscription not confirmed; SNS will send the confirmation again',
        );
        return {
          outcome: 'confirmation_failed',
          answer: {
            status: 502,
            json: {
              ok: false,
              error: 'confirmation_failed',
              message: `could not confirm the subscription to ${envelope.TopicArn}: ${(error as Error).message}`,
            },
          },
        };
      }
      this.logger?.info({ source: this.name, topic: envelope.TopicArn }, 'SNS subscription confirmed');
      return {
        outcome: 'confirmed',
        answer: { status: 200, json: { ok: true, confirmed: envelope.TopicArn } },
      };
    }
    return {
      delivery: {
        key: `${this.name}:${envelope.MessageId}`,
        type: envelope.Type,
        subtype: envelope.TopicArn,
        body: text,
        partitionKey: envelope.TopicArn,
      },
    };
  }
}
