// Reports a window's progress in the chat thread it came from: each transition started, done (from → to) or
// failed, each new replica available after its time-to-ready, and the plan message updated once the window is
// cancelled (whoever cancelled it: the button, `delete`, the API, the page). Messages are queued in the outbox
// with keys derived from what happened, so a second report of the same thing posts nothing.
//
// Exactly once: the converger hands its reports to `queue` inside the transaction that records what they report
// (the execution, the reader's state), so a process killed right after that commit has queued them already, and
// one killed before it has recorded nothing (the run is resumed and reports then). Without `inTransaction` (the
// page's console, tests) the reporter hears the same things as events, after the commit.

import type { ChatStore, OutboxMessage } from '../../chat/chat-store.ts';
import type { Config } from '../../kernel/config.ts';
import { NotFoundError } from '../../kernel/errors.ts';
import type { ChronopsEvents, EventBus } from '../../kernel/events.ts';
import type { Logger } from '../../kernel/logger.ts';
import type { Queryable } from '../../timers/port.ts';
import type { CapacityWindow } from './model.ts';
import {
  chatOriginOf,
  doneText,
  failedText,
  mention,
  missedText,
  planReply,
  readerAvailableText,
  readerFailedText,
  startedText,
} from './render.ts';

const REPORTED = [
  'transition.started',
  'transition.done',
  'transition.failed',
  'transition.missed',
  'reader.available',
  'reader.failed',
] as const;
type ReportedEvent = (typeof REPORTED)[number];

/** One thing a converge (or a reader's follow-up) reports in its window's thread. */
export type ProgressReport = {
  [K in ReportedEvent]: { event: K; payload: ChronopsEvents[K] };
}[ReportedEvent];

/**
 * Where the converger queues its reports: `queue` with the transaction that records what they report (the
 * messages then exist if and only if the record does), `wake` after that commit (the outbox looks at once).
 * The cancel queues its plan update the same way: `cancelled` in the cancel's transaction.
 */
export interface ProgressSink {
  queue(reports: ProgressReport[], tx?: Queryable): Promise<void>;
  cancelled(window: CapacityWindow, actor: string, tx?: Queryable): Promise<void>;
  wake(): void;
}

export interface ProgressReporterOptions {
  events: EventBus;
  store: Pick<ChatStore, 'enqueue'>;
  config: Config;
  /** The window, read with `q` when given (inside the reporting transaction). */
  getWindow: (id: string, q?: Queryable) => Promise<CapacityWindow>;
  /** Platforms whose windows are reported here (those with a transport). */
  platforms: string[];
  logger: Logger;
  onQueued?: () => void;
  /**
   * The converger calls `queue` and the service `cancelled` in their own transactions (this is their
   * ProgressSink). Otherwise every report and the cancel are heard as events, after the commit.
   */
  inTransaction?: boolean;
}

/** A short stable digest for keys (the same error reported twice is one message). */
function digest(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(36);
}

export class ProgressReporter implements ProgressSink {
  private readonly o: ProgressReporterOptions;
  private readonly unsubscribe: Array<() => void> = [];
  private readonly pending = new Set<Promise<void>>();

  constructor(options: ProgressReporterOptions) {
    this.o = options;
  }

  start(): void {
    const { events } = this.o;
    if (this.o.inTransaction) return;
    for (const event of REPORTED) {
      this.unsubscribe.push(
        events.on(event, (payload) => this.track(this.queue([{ event, payload } as ProgressReport]))),
      );
    }
    this.unsubscribe.push(
      events.on('window.cancelled', (e) => this.track(this.cancelled(e.window, e.actor))),
    );
  }

  /** Stops listening and waits for reports under way to be queued. */
  async stop(): Promise<void> {
    for (const off of this.unsubscribe.splice(0)) off();
    await Promise.allSettled([...this.pending]);
  }

