// The chat channel of a door that answers in the HTTP response and later through an incoming webhook (JANDI,
// Teams): a stored delivery → ChatEvent → the router → the answer (see respond.ts). The gateway's worker calls
// `handle` with the held request (src/gateway: the source holds it for `withinMs`).

import type { Destination } from '../../notify/config.ts';
import { laneOf } from '../../notify/notifier.ts';
import type { ChatStore, OutboxMessage } from '../chat-store.ts';
import type { ChatEvent, ChatPlatform, Reply } from '../port.ts';
import type { CommandRouter } from '../router.ts';
import { type HeldRequest, respond } from './respond.ts';

/** What the channel reads of a stored delivery. */
export interface RoomDelivery {
  key: string;
  body: string;
  /** The configured source it came through (its rooms, its reply destination). */
  source?: string;
}

export interface RoomChannelOptions {
  platform: ChatPlatform;
  router: Pick<CommandRouter, 'handle'>;
  store: Pick<ChatStore, 'enqueue' | 'recordAnswered' | 'sendAnsweredLater'>;
  destinations: Record<string, Destination>;
  /** A stored delivery → the event (throws on a body that cannot be read). */
  decode(delivery: RoomDelivery): ChatEvent;
  /** Replies → the HTTP answer in the platform's format. */
  render(replies: Reply[]): { status: number; json?: unknown; headers?: Record<string, string> };
  /** How long replies may take to go in the response (shorter than the gateway's hold), per source. */
  quickMs: number | ((source: string | undefined) => number);
  onQueued?: () => void;
}

export class RoomChannel {
  private readonly o: RoomChannelOptions;

  constructor(options: RoomChannelOptions) {
    this.o = options;
  }

  private rows(
    event: ChatEvent,
    key: string,
    replies: Reply[],
    keyOf: (i: number) => string,
  ): OutboxMessage[] {
    const name = event.replyTo?.destination;
    const d = name ? this.o.destinations[name] : undefined;
    return replies.map((reply, i) => ({
      key: keyOf(i),
      platform: d?.kind ?? this.o.platform,
      op: 'post',
      role: 'reply',
      channel: d ? laneOf(d) : `${this.o.platform}:${event.channel}`,
      destination: d?.name ?? null,
      eventKey: key,
      text: reply.text,
      blocks: reply.blocks ?? null,
    }));
  }

  /** Handles one stored delivery; `held` is its HTTP request when the gateway still holds it. */
  async handle(delivery: RoomDelivery, held?: HeldRequest): Promise<'answered' | 'later' | 'lost'> {
    const event = this.o.decode(delivery);
    const destination = event.replyTo?.destination;
    const canLater = destination !== undefined && destination in this.o.destinations;
    return respond({
      router: this.o.router,
      store: this.o.store,
      key: delivery.key,
      event,
      held,
      quickMs: typeof this.o.quickMs === 'number' ? this.o.quickMs : this.o.quickMs(delivery.source),
      render: this.o.render,
      later: (replies, keyOf) => (canLater ? this.rows(event, delivery.key, replies, keyOf) : undefined),
      answered: (replies, keyOf) => this.rows(event, delivery.key, replies, keyOf),
      ...(this.o.onQueued ? { onQueued: this.o.onQueued } : {}),
    });
  }
}
