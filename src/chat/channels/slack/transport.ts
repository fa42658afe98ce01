// The Slack adapter of the chat transport: @slack/web-api's WebClient pointed at `SLACK_API_URL` when set.
//
// Two clients, because a retry is only safe when the call is: reads (the thread's parent, user groups, the check
// for an already posted message) and updates use WebClient's own retries and its Retry-After handling; posts do
// not retry inside WebClient at all — a post whose answer was lost (a timeout, a 503) may have been posted, so the
// outbox retries it after looking in the thread for the message's key (message metadata) first. A rate-limited
// post is certainly not posted: it comes back as a ChatTransportError with `retryAfterMs`, and the outbox pauses
// that channel for that long.

import {
  LogLevel,
  type Logger as SlackLogger,
  WebAPIHTTPError,
  WebAPIPlatformError,
  WebAPIRateLimitedError,
  WebAPIRequestError,
  WebClient,
} from '@slack/web-api';
import type { Logger } from '../../../kernel/logger.ts';
import type { UserGroups } from '../../permissions.ts';
import {
  type BlockKitBlock,
  type ChatTransport,
  ChatTransportError,
  type OutgoingMessage,
} from '../../port.ts';

/** The metadata event type chronops tags its messages with. */
export const MESSAGE_EVENT_TYPE = 'chronops_message';

/** Platform errors after which Slack may have done part of the call: retry, but look first. */
const UNCERTAIN_ERRORS = new Set(['internal_error', 'fatal_error', 'request_timeout', 'service_unavailable']);

export interface SlackTransportOptions {
  token: string;
  /** Base URL of the Web API (default Slack's). */
  apiUrl?: string;
  logger: Logger;
  /** Per-call timeout (ms). */
  timeoutMs?: number;
  /** WebClient retries of reads and updates (default 3, 0.2 s to 5 s apart). */
  readRetries?: number;
}

function slackLogger(logger: Logger): SlackLogger {
  let level = LogLevel.WARN;
  const text = (msg: unknown[]) => msg.map((m) => (typeof m === 'string' ? m : JSON.stringify(m))).join(' ');
  return {
    debug: (...msg: unknown[]) => logger.debug(`slack web api: ${text(msg)}`),
    info: (...msg: unknown[]) => logger.info(`slack web api: ${text(msg)}`),
    warn: (...msg: unknown[]) => logger.warn(`slack web api: ${text(msg)}`),
    error: (...msg: unknown[]) => logger.error(`slack web api: ${text(msg)}`),
    setLevel: (l: LogLevel) => {
      level = l;
    },
    getLevel: () => level,
    setName: () => {},
  };
}

/** A WebClient error as a ChatTransportError that says whether the call certainly did not happen. */
export function transportError(error: unknown, method: string): ChatTransportError {
  if (error instanceof ChatTransportError) return error;
  if (error instanceof WebAPIRateLimitedError) {
    return new ChatTransportError(
      'ratelimited',
      `${method}: rate limited, retry after ${error.retryAfter} s`,
      {
        certain: true,
        retryable: true,
        retryAfterMs: error.retryAfter * 1000,
        cause: error,
      },
    );
  }
  if (error instanceof WebAPIPlatformError) {
    const code = error.data.error;
    const uncertain = UNCERTAIN_ERRORS.has(code);
    return new ChatTransportError(code, `${method}: ${code}`, {
      certain: !uncertain,
      retryable: uncertain || code === 'ratelimited',
      cause: error,
    });
  }
  if (error instanceof WebAPIHTTPError) {
    const server = error.statusCode >= 500;
    return new ChatTransportError(`http_${error.statusCode}`, `${method}: HTTP ${error.statusCode}`, {
      certain: !server,
      retryable: server,
      cause: error,
    });
  }
  if (error instanceof WebAPIRequestError) {
    return new ChatTransportError('network', `${method}: ${error.original.message}`, {
      certain: false,
      retryable: true,
      cause: error,
    });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new ChatTransportError('unknown', `${method}: ${message}`, {
    certain: false,
    retryable: true,
    cause: error,
  });
}

interface SlackMessage {
  ts?: string;
  text?: string;
  blocks?: unknown[];
  attachments?: Array<{ text?: string; fallback?: string; pretext?: string }>;
  metadata?: { event_type?: string; event_payload?: Record<string, unknown> };
}

/** Text of blocks a person would read (section/header text, rich text), for alerts posted as blocks only. */
function blocksText(blocks: unknown[] | undefined): string {
  const out: string[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const n of node) walk(n);
      return;
    }
    if (!node || typeof node !== 'object') return;
    const o = node as Record<string, unknown>;
    if (o.type === 'text' && typeof o.text === 'string') out.push(o.text);
    else if ((o.type === 'mrkdwn' || o.type === 'plain_text') && typeof o.text === 'string')
      out.push(`${o.text}\n`);
    for (const key of ['text', 'fields', 'elements', 'blocks'])
      if (key in o && typeof o[key] === 'object') walk(o[key]);
    if (o.type === 'rich_text_section' || o.type === 'rich_text_list') out.push('\n');
  };
  walk(blocks ?? []);
  return out.join('');
}

