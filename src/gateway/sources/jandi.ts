// The JANDI source: a room's outgoing webhook. JANDI posts JSON (`token`, `teamName`, `roomName`, `writerName`,
// `writerEmail`, `text`, `keyword`, `createdAt`, `data`); the token is the only credential, one per room, checked
// in constant time against every configured room's. JANDI sends no delivery id, so the key is a digest of what it
// does send (the room, the message's createdAt to the millisecond, its writer and text): a redelivery of the same
// message has the same key. JANDI shows the HTTP response in the room, so the request is held briefly for the
// worker's answer (the reply hook); the stored body leaves the token out.

import { parseBody } from '../body.ts';
import type { JandiRoom } from '../config.ts';
import {
  type Acceptance,
  type GatewayAnswer,
  type GatewayRequest,
  Refusal,
  SOURCE_PREFIX,
  type Source,
} from '../source.ts';
import { checkFreshness, digestOf, matchAny } from '../verify.ts';

/** JANDI's answer format (a message in the room). */
export const JANDI_CONTENT_TYPE = 'application/vnd.tosslab.jandi-v2+json';

export interface JandiSourceOptions {
  name: string;
  rooms: readonly JandiRoom[];
  maxBodyBytes: number;
  /** Hold the request this long for the worker's answer (0: answer at once). */
  replyWithinMs: number;
  toleranceSeconds: number;
  /** The answer when the worker's did not come in time. */
  fallback?: GatewayAnswer;
}

/** What the stored body of a JANDI delivery holds (the request's JSON without its token), plus the room matched. */
export interface JandiMessage {
  /** The configured room whose token matched. */
  room: string;
  teamName?: string;
  roomName?: string;
  writerName?: string;
  writerEmail?: string;
  text: string;
  keyword?: string;
  createdAt: string;
  data?: string;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

export class JandiSource implements Source {
  readonly kind = 'jandi' as const;
  readonly name: string;
  readonly paths: readonly string[];
  readonly maxBodyBytes: number;
  private readonly o: JandiSourceOptions;
  private readonly tokens: string[];

  constructor(options: JandiSourceOptions) {
    this.o = options;
    this.name = options.name;
    this.paths = [`${SOURCE_PREFIX.jandi}/${options.name}`];
    this.maxBodyBytes = options.maxBodyBytes;
    this.tokens = options.rooms.map((r) => r.token);
  }

  accept(req: GatewayRequest): Acceptance {
    const parsed = parseBody(req.body.toString('utf8'), req.header('content-type'));
    const fields: Record<string, unknown> = parsed.format === 'json' ? parsed.value : parsed.fields;
    const token = str(fields.token);
    if (!token) throw new Refusal('unauthorized', 'no token in the request', { detail: 'missing_token' });
    const i = matchAny(token, this.tokens);
    if (i === -1) {
      throw new Refusal('unauthorized', 'the token matches no configured JANDI room', { detail: 'mismatch' });
    }
    const room = this.o.rooms[i]!;
    const createdAt = str(fields.createdAt);
    checkFreshness(
      createdAt ? Date.parse(createdAt) : Number.NaN,
      req.receivedAt,
      this.o.toleranceSeconds,
      'createdAt',
    );
    const text = typeof fields.text === 'string' ? fields.text : '';
    const message: JandiMessage = { room: room.name, text, createdAt: createdAt! };
    for (const k of ['teamName', 'roomName', 'writerName', 'writerEmail', 'keyword', 'data'] as const) {
      const v = str(fields[k]);
      if (v !== undefined) message[k] = v;
    }
    const writer = message.writerEmail ?? message.writerName ?? '';
    return {
      delivery: {
        key: `${this.name}:${digestOf(room.name, message.createdAt, writer, text)}`,
        type: 'message',
        subtype: room.name,
        body: JSON.stringify(message),
        partitionKey: `${message.teamName ?? ''}/${room.name}`,
      },
      answer: this.o.fallback ?? {
        status: 200,
        json: { body: 'chronops received this; the answer follows in this room.' },
        headers: { 'content-type': JANDI_CONTENT_TYPE },
      },
      ...(this.o.replyWithinMs > 0 ? { reply: { withinMs: this.o.replyWithinMs } } : {}),
    };
  }
}
