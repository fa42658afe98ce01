// The ONE outbox: sends what chronops has to say — chat replies, progress, notifications — to every destination:
// Slack (Web API, in a channel or thread), Slack/Teams/JANDI incoming webhooks, the page's console. It drains the
// outbox table (ChatStore), one message at a time per lane (a Slack channel, a webhook) and in order, paced per
// lane across servers, honouring Retry-After, retrying with backoff, and never sending a message twice.
//
// Never twice: a message is sent at most once per key. Before each attempt the row is marked `uncertain`; a
// definite answer (sent, or an error that says nothing happened) clears it. A row still uncertain when it is
// tried again (the answer was lost, or the process died mid-call):
// - Slack (Web API) is asked: the message is looked for in its thread by its key (message metadata); found, it is
//   recorded as posted instead of being posted again;
// - a webhook cannot be asked: the row is recorded `unknown` and not sent again (or, with `onUncertain: resend`,
//   sent again with the same Idempotency-Key). docs/notify.md says what that means.
//
// Across servers: a claim is taken over when the claiming server is dead to the others (its heartbeat lapsed).
// A server that is alive but stalled (a loaded machine) or stopping would then send what the other sends. So each
// attempt is recorded only while the row is still this claim's and this server will be seen alive for
// `sendMarginMs` (ChatStore.markAttempt); otherwise it does not call the platform at all. What remains: a call
// that was under way when its server stopped being seen alive (a stall longer than the margin between the
// attempt's record and the request, or a request slower than the margin) can arrive after the other server has
// looked (Slack) or sent with the same Idempotency-Key (a webhook with `onUncertain: resend`).

import type { ChatStore, OutboxRow } from '../chat/chat-store.ts';
import { type BlockKitBlock, type ChatTransport, ChatTransportError } from '../chat/port.ts';
import type { Logger } from '../kernel/logger.ts';
import type { Metrics } from '../kernel/metrics.ts';
import { Signal, sleep } from '../kernel/signal.ts';
import { type Destination, WEBHOOK_KINDS } from './config.ts';
import type { Notification } from './notification.ts';
import { fitToSize, replyToNotification, toJandi, toSlack, toTeams } from './render.ts';
import { postWebhook } from './webhook.ts';

/** A message for the page's console (its live stream). */
export interface ConsoleMessage {
  key: string;
  channel: string;
  threadTs: string | null;
  text: string;
  blocks: BlockKitBlock[] | null;
}

export interface OutboxSenderOptions {
  store: ChatStore;
  /** The Web API transports by platform (`slack`). */
  transports: Partial<Record<string, ChatTransport>>;
  /** The named destinations of the config (webhooks). */
  destinations?: Record<string, Destination>;
  /** Shows a message on the page's console; absent: console messages fail. */
  console?: (message: ConsoleMessage) => void;
  node: string;
  logger: Logger;
  metrics?: Metrics;
  /** Least time between two messages in one Slack channel. */
  postIntervalMs: number;
  /** How often to look for work nobody told this process about. */
  pollMs?: number;
  leaseMs?: number;
  /**
   * An attempt starts only if this server will be seen alive by the others (its `nodes` lease) for at least this
   * long (default 2000 ms): another server takes its claims over once it is not (ChatStore.markAttempt).
   */
  sendMarginMs?: number;
  /** Attempts before a message is given up (failed). */
  maxAttempts?: number;
  /** At most this many messages (channels) in flight. */
  concurrency?: number;
  /**
   * Least time between two claims (default 50 ms). Every answer queued and every send finished wakes the sender;
   * a claim looks at the first message of every channel (a few ms of the database's CPU with a hundred), so the
   * wake-ups of a busy moment share one claim instead of each making its own.
   */
  claimGapMs?: number;
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