/** What a person reads in a message: its text, or — when a bot posted it as blocks or attachments — theirs. */
export function messageText(message: SlackMessage): string {
  const parts = [message.text ?? ''];
  const fromBlocks = blocksText(message.blocks).trim();
  // Slack fills `text` with a summary when a message has blocks; the blocks are the message.
  if (fromBlocks && !parts[0]!.includes(fromBlocks.split('\n')[0]!.trim())) parts.push(fromBlocks);
  for (const a of message.attachments ?? []) {
    for (const t of [a.pretext, a.text ?? a.fallback]) if (t) parts.push(t);
  }
  return parts.filter((p) => p.trim() !== '').join('\n');
}

export class SlackTransport implements ChatTransport, UserGroups {
  readonly platform = 'slack' as const;
  private readonly writes: WebClient;
  private readonly reads: WebClient;

  constructor(options: SlackTransportOptions) {
    const common = {
      ...(options.apiUrl ? { slackApiUrl: options.apiUrl } : {}),
      logger: slackLogger(options.logger),
      logLevel: LogLevel.WARN,
      timeout: options.timeoutMs ?? 10_000,
    };
    this.writes = new WebClient(options.token, {
      ...common,
      retryConfig: { retries: 0 },
      rejectRateLimitedCalls: true,
    });
    this.reads = new WebClient(options.token, {
      ...common,
      retryConfig: { retries: options.readRetries ?? 3, factor: 2, minTimeout: 200, maxTimeout: 5000 },
      rejectRateLimitedCalls: false,
    });
  }

  async post(message: OutgoingMessage): Promise<{ ts: string }> {
    try {
      const result = await this.writes.chat.postMessage({
        channel: message.channel,
        text: message.text,
        ...(message.threadTs ? { thread_ts: message.threadTs } : {}),
        ...(message.blocks ? { blocks: message.blocks as never } : {}),
        metadata: { event_type: MESSAGE_EVENT_TYPE, event_payload: { key: message.key } },
        unfurl_links: false,
        unfurl_media: false,
      });
      if (typeof result.ts !== 'string') {
        throw new ChatTransportError('no_ts', 'chat.postMessage: the answer has no ts', {
          certain: false,
          retryable: true,
        });
      }
      return { ts: result.ts };
    } catch (error) {
      throw transportError(error, 'chat.postMessage');
    }
  }

  async update(message: {
    channel: string;
    ts: string;
    text: string;
    blocks?: BlockKitBlock[];
  }): Promise<void> {
    try {
      await this.writes.chat.update({
        channel: message.channel,
        ts: message.ts,
        text: message.text,
        blocks: (message.blocks ?? []) as never,
      });
    } catch (error) {
      const e = transportError(error, 'chat.update');
      // An update is idempotent: whatever happened, doing it again is safe.
      throw new ChatTransportError(e.code, e.message, {
        certain: true,
        retryable: e.retryable,
        ...(e.retryAfterMs === undefined ? {} : { retryAfterMs: e.retryAfterMs }),
        cause: e,
      });
    }
  }

  async readParent(channel: string, threadTs: string): Promise<string | null> {
    try {
      const result = await this.reads.conversations.replies({
        channel,
        ts: threadTs,
        limit: 1,
        inclusive: true,
      });
      const parent = (result.messages as SlackMessage[] | undefined)?.find((m) => m.ts === threadTs);
      return parent ? messageText(parent) : null;
    } catch (error) {
      throw transportError(error, 'conversations.replies');
    }
  }

  async findPosted(
    channel: string,
    threadTs: string | undefined,
    key: string,
    since: Date,
  ): Promise<string | null> {
    const oldest = String(Math.floor(since.getTime() / 1000) - 60);
    try {
      const result = threadTs
        ? await this.reads.conversations.replies({
            channel,
            ts: threadTs,
            oldest,
            limit: 200,
            include_all_metadata: true,
          })
        : await this.reads.conversations.history({ channel, oldest, limit: 200, include_all_metadata: true });
      const found = (result.messages as SlackMessage[] | undefined)?.find(
        (m) => m.metadata?.event_type === MESSAGE_EVENT_TYPE && m.metadata.event_payload?.key === key,
      );
      return found?.ts ?? null;
    } catch (error) {
      throw transportError(error, threadTs ? 'conversations.replies' : 'conversations.history');
    }
  }

  async members(groupId: string): Promise<string[]> {
    try {
      const result = await this.reads.usergroups.users.list({ usergroup: groupId });
      return result.users ?? [];
    } catch (error) {
      throw transportError(error, 'usergroups.users.list');
    }
  }
}
