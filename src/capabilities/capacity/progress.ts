// Reports a window's progress in the chat thread it came from: each transition started, done (from → to) or
// failed, each new replica available after its time-to-ready, and the plan message updated once the window is
// cancelled (whoever cancelled it: the button, `delete`, the API, the page). Messages are queued in the outbox
// with keys derived from what happened, so a second report of the same thing posts nothing.

import type { ChatStore, OutboxMessage } from '../../chat/chat-store.ts';
import type { Config } from '../../kernel/config.ts';
import type { ChronopsEvents, EventBus } from '../../kernel/events.ts';
import type { Logger } from '../../kernel/logger.ts';
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

export interface ProgressReporterOptions {
  events: EventBus;
  store: ChatStore;
  config: Config;
  getWindow: (id: string) => Promise<CapacityWindow>;
  /** Platforms whose windows are reported here (those with a transport). */
  platforms: string[];
  logger: Logger;
  onQueued?: () => void;
}

/** A short stable digest for keys (the same error reported twice is one message). */
function digest(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(36);
}

export class ProgressReporter {
  private readonly o: ProgressReporterOptions;
  private readonly unsubscribe: Array<() => void> = [];
  private readonly pending = new Set<Promise<void>>();

  constructor(options: ProgressReporterOptions) {
    this.o = options;
  }

  start(): void {
    const { events, config } = this.o;
    const resource = (name: string) => config.resources[name];
    const locale = config.locale;
    this.on(events, 'transition.started', (e) => ({
      windowId: e.transition.windowId,
      key: `progress:${e.transition.id}:started`,
      text: startedText(e.transition, resource(e.transition.resource), e.target, locale),
    }));
    // One converge may finish several transitions of a window (covered: its start retried after a crash and its
    // end, or a burst): one message per window and execution, from the transition it was recorded against.
    this.on(events, 'transition.done', (e) => ({
      windowId: e.transition.windowId,
      key: `progress:${e.executionId}:${e.transition.windowId}:done`,
      text: doneText(e.transition, resource(e.transition.resource), e.outcome, locale),
    }));
    this.on(events, 'transition.failed', (e) => ({
      windowId: e.transition.windowId,
      key: `progress:${e.transition.id}:failed:${digest(e.error)}`,
      text: failedText(e.transition, resource(e.transition.resource), e.error, e.willRetry, locale),
    }));
    this.on(events, 'transition.missed', (e) => ({
      windowId: e.transition.windowId,
      key: `progress:${e.transition.id}:missed`,
      text: missedText(e.transition, resource(e.transition.resource), locale),
    }));
    this.on(events, 'reader.available', (e) =>
      e.reader.windowId
        ? {
            windowId: e.reader.windowId,
            key: `progress:reader:${e.reader.instanceId}:available`,
            text: readerAvailableText(e.reader, e.timeToReadyMs, locale),
          }
        : undefined,
    );
    this.on(events, 'reader.failed', (e) =>
      e.reader.windowId
        ? {
            windowId: e.reader.windowId,
            key: `progress:reader:${e.reader.instanceId}:failed`,
            text: readerFailedText(e.reader, e.reason),
          }
        : undefined,
    );
    this.unsubscribe.push(
      events.on('window.cancelled', (e) => this.track(this.cancelled(e.window, e.actor))),
    );
  }

  /** Stops listening and waits for reports under way to be queued. */
  async stop(): Promise<void> {
    for (const off of this.unsubscribe.splice(0)) off();
    await Promise.allSettled([...this.pending]);
  }

  private on<K extends keyof ChronopsEvents>(
    events: EventBus,
    name: K,
    message: (payload: ChronopsEvents[K]) => { windowId: string; key: string; text: string } | undefined,
  ): void {
    this.unsubscribe.push(
      events.on(name, (payload) => {
        const m = message(payload);
        if (m) this.track(this.progress(m.windowId, m.key, m.text));
      }),
    );
  }

  private track(p: Promise<void>): void {
    const tracked = p
      .catch((error) => this.o.logger.error({ err: error }, 'chat progress: could not queue a report'))
      .finally(() => this.pending.delete(tracked));
    this.pending.add(tracked);
  }

  private async progress(windowId: string, key: string, text: string): Promise<void> {
    const window = await this.o.getWindow(windowId);
    const origin = chatOriginOf(window);
    if (!origin || !this.o.platforms.includes(origin.platform)) return;
    const message: OutboxMessage = {
      key,
      platform: origin.platform,
      op: 'post',
      role: 'progress',
      channel: origin.channel,
      threadTs: origin.threadTs ?? null,
      windowId,
      afterKey: origin.eventKey,
      text,
    };
    await this.o.store.enqueue([message]);
    this.o.onQueued?.();
  }

  private async cancelled(window: CapacityWindow, actor: string): Promise<void> {
    const origin = chatOriginOf(window);
    if (!origin || !this.o.platforms.includes(origin.platform)) return;
    const by = /^[UW][A-Z0-9]{2,}$/.test(actor) ? mention(origin.platform, { id: actor }) : actor;
    const plan = planReply(window, this.o.config, {
      cancelled: { by, at: window.cancelledAt ?? new Date() },
    });
    await this.o.store.enqueue([
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
    ]);
    this.o.onQueued?.();
  }
}
