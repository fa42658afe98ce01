// The worker behind the gateway: takes stored deliveries from the inbox, fairly by source, and hands each to the
// handler registered for its source's kind — chat deliveries (slack, jandi, teams) to the chat channels, SNS and
// EventBridge deliveries to the event rules. A delivery whose worker died is taken again when its lease runs out;
// a handler must be idempotent per delivery (its key is stable across redeliveries and re-runs).

import type { Logger } from '../kernel/logger.ts';
import { Signal, sleep } from '../kernel/signal.ts';
import type { Delivery, InboxStore } from './inbox-store.ts';
import type { ReplyHub } from './replies.ts';
import type { GatewayAnswer } from './source.ts';

export interface HandleContext {
  /**
   * Answers the HTTP request still held for this delivery (a source with a reply deadline: JANDI, Teams). Call it
   * after your own writes have committed. False when no request waits any more (too late, or another server got
   * it): send the reply another way.
   */
  reply(answer: GatewayAnswer): boolean;
  /** Is a request waiting for this delivery's reply? */
  replyWanted(): boolean;
  /** Resolves when the gateway has nothing waiting to be stored: await it before each of your statements. */
  yieldToIngest(): Promise<void>;
}

/** What a capability registers for a source kind. */
export interface DeliveryHandler {
  /** Cheap, synchronous: a reason to close this delivery without handling it (closed in one batch), or undefined. */
  skip?(delivery: Delivery): string | undefined;
  /**
   * Handles one delivery. Resolve `'finished'` when you marked it done yourself (in the same statement as your
   * own writes); otherwise the worker marks it done. Throw to have it tried again later (with backoff).
   */
  handle(delivery: Delivery, ctx: HandleContext): Promise<'finished' | undefined>;
  /** The last attempt failed: tell someone (e.g. "sorry" in the thread). */
  gaveUp?(delivery: Delivery, error: unknown): Promise<void>;
}

export interface InboxWorkerOptions {
  inbox: InboxStore;
  node: string;
  logger: Logger;
  /** Which configured source has which kind: claims are made from the sources whose kind has a handler. */
  sources: () => ReadonlyArray<{ name: string; kind: string }>;
  replies?: ReplyHub;
  pollMs?: number;
  leaseMs?: number;
  maxAttempts?: number;
  /** Deliveries handled at the same time by this process. */
  concurrency?: number;
  /** At start, release every claim (the embedded database: claims left are those of a dead process). */
  releaseClaimsAtStart?: boolean;
  /** Deliveries claimed at once, shared among the sources that have work. */
  batch?: number;
  /**
   * After a claim far from full (less than half the batch), wait this long before the next (default 10 ms): at a
   * steady rate each claim then carries several deliveries instead of one or two, and their commands finish
   * together (one statement: ChatStore.finishInbox). A backlog (full claims) is taken without a pause. 0: never.
   */
  gatherMs?: number;
  /** See HandleContext.yieldToIngest. */
  yieldTo?: () => Promise<void>;
  /** Days a handled delivery is kept (its key dedupes redeliveries meanwhile). */
  keepDays?: number;
  /** Also run once an hour with the prune (the chat outbox's own housekeeping). */
  housekeeping?: () => Promise<void>;
  /**
   * Handle only the deliveries a request waits for (expedite: JANDI, Teams), not the queue: a front server
   * (`chronops serve --role front`) leaves the queue to the other servers.
   */
  expediteOnly?: boolean;
}

/** Deliveries of sources nobody handles closed per statement. */
const UNHANDLED_BATCH = 500;

export class InboxWorker {
  private readonly o: InboxWorkerOptions;
  private readonly handlers = new Map<string, DeliveryHandler>();
  private readonly signal = new Signal();
  private readonly expedited = new Set<Promise<void>>();
  private loop: Promise<void> | undefined;
  private stopped = true;
  private prunedAt = 0;
  private expiredAt = 0;

  constructor(options: InboxWorkerOptions) {
    this.o = options;
  }

  /** Deliveries of sources of `kind` go to `handler` (one handler per kind). */
  register(kind: string, handler: DeliveryHandler): void {
    if (this.handlers.has(kind)) throw new Error(`a handler for ${kind} deliveries is registered already`);
    this.handlers.set(kind, handler);
    this.signal.notify();
  }

  handles(kind: string): boolean {
    return this.handlers.has(kind);
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    if (!this.o.expediteOnly) this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.signal.notify();
    await this.loop;
    await Promise.allSettled([...this.expedited]);
  }

  notify(): void {
    this.signal.notify();
  }

  /**
   * Handles this delivery now, ahead of the queue: a request is waiting for its reply. Does nothing if another
   * worker has it already (the request then gets its fallback answer when its deadline passes).
   */
  expedite(delivery: { key: string; kind: string }): void {
    if (this.stopped || !this.handlers.has(delivery.kind)) return;
    const run = (async () => {
      let claimed: Delivery | undefined;
      try {
        claimed = await this.o.inbox.claimKey(this.o.node, this.o.leaseMs ?? 30_000, delivery.key);
      } catch (error) {
        this.o.logger.error({ err: error, key: delivery.key }, 'gateway inbox: claim failed');
      }
      if (claimed) await this.process(claimed);
    })();
    this.expedited.add(run);
    void run.finally(() => this.expedited.delete(run));
  }

  private sourcesToClaim(): string[] {
    return this.o
      .sources()
      .filter((s) => this.handlers.has(s.kind))
      .map((s) => s.name);
  }

  /** Sources whose kind no capability handles here: stored for the record and the relay, nothing to run. */
  private unhandledSources(): string[] {
    return this.o
      .sources()
      .filter((s) => !this.handlers.has(s.kind))
      .map((s) => s.name);
  }

