// A stored Slack delivery → the ChatEvent the command handler takes, and where its answers go.

import type { Delivery } from '../../../gateway/inbox-store.ts';
import { CANCEL_ACTION_ID, type ChatEvent } from '../../port.ts';

type Stored = Pick<Delivery, 'key' | 'type' | 'body'>;

export interface SlackDelivery {
  event: ChatEvent;
  /** Where answers are posted: the mention's thread; a slash command's channel (top level). */
  replyTo: { channel: string; threadTs?: string };
  /** The thread whose parent message must be read before handling (a mention inside a thread). */
  parentOf?: { channel: string; threadTs: string };
}

export type Decoded = { ok: true; delivery: SlackDelivery } | { ok: false; ignore: string };

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const obj = (v: unknown): Record<string, unknown> =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};

/** The id of the event in its platform's terms: the inbox key without `slack:` (`event:Ev123`). */
function eventIdOf(row: Stored): string {
  return row.key.startsWith('slack:') ? row.key.slice('slack:'.length) : row.key;
}

export function decodeDelivery(row: Stored): Decoded {
  switch (row.type) {
    case 'event_callback':
      return fromEvent(row);
    case 'command':
      return fromCommand(row);
    case 'interaction':
      return fromInteraction(row);
    default:
      return { ok: false, ignore: `delivery type ${row.type}` };
  }
}

function fromEvent(row: Stored): Decoded {
  const body = obj(JSON.parse(row.body));
  const e = obj(body.event);
  if (e.type !== 'app_mention') return { ok: false, ignore: `event type ${String(e.type)}` };
  if (e.bot_id || e.subtype)
    return { ok: false, ignore: `mention by a bot or a ${String(e.subtype)} message` };
  const channel = str(e.channel);
  const user = str(e.user);
  const ts = str(e.ts);
  if (!channel || !user || !ts) return { ok: false, ignore: 'app_mention without channel, user or ts' };
  const threadTs = str(e.thread_ts);
  const event: ChatEvent = {
    platform: 'slack',
    eventId: eventIdOf(row),
    user: { id: user },
    channel,
    messageTs: ts,
    text: str(e.text) ?? '',
  };
  if (threadTs && threadTs !== ts) event.threadTs = threadTs;
  const delivery: SlackDelivery = { event, replyTo: { channel, threadTs: threadTs ?? ts } };
  if (event.threadTs) delivery.parentOf = { channel, threadTs: event.threadTs };
  return { ok: true, delivery };
}

function fromCommand(row: Stored): Decoded {
  const f = Object.fromEntries(new URLSearchParams(row.body));
  const channel = str(f.channel_id);
  const user = str(f.user_id);
  if (!channel || !user) return { ok: false, ignore: 'slash command without channel_id or user_id' };
  const event: ChatEvent = {
    platform: 'slack',
    eventId: eventIdOf(row),
    user: f.user_name ? { id: user, name: f.user_name } : { id: user },
    channel,
    text: f.text ?? '',
  };
  return { ok: true, delivery: { event, replyTo: { channel } } };
}

function fromInteraction(row: Stored): Decoded {
  const payload = obj(JSON.parse(new URLSearchParams(row.body).get('payload') ?? '{}'));
  if (payload.type !== 'block_actions')
    return { ok: false, ignore: `interaction type ${String(payload.type)}` };
  const actions = Array.isArray(payload.actions) ? payload.actions.map(obj) : [];
  const cancel = actions.find((a) => a.action_id === CANCEL_ACTION_ID);
  const windowId = str(cancel?.value);
  if (!windowId) return { ok: false, ignore: 'block_actions without a chronops button' };
  const user = obj(payload.user);
  const container = obj(payload.container);
  const message = obj(payload.message);
  const channel = str(obj(payload.channel).id) ?? str(container.channel_id);
  const userId = str(user.id);
  const messageTs = str(container.message_ts) ?? str(message.ts);
  if (!channel || !userId || !messageTs)
    return { ok: false, ignore: 'block_actions without channel, user or message' };
  const name = str(user.username) ?? str(user.name);
  const threadTs = str(message.thread_ts);
  const event: ChatEvent = {
    platform: 'slack',
    eventId: eventIdOf(row),
    user: name ? { id: userId, name } : { id: userId },
    channel,
    messageTs,
    text: `[Cancel button] ${windowId}`,
    action: { id: 'cancel', value: windowId },
  };
  if (threadTs && threadTs !== messageTs) event.threadTs = threadTs;
  return { ok: true, delivery: { event, replyTo: { channel, threadTs: threadTs ?? messageTs } } };
}