  /**
   * Queues the thread messages of `reports` (those of windows made in a chat of these platforms); with `tx`,
   * inside it. A report that cannot be rendered is logged and left out; a database error is thrown (with `tx`,
   * the caller's record then rolls back with it, and is tried again).
   */
  async queue(reports: ProgressReport[], tx?: Queryable): Promise<void> {
    const wanted: Array<{ windowId: string; key: string; text: string }> = [];
    for (const report of reports) {
      try {
        const m = this.describe(report);
        if (m) wanted.push(m);
      } catch (error) {
        this.o.logger.error({ err: error, event: report.event }, 'chat progress: could not render a report');
      }
    }
    if (wanted.length === 0) return;
    const windows = new Map<string, CapacityWindow | null>();
    for (const id of new Set(wanted.map((m) => m.windowId))) {
      windows.set(
        id,
        await this.o.getWindow(id, tx).catch((error) => {
          if (error instanceof NotFoundError) return null;
          throw error;
        }),
      );
    }
    const messages: OutboxMessage[] = [];
    for (const m of wanted) {
      const window = windows.get(m.windowId);
      const origin = window ? chatOriginOf(window) : undefined;
      if (!origin || !this.o.platforms.includes(origin.platform)) continue;
      messages.push({
        key: m.key,
        platform: origin.platform,
        op: 'post',
        role: 'progress',
        channel: origin.channel,
        threadTs: origin.threadTs ?? null,
        windowId: m.windowId,
        afterKey: origin.eventKey,
        text: m.text,
      });
    }
    if (messages.length === 0) return;
    await this.o.store.enqueue(messages, tx);
    // Inside a transaction the messages are not visible yet: the caller wakes the outbox after its commit.
    if (!tx) this.o.onQueued?.();
  }

  /** After a commit that queued reports: the outbox looks now. */
  wake(): void {
    this.o.onQueued?.();
  }

  /** The message of one report (its key says what happened: the same thing reported twice is one message). */
  private describe(r: ProgressReport): { windowId: string; key: string; text: string } | undefined {
    const { config } = this.o;
    const resource = (name: string) => config.resources[name];
    const locale = config.locale;
    switch (r.event) {
      case 'transition.started': {
        const e = r.payload;
        return {
          windowId: e.transition.windowId,
          key: `progress:${e.transition.id}:started`,
          text: startedText(e.transition, resource(e.transition.resource), e.target, locale),
        };
      }
      // One converge may finish several transitions of a window (covered: its start retried after a crash and
      // its end, or a burst): one message per window and execution, from the transition it was recorded against.
      case 'transition.done': {
        const e = r.payload;
        return {
          windowId: e.transition.windowId,
          key: `progress:${e.executionId}:${e.transition.windowId}:done`,
          text: doneText(e.transition, resource(e.transition.resource), e.outcome, locale),
        };
      }
      case 'transition.failed': {
        const e = r.payload;
        return {
          windowId: e.transition.windowId,
          key: `progress:${e.transition.id}:failed:${digest(e.error)}`,
          text: failedText(e.transition, resource(e.transition.resource), e.error, e.willRetry, locale),
        };
      }
      case 'transition.missed': {
        const e = r.payload;
        return {
          windowId: e.transition.windowId,
          key: `progress:${e.transition.id}:missed`,
          text: missedText(e.transition, resource(e.transition.resource), locale),
        };
      }
      case 'reader.available': {
        const e = r.payload;
        return e.reader.windowId
          ? {
              windowId: e.reader.windowId,
              key: `progress:reader:${e.reader.instanceId}:available`,
              text: readerAvailableText(e.reader, e.timeToReadyMs, locale),
            }
          : undefined;
      }
      case 'reader.failed': {
        const e = r.payload;
        return e.reader.windowId
          ? {
              windowId: e.reader.windowId,
              key: `progress:reader:${e.reader.instanceId}:failed`,
              text: readerFailedText(e.reader, e.reason),
            }
          : undefined;
      }
    }
  }

  private track(p: Promise<void>): void {
    const tracked = p
      .catch((error) => this.o.logger.error({ err: error }, 'chat progress: could not queue a report'))
      .finally(() => this.pending.delete(tracked));
    this.pending.add(tracked);
  }

  /**
   * The plan message of a cancelled window, updated; with `tx`, queued inside it (the caller wakes after). As in
   * `queue`, a message that cannot be rendered is logged and left out (the cancel stands); a database error
   * is thrown (the cancel rolls back with it).
   */
  async cancelled(window: CapacityWindow, actor: string, tx?: Queryable): Promise<void> {
    const origin = chatOriginOf(window);
    if (!origin || !this.o.platforms.includes(origin.platform)) return;
    const by = /^[UW][A-Z0-9]{2,}$/.test(actor) ? mention(origin.platform, { id: actor }) : actor;
    let plan: ReturnType<typeof planReply>;
    try {
      plan = planReply(window, this.o.config, { cancelled: { by, at: window.cancelledAt ?? new Date() } });
    } catch (error) {
      this.o.logger.error({ err: error, window: window.id }, 'chat progress: could not render a cancel');
      return;
    }
    await this.o.store.enqueue(
      [
        {
          key: `plan-cancelled:${window.id}`,
          platform: origin.platform,
          op: 'update',
          role: 'plan-update',
          channel: origin.channel,
          windowId: window.id,
          afterKey: origin.eventKey,
          text: plan.text,
          blocks: plan.blocks ?? null,
        },
      ],
      tx,
    );
    if (!tx) this.o.onQueued?.();
  }
}