  private async run(): Promise<void> {
    const pollMs = this.o.pollMs ?? 1000;
    const leaseMs = this.o.leaseMs ?? 30_000;
    if (this.o.releaseClaimsAtStart) {
      await this.o.inbox
        .releaseClaims()
        .catch((error) => this.o.logger.error({ err: error }, 'gateway inbox: could not release old claims'));
    }
    while (!this.stopped) {
      await this.housekeeping(leaseMs);
      let rows: Delivery[] = [];
      const batch = this.o.batch ?? 32;
      const sources = this.sourcesToClaim();
      const unhandled = this.unhandledSources();
      let closed = 0;
      try {
        if (unhandled.length > 0) {
          await this.o.yieldTo?.();
          closed = await this.o.inbox.closeUnhandled(unhandled, UNHANDLED_BATCH);
        }
        if (sources.length > 0) {
          await this.o.yieldTo?.();
          // Each source gets an equal share of a claim; a source with less work leaves its share unused this turn.
          rows = await this.o.inbox.claim(
            this.o.node,
            leaseMs,
            sources,
            Math.max(1, Math.ceil(batch / sources.length)),
          );
        }
      } catch (error) {
        this.o.logger.error({ err: error }, 'gateway inbox: claim failed');
      }
      if (rows.length === 0) {
        if (!this.stopped && closed < UNHANDLED_BATCH) await this.signal.wait(pollMs);
        continue;
      }
      await this.processAll(rows);
      const gatherMs = this.o.gatherMs ?? 10;
      if (gatherMs > 0 && rows.length < batch / 2) await sleep(gatherMs, () => this.stopped);
    }
  }

  /** Expired leases back to pending now and then; once an hour, old deliveries pruned. */
  private async housekeeping(leaseMs: number): Promise<void> {
    const now = Date.now();
    if (!this.o.releaseClaimsAtStart && now - this.expiredAt >= Math.min(leaseMs / 2, 15_000)) {
      this.expiredAt = now;
      try {
        await this.o.yieldTo?.();
        const n = await this.o.inbox.expireLeases();
        if (n > 0) this.o.logger.warn({ n }, 'gateway inbox: claims of a dead worker taken back');
      } catch (error) {
        this.o.logger.error({ err: error }, 'gateway inbox: could not expire leases');
      }
    }
    if (now - this.prunedAt < 3_600_000) return;
    this.prunedAt = now;
    try {
      await this.o.yieldTo?.();
      const gone = await this.o.inbox.prune(this.o.keepDays ?? 3);
      if (gone > 0) this.o.logger.info({ inbox: gone }, 'gateway: old deliveries deleted');
      await this.o.housekeeping?.();
    } catch (error) {
      this.o.logger.error({ err: error }, 'gateway: prune failed');
    }
  }

  /** Deliveries nobody needs to act on are closed together; the others are handled a few at a time, in turn. */
  private async processAll(rows: Delivery[]): Promise<void> {
    const skipped: string[] = [];
    const work: Delivery[] = [];
    for (const row of rows) {
      const handler = this.handlers.get(row.kind);
      let reason: string | undefined;
      try {
        reason = handler?.skip?.(row);
      } catch {
        // Unreadable: handled (and failed) one by one below.
      }
      if (reason !== undefined) skipped.push(row.key);
      else work.push(row);
    }
    if (skipped.length > 0) {
      try {
        await this.o.yieldTo?.();
        await this.o.inbox.finish(skipped);
      } catch (error) {
        this.o.logger.error({ err: error }, 'gateway inbox: could not close skipped deliveries');
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
  async process(delivery: Delivery): Promise<void> {
    const { logger } = this.o;
    const handler = this.handlers.get(delivery.kind);
    const replies = this.o.replies;
    const ctx: HandleContext = {
      reply: (answer) => replies?.offer(delivery.key, answer) ?? false,
      replyWanted: () => replies?.waiting(delivery.key) ?? false,
      yieldToIngest: () => this.o.yieldTo?.() ?? Promise.resolve(),
    };
    try {
      if (!handler) throw new Error(`no handler for ${delivery.kind} deliveries`);
      const reason = handler.skip?.(delivery);
      if (reason !== undefined) {
        logger.debug({ key: delivery.key, reason }, 'gateway inbox: nothing to do');
        await this.o.inbox.finish([delivery.key]);
        return;
      }
      const outcome = await handler.handle(delivery, ctx);
      if (outcome !== 'finished') {
        await ctx.yieldToIngest();
        await this.o.inbox.finish([delivery.key]);
      }
    } catch (error) {
      await this.failed(delivery, handler, error).catch((e) =>
        logger.error({ err: e, key: delivery.key }, 'gateway inbox: could not record a failure'),
      );
    }
  }

  private async failed(
    delivery: Delivery,
    handler: DeliveryHandler | undefined,
    error: unknown,
  ): Promise<void> {
    const message = error instanceof Error ? error.message : String(error);
    const maxAttempts = this.o.maxAttempts ?? 5;
    if (delivery.attempts < maxAttempts) {
      const delay = Math.min(60_000, 1000 * 2 ** (delivery.attempts - 1));
      this.o.logger.warn(
        { key: delivery.key, err: message, attempts: delivery.attempts, delay },
        'gateway inbox: will retry',
      );
      await this.o.inbox.fail(delivery.key, message, delay);
      setTimeout(() => this.signal.notify(), delay + 5).unref();
      return;
    }
    this.o.logger.error(
      { key: delivery.key, err: error, attempts: delivery.attempts },
      'gateway inbox: giving up',
    );
    await this.o.inbox.fail(delivery.key, message, null);
    await handler?.gaveUp?.(delivery, error);
  }
}