  private count(row: OutboxRow, outcome: string): void {
    this.o.metrics?.outboxSends.inc({
      kind: row.platform,
      destination: row.destination ?? (row.platform === 'slack' ? 'thread' : row.platform),
      outcome,
    });
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
    const gapMs = this.o.claimGapMs ?? 50;
    let claimedAt = Number.NEGATIVE_INFINITY;
    while (!this.stopped) {
      let rows: OutboxRow[] = [];
      const since = performance.now() - claimedAt;
      if (since < gapMs) await sleep(gapMs - since, () => this.stopped);
      const room = concurrency - this.inFlight.size;
      if (room > 0 && !this.stopped) {
        claimedAt = performance.now();
        try {
          rows = await this.o.store.claimOutbox(
            this.o.node,
            this.o.leaseMs ?? 60_000,
            room,
            this.sendMarginMs,
          );
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

  /** Waits until `intervalMs` after the lane's last call, by this process or (laneLastAt) any server. */
  private async pace(
    lane: string,
    intervalMs = this.o.postIntervalMs,
    laneLastAt?: Date | null,
  ): Promise<void> {
    const last = Math.max(this.lastPost.get(lane) ?? 0, laneLastAt?.getTime() ?? 0);
    if (last === 0) return;
    const wait = last + intervalMs - this.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(wait, intervalMs)));
  }

  /** See OutboxSenderOptions.sendMarginMs. */
  private get sendMarginMs(): number {
    return this.o.sendMarginMs ?? 2000;
  }

  /**
   * Records the attempt, if the row is still this claim's and this server will be seen alive for the call. Not:
   * the row is left to whoever takes it (now, or at the next claim) — it is not sent from here.
   */
  private async attempt(row: OutboxRow): Promise<boolean> {
    if (await this.o.store.markAttempt(row, { node: this.o.node, marginMs: this.sendMarginMs })) return true;
    this.o.logger.warn(
      { key: row.key, node: this.o.node },
      "outbox: the claim is no longer this server's (or its lease is running out): not sent from here",
    );
    this.count(row, 'handed_over');
    // Still ours (our own lease is what is short): let it go, to be claimed again in a moment — by this server
    // once its lease is renewed, or by another.
    await this.o.store.markRetry(
      row,
      1000,
      false,
      'not sent: this server could be taken for dead by the others',
    );
    this.wakeIn(1000);
    return false;
  }

  /** The ts of a window's plan message: 'wait' while it is not posted yet, null when it never will be. */
  private async planTs(windowId: string): Promise<string | null | 'wait'> {
    const plan = await this.o.store.planMessage(windowId);
    if (!plan || plan.status === 'failed') return null;
    return plan.status === 'posted' ? plan.ts : 'wait';
  }

  private async send(row: OutboxRow): Promise<void> {
    if (WEBHOOK_KINDS.has(row.platform)) return this.sendWebhook(row);
    if (row.platform === 'console') return this.sendConsole(row);
    const { store, logger } = this.o;
    if (row.notification) {
      const slack = fitToSize(row.notification, toSlack, 40_000).rendered;
      row = { ...row, text: slack.text, blocks: slack.blocks };
    }
    const transport = this.o.transports[row.platform];
    if (!transport) {
      await store.markFailed(row, `no transport for ${row.platform}`);
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
        await store.requeue(row);
        return;
      }
      if (row.op === 'update') {
        const target = row.targetTs ?? plan;
        if (target === null) return await store.markFailed(row, 'the message to update was never posted');
        await this.pace(row.channel, this.o.postIntervalMs, row.laneLastAt);
        if (!(await this.attempt(row))) return;
        this.lastPost.set(row.channel, this.now());
        await transport.update({
          channel: row.channel,
          ts: target,
          text: row.text,
          ...(blocks ? { blocks } : {}),
        });
        await store.markSent(row, target);
        this.count(row, 'sent');
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
          await store.markSent(row, ts);
          return;
        }
      }
      await this.pace(row.channel, this.o.postIntervalMs, row.laneLastAt);
      if (!(await this.attempt(row))) return;
      this.lastPost.set(row.channel, this.now());
      const { ts } = await transport.post({
        channel: row.channel,
        text: row.text,
        key: row.key,
        ...(threadTs ? { threadTs } : {}),
        ...(blocks ? { blocks } : {}),
      });
      await store.markSent(row, ts);
      this.count(row, 'sent');
    } catch (error) {
      await this.failed(row, error);
    }
  }

