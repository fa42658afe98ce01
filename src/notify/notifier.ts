// What a capability calls to say something: queue a notification for a named destination of the config, or an
// answer in the chat thread a command came from. Queued, not sent: the outbox sends it (paced, retried, never
// twice). The key is the caller's idempotency key — the same key queued twice is one message — so it must say
// what the message is about (`jobs:run:<run id>:result`, `rules:<rule>:<delivery>:notify`).

import type { OutboxMessage } from '../chat/chat-store.ts';
import type { Reply, ReplyAddress } from '../chat/port.ts';
import { NotFoundError } from '../kernel/errors.ts';
import type { DbTx } from '../store/db.ts';
import type { Destination } from './config.ts';
import { type Notification, plainText } from './notification.ts';

export type { ReplyAddress };

/** Inside a caller's transaction: the message is queued iff that transaction commits. */
type InTx = { tx?: Pick<DbTx, 'query'> };

export interface NotifierOptions {
  store: { enqueue(messages: OutboxMessage[], tx?: Pick<DbTx, 'query'>): Promise<void> };
  destinations: Record<string, Destination>;
  /** Told after something was queued (the outbox looks at once). */
  onQueued?: () => void;
}

/** The lane (pace and order) of a destination: its Slack channel, the console, or the webhook itself. */
export function laneOf(destination: Destination): string {
  if (destination.kind === 'slack') return destination.channel!;
  if (destination.kind === 'console') return 'console';
  return `${destination.kind}:${destination.name}`;
}

export class Notifier {
  private readonly o: NotifierOptions;

  constructor(options: NotifierOptions) {
    this.o = options;
  }

  /** The configured destination names. */
  destinations(): string[] {
    return Object.keys(this.o.destinations);
  }

  has(name: string): boolean {
    return name in this.o.destinations;
  }

  private destination(name: string): Destination {
    const d = this.o.destinations[name];
    if (!d) {
      throw new NotFoundError(
        `no notify destination "${name}" (configured: ${this.destinations().join(', ') || 'none'})`,
      );
    }
    return d;
  }

  /**
   * Queues `notification` for the destination `to` (a name under notify.destinations), once per `key`. With
   * `tx`, inside the caller's transaction (its outcome and its message commit together): call `wake()` after the
   * commit, or the message waits for the outbox's next look.
   */
  async send(
    to: string,
    notification: Notification,
    options: { key: string; threadTs?: string } & InTx,
  ): Promise<void> {
    const d = this.destination(to);
    await this.enqueue(options, {
      key: options.key,
      platform: d.kind,
      op: 'post',
      role: 'notify',
      channel: laneOf(d),
      threadTs: options.threadTs ?? null,
      destination: d.name,
      notification,
      text: plainText(notification),
    });
  }

  /** Queues an answer in the thread a command came from: a notification, or a chat Reply. */
  async reply(
    to: ReplyAddress,
    content: { notification: Notification } | { reply: Reply },
    options: { key: string } & InTx,
  ): Promise<void> {
    const base = {
      key: options.key,
      op: 'post' as const,
      role: 'notify' as const,
      threadTs: to.threadTs ?? null,
      ...('reply' in content
        ? { text: content.reply.text, blocks: content.reply.blocks ?? null }
        : { text: plainText(content.notification), notification: content.notification }),
    };
    if (to.platform === 'slack' || to.platform === 'console') {
      await this.enqueue(options, { ...base, platform: to.platform, channel: to.channel });
      return;
    }
    if (!to.destination) {
      throw new NotFoundError(
        `a ${to.platform} room answers later through a destination, and ${to.channel} has none`,
      );
    }
    const d = this.destination(to.destination);
    await this.enqueue(options, { ...base, platform: d.kind, channel: laneOf(d), destination: d.name });
  }

  /** Tells the outbox to look now (after a commit that queued messages with `tx`). */
  wake(): void {
    this.o.onQueued?.();
  }

  private async enqueue(options: InTx, message: OutboxMessage): Promise<void> {
    await this.o.store.enqueue([message], options.tx);
    // Inside a transaction the message is not visible yet: the caller wakes the outbox after its commit.
    if (!options.tx) this.o.onQueued?.();
  }
}
