// Sends what chronops has to say in chat: drains the outbox (ChatStore), one message at a time per channel and in
// order, paced, honouring Retry-After, and never posting a message twice.
//
// Never twice: a message is posted at most once per key. Before each attempt the row is marked `uncertain`; a
// definite answer (posted, or an error that says nothing happened) clears it. A row still uncertain when it is
// tried again (the answer was lost, or the process died mid-call) is first looked for in its thread by its key
// (message metadata); found, it is recorded as posted instead of being posted again.

import type { ChatStore, OutboxRow } from '../chat/chat-store.ts';
import { type BlockKitBlock, type ChatTransport, ChatTransportError } from '../chat/port.ts';
import type { Logger } from '../kernel/logger.ts';
import { Signal } from '../kernel/signal.ts';

export interface OutboxSenderOptions {
  store: ChatStore;
  transports: Partial<Record<string, ChatTransport>>;
  node: string;
  logger: Logger;
  /** Least time between two messages in one channel. */
  postIntervalMs: number;
  /** How often to look for work nobody told this process about. */
  pollMs?: number;
  leaseMs?: number;
  /** Attempts before a message is given up (failed). */
  maxAttempts?: number;
  /** At most this many messages (channels) in flight. */
  concurrency?: number;
  now?: () => number;
}

export class OutboxSender {
  private readonly o: OutboxSenderOptions;
  private readonly now: () => number;
  private readonly signal = new Signal();
  private readonly lastPost = new Map<string, number>();
  private readonly inFlight = new Set<Promise<void>>();
  private loop: Promise<void> | undefined;
  private stopped = true;

  constructor(options: OutboxSenderOptions) {
    this.o = options;
    this.now = options.now ?? Date.now;
  }

  start(): void {
    this.stopped = false;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.signal.notify();
    await this.loop;
    await Promise.allSettled([...this.inFlight]);
  }

  /** Something was queued or finished: look now. */
  notify(): void {
    this.signal.notify();
  }

  /** Look again when a message put off by `delayMs` is due (without waiting for the next poll). */
  private wakeIn(delayMs: number): void {
    setTimeout(() => this.signal.notify(), delayMs + 5).unref();
  }

  private async run(): Promise<void> {
    const pollMs = this.o.pollMs ?? 1000;
    const concurrency = this.o.concurrency ?? 16;
    while (!this.stopped) {
      let rows: OutboxRow[] = [];
      const room = concurrency - this.inFlight.size;
      if (room > 0) {
        try {
          rows = await this.o.store.claimOutbox(this.o.node, this.o.leaseMs ?? 60_000, room);
        } catch (error) {
          this.o.logger.error({ err: error }, 'chat outbox: claim failed');
        }
      }
      for (const row of rows) {
        const p: Promise<void> = this.send(row)
          .catch((error) => this.o.logger.error({ err: error, key: row.key }, 'chat outbox: send failed'))
          .finally(() => {
            this.inFlight.delete(p);
            this.signal.notify();
          });
        this.inFlight.add(p);
      }
      if (rows.length === 0 && !this.stopped) await this.signal.wait(pollMs);
    }
  }

  private async pace(channel: string): Promise<void> {
    const last = this.lastPost.get(channel);
    if (last === undefined) return;
    const wait = last + this.o.postIntervalMs - this.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  }

  /** The ts of a window's plan message: 'wait' while it is not posted yet, null when it never will be. */
  private async planTs(windowId: string): Promise<string | null | 'wait'> {
    const plan = await this.o.store.planMessage(windowId);
    if (!plan || plan.status === 'failed') return null;
    return plan.status === 'posted' ? plan.ts : 'wait';
  }

  private async send(row: OutboxRow): Promise<void> {
    const { store, logger } = this.o;
    const transport = this.o.transports[row.platform];
    if (!transport) {
      await store.markFailed(row.id, `no transport for ${row.platform}`);
      return;
    }
    const blocks = (row.blocks ?? undefined) as BlockKitBlock[] | undefined;
    try {
      // Progress and the cancelled plan follow the plan message of their window: if it is still queued, go
      // behind it (it can be queued after them when its command finished while they were being queued).
      const plan =
        row.windowId && (row.role === 'progress' || row.role === 'plan-update')
          ? await this.planTs(row.windowId)
          : null;
      if (plan === 'wait') {
        await store.requeue(row.id);
        return;
      }
      if (row.op === 'update') {
        const target = row.targetTs ?? plan;
        if (target === null) return await store.markFailed(row.id, 'the message to update was never posted');
        await this.pace(row.channel);
        await store.markAttempt(row.id);
        this.lastPost.set(row.channel, this.now());
        await transport.update({
          channel: row.channel,
          ts: target,
          text: row.text,
          ...(blocks ? { blocks } : {}),
        });
        await store.markSent(row.id, target);
        return;
      }
      // A progress message of a window whose plan started the thread (slash command) goes in that thread.
      const threadTs = row.threadTs ?? (row.role === 'progress' ? plan : null) ?? undefined;
      if (row.uncertain) {
        const ts = await transport
          .findPosted(row.channel, threadTs, row.key, row.createdAt)
          .catch((error) => {
            const e = error instanceof ChatTransportError ? error : undefined;
            // Posting without knowing whether the last attempt did could post twice: retry the check, or give up.
            throw new ChatTransportError(
              e?.code ?? 'unknown',
              `could not check whether an earlier attempt posted it: ${e?.message ?? String(error)}`,
              { certain: false, retryable: e?.retryable ?? true, cause: error },
            );
          });
        if (ts) {
          logger.info({ key: row.key, ts }, 'chat outbox: an earlier attempt did post this message');
          await store.markSent(row.id, ts);
          return;
        }
      }
      await this.pace(row.channel);
      await store.markAttempt(row.id);
      this.lastPost.set(row.channel, this.now());
      const { ts } = await transport.post({
        channel: row.channel,
        text: row.text,
        key: row.key,
        ...(threadTs ? { threadTs } : {}),
        ...(blocks ? { blocks } : {}),
      });
      await store.markSent(row.id, ts);
    } catch (error) {
      await this.failed(row, error);
    }
  }

  private async failed(row: OutboxRow, error: unknown): Promise<void> {
    const e =
      error instanceof ChatTransportError
        ? error
        : new ChatTransportError('internal', error instanceof Error ? error.message : String(error), {
            certain: false,
            retryable: true,
            cause: error,
          });
    const attempts = row.attempts + 1;
    if (e.retryAfterMs !== undefined) {
      // Rate limited: nothing was posted; the channel's head waits, so the whole channel pauses.
      this.o.logger.warn({ channel: row.channel, retryAfterMs: e.retryAfterMs }, 'chat outbox: rate limited');
      await this.o.store.markRetry(row.id, e.retryAfterMs, true, e.message);
      this.wakeIn(e.retryAfterMs);
      return;
    }
    if (e.retryable && attempts < (this.o.maxAttempts ?? 8)) {
      const delay = Math.min(60_000, 500 * 2 ** (attempts - 1));
      this.o.logger.warn({ key: row.key, err: e.message, attempts, delay }, 'chat outbox: will retry');
      await this.o.store.markRetry(row.id, delay, e.certain, e.message);
      this.wakeIn(delay);
      return;
    }
    this.o.logger.error({ key: row.key, err: e.message, attempts }, 'chat outbox: giving up on a message');
    await this.o.store.markFailed(row.id, e.message);
  }
}
