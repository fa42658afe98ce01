// Doors whose sender reads the answer from the HTTP response (JANDI shows the response body in the room; Teams
// posts it if it comes within 5 s). The gateway stores the request and holds it open; the handler runs the command
// and, when its replies are ready within a short bound, answers in that response. Otherwise it answers "started"
// at once and the replies go later through the outbox, to the room's incoming webhook (a notify destination).
//
// Never twice: every answer is recorded in the outbox under a key derived from the delivery before it is handed to
// the response (an answer in the response is recorded as sent), so a re-run of the same delivery — its worker died
// — finds the keys taken and sends nothing again. An answer recorded but never shown (the process died between
// the record and the response) is lost, not doubled.

import type { ChatStore, OutboxMessage } from '../chat-store.ts';
import { type Locale, translator } from '../messages.ts';
import type { ChatEvent, Reply } from '../port.ts';
import { textReply } from '../reply.ts';
import type { CommandRouter } from '../router.ts';

/** The held HTTP request of a delivery (the gateway's HandleContext). */
export interface HeldRequest {
  /** Answers the request; false when no request waits any more (too late, or another server holds it). */
  reply(answer: { status: number; json?: unknown; headers?: Record<string, string> }): boolean;
  replyWanted(): boolean;
}

export interface RespondOptions {
  router: Pick<CommandRouter, 'handle'>;
  store: Pick<ChatStore, 'enqueue' | 'recordAnswered' | 'sendAnsweredLater'>;
  /** The delivery's key: the answers' keys derive from it. */
  key: string;
  event: ChatEvent;
  held: HeldRequest | undefined;
  /** How long the replies may take to go in the response (shorter than the gateway's hold). */
  quickMs: number;
  /** The HTTP answer that carries replies, in the platform's format. */
  render(replies: Reply[]): { status: number; json?: unknown; headers?: Record<string, string> };
  /** The outbox rows of later replies (to the room's destination); undefined: there is no way to answer later. */
  later(replies: Reply[], keyOf: (i: number) => string): OutboxMessage[] | undefined;
  /** Records the response itself (for the outbox listing: what the room was told). */
  answered(replies: Reply[], keyOf: (i: number) => string): OutboxMessage[];
  onQueued?: () => void;
}

export const RESPOND_MESSAGES = {
  en: {
    started: '⏳ Working on it: the answer will follow here.',
    startedNoWay:
      '⏳ Working on it. (This room has no incoming webhook configured, so the answer cannot follow here: see the page.)',
  },
  ko: {
    started: '⏳ 처리 중입니다. 결과는 이 방에 알려 드리겠습니다.',
    startedNoWay:
      '⏳ 처리 중입니다. (이 방에는 Incoming Webhook 이 설정되지 않아 결과를 여기에 알릴 수 없습니다. 페이지에서 확인하세요.)',
  },
};

type Outcome = 'answered' | 'later' | 'lost';

/** Runs the event's command and answers it in the held response, or "started" now and the replies later. */
export async function respond(o: RespondOptions): Promise<Outcome> {
  const keyOf = (i: number) => `${o.key}#${i}`;
  const handling = o.router.handle(o.event);
  const sendLater = async (replies: Reply[]): Promise<Outcome> => {
    const rows = o.later(replies, keyOf);
    if (!rows) return 'lost';
    await o.store.enqueue(rows);
    o.onQueued?.();
    return 'later';
  };
  if (!o.held?.replyWanted()) return sendLater(await handling);

  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), o.quickMs);
  });
  const quick = await Promise.race([handling, bound]);
  clearTimeout(timer);
  if (quick !== undefined) {
    const rows = o.answered(quick, keyOf);
    await o.store.recordAnswered(rows);
    if (o.held.reply(o.render(quick))) return 'answered';
    // Too late for the response after all: the recorded answers go the other way.
    if (!o.later(quick, keyOf)) return 'lost';
    await o.store.sendAnsweredLater(rows.map((r) => r.key));
    o.onQueued?.();
    return 'later';
  }
  // Not ready in time: say so now, send the replies when they are.
  const locale: Locale = o.event.locale ?? 'en';
  const t = translator(RESPOND_MESSAGES, locale);
  const canLater = o.later([], keyOf) !== undefined;
  const started = [textReply(t(canLater ? 'started' : 'startedNoWay'))];
  const startedKey = (i: number) => `${o.key}#started${i}`;
  await o.store.recordAnswered(o.answered(started, startedKey));
  o.held.reply(o.render(started));
  return sendLater(await handling);
}
