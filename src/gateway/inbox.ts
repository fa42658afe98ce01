// The worker behind the gateway: takes stored deliveries from the inbox, turns each into a ChatEvent (reading the
// thread's parent message when needed), runs the command handler, and queues the answers in the outbox — the
// answers and the "done" mark in one transaction. A delivery whose worker died is taken again when its lease runs
// out; the handler is idempotent per event (a create finds the window it made), and the answers' keys are
// derived from the delivery, so a second run posts nothing new.

import type { CommandHandler } from '../capabilities/capacity/commands.ts';
import { textReply } from '../capabilities/capacity/render.ts';
import { decodeDelivery, type SlackDelivery } from '../chat/channels/slack/events.ts';
import type { ChatStore, InboxRow, OutboxMessage } from '../chat/chat-store.ts';
import { type ChatTransport, ChatTransportError, type Reply } from '../chat/port.ts';
import type { Logger } from '../kernel/logger.ts';
import { Signal } from '../kernel/signal.ts';

export interface InboxWorkerOptions {
  store: ChatStore;
  handler: CommandHandler;
  transport: ChatTransport;
  node: string;
  logger: Logger;
  /** Told when answers were queued. */
  onQueued?: () => void;
  pollMs?: number;
  leaseMs?: number;
  maxAttempts?: number;
  /** Deliveries handled at the same time by this process. */
  concurrency?: number;
  /** At start, release every claim (the embedded database: claims left are those of a dead process). */
  releaseClaimsAtStart?: boolean;
  /** Deliveries claimed at once. */
  batch?: number;
  /**
   * Resolves when the gateway has nothing waiting to be stored. The worker waits for it before each of its own
   * statements, so that during a storm acknowledging comes first and the backlog is drained between writes.
   */
  yieldTo?: () => Promise<void>;
}

