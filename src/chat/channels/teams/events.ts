// A Teams outgoing webhook's Activity as a ChatEvent, and replies as its answer. Teams posts (signed with
// `Authorization: HMAC <base64>`, checked by the gateway) when someone @mentions the webhook in a channel:
//
//   { "type": "message", "id": "1485983408511", "timestamp": "…", "serviceUrl": "…", "channelId": "msteams",
//     "from": { "id": "29:1…", "name": "Kim", "aadObjectId": "0f1…" },
//     "conversation": { "id": "19:abc@thread.tacv2;messageid=1485983408511", "conversationType": "channel" },
//     "text": "<at>chronops</at> office-hours status",
//     "channelData": { "teamsChannelId": "19:abc@thread.tacv2", "teamsTeamId": "19:…", … } }
//
// and shows the response (`{ type: 'message', text }` or an Adaptive Card attachment) if it comes within 5 s.

import { z } from 'zod';
import { fitToSize, replyToNotification, toTeams } from '../../../notify/render.ts';
import type { Locale } from '../../messages.ts';
import type { ChatEvent, Reply } from '../../port.ts';

export const TeamsActivity = z.object({
  type: z.string(),
  id: z.string().optional(),
  text: z.string().default(''),
  from: z.object({ id: z.string().min(1), name: z.string().optional(), aadObjectId: z.string().optional() }),
  conversation: z.object({ id: z.string().min(1) }),
  channelData: z
    .object({
      teamsChannelId: z.string().optional(),
      channel: z.object({ id: z.string() }).optional(),
    })
    .optional(),
});

const ENTITIES: Record<string, string> = {
  nbsp: ' ',
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  '#39': "'",
  apos: "'",
};

/** The text as typed: the `<at>…</at>` mention of the webhook gone, HTML tags and entities read. */
export function teamsText(html: string): string {
  return html
    .replace(/<at>[^<]*<\/at>/gi, ' ')
    .replace(/<br\s*\/?>|<\/p>|<\/div>/gi, '\n')
    .replace(/<[^>]+>/g, '')
    .replace(/&(nbsp|amp|lt|gt|quot|#39|apos);/g, (_m, name: string) => ENTITIES[name] ?? _m)
    .trim();
}

export interface TeamsTeam {
  locale?: Locale;
  /** The notify destination (a Workflows webhook posting in the team's channel) for answers that come later. */
  replyTo?: string;
}

/** A stored Teams delivery → the ChatEvent for the router (the user is the AAD object id, else the Teams id). */
export function teamsEvent(key: string, body: string, team: TeamsTeam & { locale: Locale }): ChatEvent {
  const a = TeamsActivity.parse(JSON.parse(body));
  const channel =
    a.channelData?.teamsChannelId ?? a.channelData?.channel?.id ?? a.conversation.id.split(';')[0]!;
  const event: ChatEvent = {
    platform: 'teams',
    eventId: key,
    user: { id: a.from.aadObjectId ?? a.from.id, ...(a.from.name ? { name: a.from.name } : {}) },
    channel,
    text: teamsText(a.text),
    locale: team.locale,
    replyTo: { platform: 'teams', channel, ...(team.replyTo ? { destination: team.replyTo } : {}) },
  };
  if (a.id) event.messageTs = a.id;
  return event;
}

/** The answer Teams posts as the reply: an Adaptive Card of the replies (under Teams' 28 KB). */
export function teamsAnswer(replies: Reply[]) {
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
  return {
    status: 200,
    json: fitToSize(merged, toTeams, 28_000).rendered,
    headers: { 'content-type': 'application/json; charset=utf-8' },
  };
}