  /** The body a webhook destination gets: the notification (or the chat reply) rendered for it, cut to fit. */
  private webhookBody(row: OutboxRow, destination: Destination): { body: unknown; cut: boolean } {
    const blocks = (row.blocks ?? undefined) as BlockKitBlock[] | undefined;
    if (destination.kind === 'slack-webhook' && !row.notification) {
      // A chat reply is Block Kit already.
      return { body: { text: row.text, ...(blocks ? { blocks } : {}) }, cut: false };
    }
    const n: Notification =
      row.notification ?? replyToNotification({ text: row.text, ...(blocks ? { blocks } : {}) });
    const render = destination.kind === 'teams' ? toTeams : destination.kind === 'jandi' ? toJandi : toSlack;
    const fitted = fitToSize<unknown>(n, render, destination.maxBytes);
    return { body: fitted.rendered, cut: fitted.cut };
  }

  private async sendWebhook(row: OutboxRow): Promise<void> {
    const { store, logger } = this.o;
    const destination = row.destination ? this.o.destinations?.[row.destination] : undefined;
    if (!destination || destination.kind !== row.platform) {
      await store.markFailed(
        row,
        `no ${row.platform} destination named "${row.destination ?? ''}" in the config`,
      );
      return;
    }
    const unknown = (why: string) => {
      logger.warn(
        { key: row.key, destination: destination.name },
        `notify: ${why}; not sent again, so that it is never sent twice`,
      );
      this.count(row, 'unknown');
      return store.markUnknown(row, `${why}; not sent again (onUncertain: skip)`);
    };
    try {
      if (row.uncertain && destination.onUncertain === 'skip') {
        await unknown('an earlier attempt may have arrived (its answer was lost)');
        return;
      }
      const { body, cut } = this.webhookBody(row, destination);
      if (cut)
        logger.info(
          { key: row.key, destination: destination.name },
          'notify: message cut to fit its destination',
        );
      await this.pace(row.channel, destination.minIntervalMs, row.laneLastAt);
      if (!(await this.attempt(row))) return;
      this.lastPost.set(row.channel, this.now());
      try {
        await postWebhook({ destination, body, key: row.key });
      } finally {
        // The pace counts from the answer: the next request arrives at least the interval after this one.
        this.lastPost.set(row.channel, this.now());
      }
      await store.markSent(row, null);
      this.count(row, 'sent');
    } catch (error) {
      if (error instanceof ChatTransportError && !error.certain && destination.onUncertain === 'skip') {
        await unknown(`the outcome is unknown (${error.message})`);
        return;
      }
      await this.failed(row, error);
    }
  }

  private async sendConsole(row: OutboxRow): Promise<void> {
    const publish = this.o.console;
    if (!publish) {
      await this.o.store.markFailed(row, 'no console in this process');
      return;
    }
    const rendered = row.notification ? toSlack(row.notification) : undefined;
    publish({
      key: row.key,
      channel: row.channel,
      threadTs: row.threadTs ?? null,
      text: rendered?.text ?? row.text,
      blocks: rendered?.blocks ?? ((row.blocks ?? null) as BlockKitBlock[] | null),
    });
    await this.o.store.markSent(row, null);
    this.count(row, 'sent');
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
      await this.o.store.markRetry(row, e.retryAfterMs, true, e.message);
      this.count(row, 'rate_limited');
      this.wakeIn(e.retryAfterMs);
      return;
    }
    if (e.retryable && attempts < (this.o.maxAttempts ?? 8)) {
      const delay = Math.min(60_000, 500 * 2 ** (attempts - 1));
      this.o.logger.warn({ key: row.key, err: e.message, attempts, delay }, 'chat outbox: will retry');
      await this.o.store.markRetry(row, delay, e.certain, e.message);
      this.count(row, 'retry');
      this.wakeIn(delay);
      return;
    }
    this.o.logger.error({ key: row.key, err: e.message, attempts }, 'chat outbox: giving up on a message');
    await this.o.store.markFailed(row, e.message);
    this.count(row, 'failed');
  }
}