/** The outbox rows of a delivery's replies; keys derive from the delivery, so a re-run queues nothing new. */
export function answersOf(
  row: Pick<InboxRow, 'key' | 'platform'>,
  delivery: SlackDelivery,
  replies: Reply[],
) {
  return replies.map((reply, i): OutboxMessage => {
    if (reply.replaceOriginal && reply.windowId) {
      return {
        key: `plan-cancelled:${reply.windowId}`,
        platform: row.platform,
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
      platform: row.platform,
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

export class InboxWorker {
  private readonly o: InboxWorkerOptions;
  private readonly signal = new Signal();
  private loop: Promise<void> | undefined;
  private stopped = true;
  private prunedAt = 0;

  constructor(options: InboxWorkerOptions) {
    this.o = options;
  }

  start(): void {
    this.stopped = false;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.signal.notify();
    await this.loop;
  }

  notify(): void {
    this.signal.notify();
  }

  private async run(): Promise<void> {
    const pollMs = this.o.pollMs ?? 1000;
    if (this.o.releaseClaimsAtStart) {
      await this.o.store
        .releaseClaims()
        .catch((error) => this.o.logger.error({ err: error }, 'chat inbox: could not release old claims'));
    }
    while (!this.stopped) {
      await this.pruneNowAndThen();
      let rows: InboxRow[] = [];
      try {
        await this.o.yieldTo?.();
        // A short lease is safe: handling an event twice creates nothing twice (see the file comment).
        rows = await this.o.store.claimInbox(this.o.node, this.o.leaseMs ?? 30_000, this.o.batch ?? 32);
      } catch (error) {
        this.o.logger.error({ err: error }, 'chat inbox: claim failed');
      }
      if (rows.length === 0) {
        if (!this.stopped) await this.signal.wait(pollMs);
        continue;
      }
      await this.processAll(rows);
    }
  }

  /** Once an hour: deliveries handled 3 days ago and messages sent 30 days ago are deleted (see ChatStore.prune). */
  private async pruneNowAndThen(): Promise<void> {
    const now = Date.now();
    if (now - this.prunedAt < 3_600_000) return;
    this.prunedAt = now;
    try {
      await this.o.yieldTo?.();
      const gone = await this.o.store.prune(3, 30);
      if (gone.inbox + gone.outbox > 0) this.o.logger.info(gone, 'chat: old deliveries and messages deleted');
    } catch (error) {
      this.o.logger.error({ err: error }, 'chat: prune failed');
    }
  }

  /** Deliveries chronops does not act on are closed together; the others are handled a few at a time. */
  private async processAll(rows: InboxRow[]): Promise<void> {
    const ignored: string[] = [];
    const work: InboxRow[] = [];
    for (const row of rows) {
      let decoded: ReturnType<typeof decodeDelivery> | undefined;
      try {
        decoded = decodeDelivery(row);
      } catch {
        // Unreadable: handled (and failed) one by one below.
      }
      if (decoded && !decoded.ok) ignored.push(row.key);
      else work.push(row);
    }
    if (ignored.length > 0) {
      try {
        await this.o.yieldTo?.();
        await this.o.store.finishIgnored(ignored);
      } catch (error) {
        this.o.logger.error({ err: error }, 'chat inbox: could not close ignored deliveries');
      }
    }
    const concurrency = this.o.concurrency ?? 4;
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(concurrency, work.length) }, async () => {
        for (let i = next++; i < work.length; i = next++) await this.process(work[i]!);
      }),
    );
  }

  /** Handles one delivery; never throws (a failure is recorded on the row and retried, or given up). */
  async process(row: InboxRow): Promise<void> {
    const { store, logger } = this.o;
    let delivery: SlackDelivery | undefined;
    try {
      const decoded = decodeDelivery(row);
      if (!decoded.ok) {
        logger.debug({ key: row.key, reason: decoded.ignore }, 'chat inbox: ignored');
        await store.finishInbox(row, []);
        return;
      }
      delivery = decoded.delivery;
      const event = delivery.event;
      if (delivery.parentOf) event.parentText = await this.parent(delivery.parentOf);
      const replies = await this.o.handler.handle(event);
      await this.o.yieldTo?.();
      await store.finishInbox(row, answersOf(row, delivery, replies));
      this.o.onQueued?.();
    } catch (error) {
      await this.failed(row, delivery, error).catch((e) =>
        logger.error({ err: e, key: row.key }, 'chat inbox: could not record a failure'),
      );
    }
  }

  /** The parent's text; null when Slack says it cannot be read (the handler explains); throws to retry. */
  private async parent(of: { channel: string; threadTs: string }): Promise<string | null> {
    try {
      return await this.o.transport.readParent(of.channel, of.threadTs);
    } catch (error) {
      if (error instanceof ChatTransportError && !error.retryable) {
        this.o.logger.warn({ ...of, code: error.code }, 'chat inbox: cannot read the thread parent');
        return null;
      }
      throw error;
    }
  }

  private async failed(row: InboxRow, delivery: SlackDelivery | undefined, error: unknown): Promise<void> {
    const message = error instanceof Error ? error.message : String(error);
    const maxAttempts = this.o.maxAttempts ?? 5;
    if (row.attempts < maxAttempts) {
      const delay = Math.min(60_000, 1000 * 2 ** (row.attempts - 1));
      this.o.logger.warn(
        { key: row.key, err: message, attempts: row.attempts, delay },
        'chat inbox: will retry',
      );
      await this.o.store.failInbox(row.key, message, delay);
      setTimeout(() => this.signal.notify(), delay + 5).unref();
      return;
    }
    this.o.logger.error({ key: row.key, err: error, attempts: row.attempts }, 'chat inbox: giving up');
    await this.o.store.failInbox(row.key, message, null);
    if (delivery) {
      const sorry = textReply(
        `:x: Sorry, chronops could not handle this (${message.slice(0, 200)}). The details are in its log.`,
      );
      await this.o.store.enqueue(
        answersOf(row, delivery, [sorry]).map((m) => ({ ...m, key: `${row.key}#failed` })),
      );
      this.o.onQueued?.();
    }
  }
}
