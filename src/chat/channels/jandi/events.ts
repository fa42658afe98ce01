// JANDI's outgoing webhook as a ChatEvent, and replies as JANDI's answer. JANDI posts, for a message that starts
// with the webhook's keyword (`/chronops office-hours status`):
//
//   { "token": "…", "teamName": "Toss Lab, Inc.", "roomName": "ops", "writerName": "Gloria",
//     "writerEmail": "gloria@example.com", "text": "/chronops office-hours status", "keyword": "chronops",
//     "createdAt": "2017-07-19T14:49:11.266Z" }
//
// and shows the JSON of the response in the room: `{ body, connectColor, connectInfo: [{ title, description }] }`.
// The token is the gateway's to check (src/gateway): it stores the message without the token, with `room`, the
// configured room whose token matched — the name permissions and replies use.

import { z } from 'zod';
import { fitToSize, replyToNotification, toJandi } from '../../../notify/render.ts';
import type { Locale } from '../../messages.ts';
import type { ChatEvent, Reply } from '../../port.ts';

export const JandiOutgoing = z.object({
  /** The configured room (the gateway sets it); JANDI's own `roomName` is kept beside it. */
  room: z.string().min(1).optional(),
  teamName: z.string().optional(),
  roomName: z.string().min(1).optional(),
  writerName: z.string().min(1).optional(),
  writerEmail: z.string().optional(),
  text: z.string(),
  keyword: z.string().optional(),
  createdAt: z.string().optional(),
});
export type JandiOutgoing = z.infer<typeof JandiOutgoing>;

/** The text without the keyword that triggered the webhook (`/chronops help` → `help`). */
export function withoutKeyword(text: string, keyword: string | undefined): string {
  const trimmed = text.trim();
  if (!keyword) return trimmed.replace(/^\/\S+\s*/, '');
  const k = keyword.replace(/^\//, '');
  for (const prefix of [`/${k}`, k]) {
    if (trimmed.toLowerCase().startsWith(prefix.toLowerCase())) {
      const rest = trimmed.slice(prefix.length);
      if (rest === '' || /^\s/.test(rest)) return rest.trim();
    }
  }
  return trimmed;
}

export interface JandiRoom {
  locale?: Locale;
  /** The notify destination (the room's incoming webhook) for answers that come later. */
  replyTo?: string;
}

/** A stored JANDI delivery → the ChatEvent for the router (the user is the writer's e-mail, else name). */
export function jandiEvent(
  key: string,
  body: string,
  roomOf: (name: string) => JandiRoom & { locale: Locale },
): ChatEvent {
  const p = JandiOutgoing.parse(JSON.parse(body));
  const name = p.room ?? p.roomName;
  if (!name) throw new Error('a JANDI message without a room');
  const room = roomOf(name);
  const writer = p.writerEmail?.trim() || p.writerName || 'unknown';
  return {
    platform: 'jandi',
    eventId: key,
    user: { id: writer, ...(p.writerName ? { name: p.writerName } : {}) },
    channel: name,
    text: withoutKeyword(p.text, p.keyword),
    locale: room.locale,
    replyTo: { platform: 'jandi', channel: name, ...(room.replyTo ? { destination: room.replyTo } : {}) },
  };
}

/** JANDI keeps messages short: the answer in the response is cut to this. */
export const JANDI_RESPONSE_BYTES = 16_000;

/** Replies as one JANDI message (several replies: their parts in order). */
export function jandiMessage(replies: Reply[]) {
  const parts = replies.map(replyToNotification);
  const first = parts[0] ?? {};
  const merged = {
    ...first,
    text: parts
      .map((p) => p.text)
      .filter(Boolean)
      .join('\n\n'),
    fields: parts.flatMap((p) => p.fields ?? []),
    sections: parts.flatMap((p) => p.sections ?? []),
  };
  return fitToSize(merged, toJandi, JANDI_RESPONSE_BYTES).rendered;
}

/** The HTTP answer JANDI shows in the room. */
export function jandiAnswer(replies: Reply[]) {
  return {
    status: 200,
    json: jandiMessage(replies),
    headers: { 'content-type': 'application/json; charset=utf-8' },
  };
}
