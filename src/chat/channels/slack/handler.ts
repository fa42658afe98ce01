// What the gateway's worker does with a stored Slack delivery: turn it into a ChatEvent (reading the thread's
// parent message when needed), run the command handler, and queue the answers in the outbox — the answers, the
// "done" mark and the command's audit record in one statement (shared with the other commands finished meanwhile).
// The command handler is idempotent per event (a create finds the window it made), and the answers' keys derive
// from the delivery, so a second run posts nothing new.

import type { Delivery } from '../../../gateway/inbox-store.ts';
import type { DeliveryHandler, HandleContext } from '../../../gateway/worker.ts';
import type { Logger } from '../../../kernel/logger.ts';
import type { ChatStore, OutboxMessage } from '../../chat-store.ts';
import { type ChatTransport, ChatTransportError, type Reply } from '../../port.ts';
import { textReply } from '../../reply.ts';
import type { CommandAudit, CommandRouter } from '../../router.ts';
import { decodeDelivery, type SlackDelivery } from './events.ts';

/** The outbox rows of a delivery's replies; keys derive from the delivery, so a re-run queues nothing new. */
export function answersOf(row: Pick<Delivery, 'key' | 'kind'>, delivery: SlackDelivery, replies: Reply[]) {
  return replies.map((reply, i): OutboxMessage => {
    if (reply.replaceOriginal && reply.windowId) {
      return {
        key: `plan-cancelled:${reply.windowId}`,
        platform: row.kind,
        op: 'update',
        role: 'plan-update',
        channel: delivery.replyTo.channel,
        targetTs: delivery.event.messageTs ?? null,
        windowId: reply.windowId,
        eventKey: row.key,
        text: reply.text,
        blocks: reply.blocks ?? null,
      };
    }
    return {
      key: `${row.key}#${i}`,
      platform: row.kind,
      op: 'post',
      role: reply.windowId ? 'plan' : 'reply',
      channel: delivery.replyTo.channel,
      threadTs: delivery.replyTo.threadTs ?? null,
      windowId: reply.windowId ?? null,
      eventKey: row.key,
      text: reply.text,
      blocks: reply.blocks ?? null,
    };
  });
}

export interface SlackDeliveryHandlerOptions {
  store: ChatStore;
  handler: Pick<CommandRouter, 'handle'>;
  transport: ChatTransport;
  logger: Logger;
  /** Told when answers were queued. */
  onQueued?: () => void;
}

export class SlackDeliveryHandler implements DeliveryHandler {
  private readonly o: SlackDeliveryHandlerOptions;

  constructor(options: SlackDeliveryHandlerOptions) {
    this.o = options;
  }

  /** Deliveries chronops does not act on (other events, bots' mentions) are closed without handling. */
  skip(row: Delivery): string | undefined {
    const decoded = decodeDelivery(row);
    return decoded.ok ? undefined : decoded.ignore;
  }

  async handle(row: Delivery, ctx: HandleContext): Promise<'finished' | undefined> {
    const decoded = decodeDelivery(row);
    if (!decoded.ok) return undefined;
    const delivery = decoded.delivery;
    const event = delivery.event;
    if (delivery.parentOf) event.parentText = await this.parent(delivery.parentOf);
    const audits: CommandAudit[] = [];
    const replies = await this.o.handler.handle(event, { audits });
    await ctx.yieldToIngest();
    await this.o.store.finishInbox(row, answersOf(row, delivery, replies), audits);
    this.o.onQueued?.();
    return 'finished';
  }

  /** Tells the thread, once, that the command could not be handled. */
  async gaveUp(row: Delivery, error: unknown): Promise<void> {
    let decoded: ReturnType<typeof decodeDelivery>;
    try {
      decoded = decodeDelivery(row);
    } catch {
      return;
    }
    if (!decoded.ok) return;
    const message = error instanceof Error ? error.message : String(error);
    const sorry = textReply(
      `:x: Sorry, chronops could not handle this (${message.slice(0, 200)}). The details are in its log.`,
    );
    await this.o.store.enqueue(
      answersOf(row, decoded.delivery, [sorry]).map((m) => ({ ...m, key: `${row.key}#failed` })),
    );
    this.o.onQueued?.();
  }

  /** The parent's text; null when Slack says it cannot be read (the handler explains); throws to retry. */
  private async parent(of: { channel: string; threadTs: string }): Promise<string | null> {
    try {
      return await this.o.transport.readParent(of.channel, of.threadTs);
    } catch (error) {
      if (error instanceof ChatTransportError && !error.retryable) {
        this.o.logger.warn({ ...of, code: error.code }, 'slack: cannot read the thread parent');
        return null;
      }
      throw error;
    }
  }
}
