// The web console: a chat door like Slack, on the page. What a person types in the page's thread becomes a
// ChatEvent of platform 'console' for the ONE command router (src/chat/router.ts: same grammar, same
// permissions check, same audit — as the user `console`), and the Reply values it returns are drawn by the page
// as Slack draws them. Progress of a window made here comes from Slack's own ProgressReporter, whose messages go
// to the page's live stream instead of Slack's outbox, so the console says exactly what Slack would.

import { z } from 'zod';
import type { CapacityWindow } from '../capabilities/capacity/model.ts';
import { ProgressReporter } from '../capabilities/capacity/progress.ts';
import type { ChatStore, OutboxMessage } from '../chat/chat-store.ts';
import { CANCEL_ACTION_ID, type ChatEvent, type Reply } from '../chat/port.ts';
import type { CommandRouter } from '../chat/router.ts';
import type { Config } from '../kernel/config.ts';
import { ValidationError } from '../kernel/errors.ts';
import type { EventBus } from '../kernel/events.ts';
import type { Logger } from '../kernel/logger.ts';
import type { ConsoleMessage } from '../notify/outbox.ts';
import type { LiveFeed } from './live.ts';

/**
 * What the outbox hands the page for the `console` destination (a notification, an answer in a console thread):
 * published on the live stream as the console's own messages are; without a thread it shows in the open one.
 */
export function consolePublisher(feed: LiveFeed): (message: ConsoleMessage) => void {
  return (m) =>
    feed.publish({
      event: 'console',
      data: { threadTs: m.threadTs, key: m.key, op: 'post', windowId: null, text: m.text, blocks: m.blocks },
    });
}

/** Who the console's commands are audited as. */
export const CONSOLE_USER = { id: 'console', name: 'console' } as const;
/** The console's one channel: a thread is one parent message pasted in the page. */
export const CONSOLE_CHANNEL = 'console';

/** A Slack-like ts (`1795324121.123456`): the page makes one per thread and per message it sends. */
const TS = z.string().regex(/^\d{1,12}\.\d{1,9}$/, 'must be a message id like 1795324121.123456');

const MessageBody = z.strictObject({
  thread: TS,
  /** Id of this message: the same message sent twice (a retry) is one event, so one window. */
  ts: TS,
  text: z.string().trim().min(1, 'type a command').max(4000),
  /** The thread's parent (the product alert); absent or null: the command is not in a thread. */
  parentText: z.string().max(40_000).nullable().optional(),
});

const ActionBody = z.strictObject({
  thread: TS,
  /** The message whose button was pressed. */
  ts: TS,
  actionId: z.literal(CANCEL_ACTION_ID),
  value: z.string().min(1).max(64),
});

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const result = schema.safeParse(body);
  if (!result.success) {
    throw new ValidationError(
      result.error.issues.map((i) => ({ field: i.path.join('.') || '(body)', message: i.message })),
    );
  }
  return result.data;
}

export interface ConsoleChatOptions {
  handler: Pick<CommandRouter, 'handle'>;
  feed: LiveFeed;
  events: EventBus;
  config: Config;
  getWindow: (id: string) => Promise<CapacityWindow>;
  logger: Logger;
}

export class ConsoleChat {
  private readonly o: ConsoleChatOptions;
  private readonly progress: ProgressReporter;

  constructor(options: ConsoleChatOptions) {
    this.o = options;
    // The reporter queues messages in a store; here the "store" hands them to the page's live stream.
    const toPage: Pick<ChatStore, 'enqueue'> = {
      enqueue: async (messages: OutboxMessage[]) => {
        for (const m of messages) this.toPage(m);
      },
    };
    this.progress = new ProgressReporter({
      events: options.events,
      store: toPage as ChatStore,
      config: options.config,
      getWindow: options.getWindow,
      platforms: ['console'],
      logger: options.logger,
    });
  }

  start(): void {
    this.progress.start();
  }

  stop(): Promise<void> {
    return this.progress.stop();
  }

  /** A command typed in a thread of the console. */
  async message(body: unknown): Promise<{ replies: Reply[] }> {
    const m = parse(MessageBody, body);
    const event: ChatEvent = {
      platform: 'console',
      eventId: `${m.thread}/${m.ts}`,
      user: { ...CONSOLE_USER },
      channel: CONSOLE_CHANNEL,
      threadTs: m.thread,
      messageTs: m.ts,
      // People type the command as they would after the mention; typing the mention too is fine.
      text: m.text.replace(/^\s*@chronops\b[:,]?/i, ''),
      ...(typeof m.parentText === 'string' && m.parentText.trim() !== '' ? { parentText: m.parentText } : {}),
    };
    return { replies: await this.o.handler.handle(event) };
  }

  /** A button pressed on a message of a console thread (the plan's Cancel). */
  async action(body: unknown): Promise<{ replies: Reply[] }> {
    const a = parse(ActionBody, body);
    const event: ChatEvent = {
      platform: 'console',
      eventId: `${a.thread}/${a.ts}/${a.actionId}`,
      user: { ...CONSOLE_USER },
      channel: CONSOLE_CHANNEL,
      threadTs: a.thread,
      messageTs: a.ts,
      text: `[button] ${a.actionId} ${a.value}`,
      action: { id: 'cancel', value: a.value },
    };
    return { replies: await this.o.handler.handle(event) };
  }

  private toPage(m: OutboxMessage): void {
    if (m.platform !== 'console') return;
    this.o.feed.publish({
      event: 'console',
      data: {
        threadTs: m.threadTs ?? null,
        key: m.key,
        op: m.op,
        windowId: m.windowId ?? null,
        text: m.text,
        blocks: m.blocks ?? null,
      },
    });
  }
}
