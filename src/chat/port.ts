// The chat port, in the style of Bolt's Receiver: every chat door (Slack, JANDI, Teams, the local web console)
// turns what a person typed into ONE `ChatEvent`, hands it to the one command router (router.ts), and gets `Reply`
// values back that it renders its own way (Slack posts Block Kit; the console draws the same blocks; JANDI and
// Teams get them rendered as their own messages). A `ChatTransport` is what a door needs to talk back in a
// thread: post, update a message, read a thread's parent.

import type { Locale } from './messages.ts';

export const ChatPlatforms = { slack: 'slack', console: 'console', jandi: 'jandi', teams: 'teams' } as const;
export type ChatPlatform = (typeof ChatPlatforms)[keyof typeof ChatPlatforms];

/** A button press on a message chronops posted (Slack `block_actions`, or the console's own button). */
export interface ChatAction {
  /** What the button does, as registered on the router (`router.action`): `cancel` (value: the window id). */
  id: string;
  value: string;
}

export interface ChatEvent {
  platform: ChatPlatform;
  /**
   * Unique per delivery source and stable across redeliveries (Slack: the inbox key, e.g. `event:Ev123`). A
   * command with side effects carries it into what it creates, so that running the same event twice (a worker
   * that died half-way) creates nothing twice.
   */
  eventId: string;
  user: { id: string; name?: string };
  channel: string;
  /** The thread the message is in (the parent's ts); absent at the top level of a channel. */
  threadTs?: string;
  /** The message itself (the mention), or the message whose button was pressed. */
  messageTs?: string;
  /** Raw text as typed, with the platform's formatting (`<@U…>` mentions, links, entities). */
  text: string;
  /**
   * Text of the thread's parent message (the product alert), read by the door: undefined when the message is
   * not in a thread, null when it is but the parent could not be read.
   */
  parentText?: string | null;
  action?: ChatAction;
  /** The language to answer in when the door knows it (a JANDI room's); else the config's `locale`. */
  locale?: Locale;
  /** Where later answers go (set by doors whose answers travel another way, JANDI and Teams); see replyAddressOf. */
  replyTo?: ReplyAddress;
}

/**
 * Where a chat command's later answers go: its platform and channel (a Slack channel id, a JANDI room, a Teams
 * conversation, `console`), its thread, and — for JANDI and Teams, which answer later through an incoming
 * webhook — the notify destination that reaches that room. A capability keeps it with what the command started
 * and hands it to `notifier.reply` when the outcome is known.
 */
export interface ReplyAddress {
  platform: ChatPlatform;
  channel: string;
  threadTs?: string;
  destination?: string;
}

/** The address of an event's later answers: the one its door set, else its thread (Slack, the console). */
export function replyAddressOf(event: ChatEvent): ReplyAddress {
  if (event.replyTo) return event.replyTo;
  const threadTs = event.threadTs ?? event.messageTs;
  return { platform: event.platform, channel: event.channel, ...(threadTs ? { threadTs } : {}) };
}

// ---- Block Kit, typed minimally (the subset chronops posts) ----------------------------------------------------

export interface PlainText {
  type: 'plain_text';
  text: string;
  emoji?: boolean;
}
export interface Markdown {
  type: 'mrkdwn';
  text: string;
}
export type TextObject = PlainText | Markdown;

export interface ConfirmDialog {
  title: PlainText;
  text: TextObject;
  confirm: PlainText;
  deny: PlainText;
  style?: 'primary' | 'danger';
}

export interface ButtonElement {
  type: 'button';
  action_id: string;
  text: PlainText;
  value?: string;
  style?: 'primary' | 'danger';
  confirm?: ConfirmDialog;
}

export interface HeaderBlock {
  type: 'header';
  text: PlainText;
}
export interface SectionBlock {
  type: 'section';
  text?: TextObject;
  fields?: TextObject[];
}
export interface ContextBlock {
  type: 'context';
  elements: TextObject[];
}
export interface DividerBlock {
  type: 'divider';
}
export interface ActionsBlock {
  type: 'actions';
  block_id?: string;
  elements: ButtonElement[];
}
export type BlockKitBlock = HeaderBlock | SectionBlock | ContextBlock | DividerBlock | ActionsBlock;

/** The action id of the plan message's Cancel button; its value is the window id. */
export const CANCEL_ACTION_ID = 'chronops_cancel';

export interface Reply {
  /** Plain text: the notification text, and what a door without blocks shows. */
  text: string;
  blocks?: BlockKitBlock[];
  /** Set on a plan message: the window it shows (its Cancel button cancels it). */
  windowId?: string;
  /** Replace the message whose button was pressed (the plan, once cancelled) instead of posting a new one. */
  replaceOriginal?: boolean;
}

// ---- Talking back -----------------------------------------------------------------------------------------------

export interface OutgoingMessage {
  channel: string;
  /** Post in this thread; absent: at the top level of the channel. */
  threadTs?: string;
  text: string;
  blocks?: BlockKitBlock[];
  /**
   * chronops' own key of this message. Transports that can attach metadata to a message do, so that
   * `findPosted` can tell whether an attempt whose answer was lost did post it.
   */
  key: string;
}

export interface ChatTransport {
  readonly platform: ChatPlatform;
  /** Posts a message; resolves with its ts (the platform's message id). */
  post(message: OutgoingMessage): Promise<{ ts: string }>;
  /** Replaces the text and blocks of a message chronops posted. */
  update(message: { channel: string; ts: string; text: string; blocks?: BlockKitBlock[] }): Promise<void>;
  /** The text of a thread's parent message, or null when there is none. */
  readParent(channel: string, threadTs: string): Promise<string | null>;
  /**
   * The ts of a message chronops posted with `key` in that thread (or channel) since `since`, or null: the
   * check that makes a retry after an unknown outcome safe.
   */
  findPosted(channel: string, threadTs: string | undefined, key: string, since: Date): Promise<string | null>;
}

/** A transport call failed. `retryAfterMs`: the platform asked to wait (rate limit); nothing was posted. */
export class ChatTransportError extends Error {
  /** The platform's error code (`channel_not_found`, `ratelimited`, `http_503`, `network`). */
  readonly code: string;
  /** True when the platform certainly did not carry out the call (an error answer, a rate limit). */
  readonly certain: boolean;
  /** True when trying again later may work. */
  readonly retryable: boolean;
  readonly retryAfterMs?: number;
  constructor(
    code: string,
    message: string,
    options: { certain: boolean; retryable: boolean; retryAfterMs?: number; cause?: unknown },
  ) {
    super(message, { cause: options.cause });
    this.name = 'ChatTransportError';
    this.code = code;
    this.certain = options.certain;
    this.retryable = options.retryable;
    if (options.retryAfterMs !== undefined) this.retryAfterMs = options.retryAfterMs;
  }
}
