// Local stand-ins for incoming webhooks: a Slack app's incoming webhook, a Teams Workflows "When a Teams webhook
// request is received" trigger and a JANDI room's incoming webhook. Real HTTP servers on loopback that record every
// request (headers, body, time) and answer as the platform does — Slack `ok` / 400 `invalid_blocks` / 429 with
// Retry-After; Teams 202 and 413 above 28 KB; JANDI 200 `{}` and 400 without its Accept header — plus faults to
// test retries and "never twice": an error status, a rate limit, an answer that is lost after the message was
// taken, and a request held without an answer.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type WebhookKind = 'slack-webhook' | 'teams' | 'jandi';

export interface WebhookRequest {
  path: string;
  headers: IncomingMessage['headers'];
  /** The JSON body (undefined when it was not JSON). */
  body: unknown;
  bytes: number;
  at: number;
  /** What the fake answered; 0 when it cut the connection or held the request. */
  status: number;
  /** The message was taken (it would show in the room), whatever was answered. */
  delivered: boolean;
}

export type WebhookFault =
  | { status: number; body?: string; retryAfter?: number }
  /** Take the message, then cut the connection: the sender cannot know it arrived. */
  | { lostAnswer: true }
  /** Take the message and answer only when `release()` is called (or never). */
  | { hold: true };

/** Teams refuses a message above about 28 KB. */
export const TEAMS_MAX_BYTES = 28 * 1024;

export class FakeWebhook {
  readonly kind: WebhookKind;
  readonly requests: WebhookRequest[] = [];
  private readonly faults: WebhookFault[] = [];
  private readonly held: ServerResponse[] = [];
  private server: Server | undefined;
  base = '';

  constructor(kind: WebhookKind) {
    this.kind = kind;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => this.handle(req, Buffer.concat(chunks), res));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  /** The webhook URL of a hook `name` (its path plays the secret part of a real URL). */
  url(name = 'default'): string {
    const prefix = {
      'slack-webhook': '/services/T0/B0/',
      teams: '/workflows/',
      jandi: '/connect-api/webhook/1/',
    };
    return `${this.base}${prefix[this.kind]}${name}`;
  }

  /** The next `times` requests get `fault`. */
  fail(fault: WebhookFault, times = 1): void {
    for (let i = 0; i < times; i++) this.faults.push(fault);
  }

  /** Answers every held request (200/202). */
  release(): void {
    for (const res of this.held.splice(0)) this.answerOk(res);
  }

  /** Requests whose message was taken (what people would see), for one hook or all. */
  delivered(name?: string): WebhookRequest[] {
    return this.requests.filter((r) => r.delivered && (name === undefined || r.path.endsWith(`/${name}`)));
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }

  private answerOk(res: ServerResponse): void {
    if (this.kind === 'teams') {
      res.writeHead(202).end();
    } else if (this.kind === 'jandi') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    } else {
      res.writeHead(200, { 'content-type': 'text/html' }).end('ok');
    }
  }

  /** What the platform itself refuses, before any fault. */
  private refusal(
    req: IncomingMessage,
    body: unknown,
    bytes: number,
  ): { status: number; text: string } | undefined {
    if (req.method !== 'POST') return { status: 405, text: 'method not allowed' };
    if (body === undefined) {
      return { status: 400, text: this.kind === 'slack-webhook' ? 'invalid_payload' : 'bad request' };
    }
    if (this.kind === 'jandi') {
      if (req.headers.accept !== 'application/vnd.tosslab.jandi-v2+json') {
        return {
          status: 400,
          text: '{"code":40000,"msg":"Accept header must be application/vnd.tosslab.jandi-v2+json"}',
        };
      }
      if (typeof (body as { body?: unknown }).body !== 'string') {
        return { status: 400, text: '{"code":40000,"msg":"body"}' };
      }
    }
    if (this.kind === 'teams') {
      if (bytes > TEAMS_MAX_BYTES) return { status: 413, text: 'RequestEntityTooLarge' };
      const b = body as { type?: unknown; attachments?: Array<{ contentType?: unknown }> };
      if (
        b.type !== 'message' ||
        b.attachments?.[0]?.contentType !== 'application/vnd.microsoft.card.adaptive'
      ) {
        return { status: 400, text: 'the flow expects {type: message, attachments: [adaptive card]}' };
      }
    }
    if (this.kind === 'slack-webhook') {
      const b = body as { text?: unknown; blocks?: unknown };
      if (typeof b.text !== 'string' && !Array.isArray(b.blocks)) return { status: 400, text: 'no_text' };
    }
    return undefined;
  }

  private handle(req: IncomingMessage, raw: Buffer, res: ServerResponse): void {
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      body = undefined;
    }
    const record: WebhookRequest = {
      path: req.url ?? '',
      headers: req.headers,
      body,
      bytes: raw.length,
      at: Date.now(),
      status: 0,
      delivered: false,
    };
    this.requests.push(record);
    const refusal = this.refusal(req, body, raw.length);
    if (refusal) {
      record.status = refusal.status;
      res.writeHead(refusal.status, { 'content-type': 'text/plain' }).end(refusal.text);
      return;
    }
    const fault = this.faults.shift();
    if (fault && 'status' in fault) {
      record.status = fault.status;
      res
        .writeHead(fault.status, {
          'content-type': 'text/plain',
          ...(fault.retryAfter === undefined ? {} : { 'retry-after': String(fault.retryAfter) }),
        })
        .end(fault.body ?? `error ${fault.status}`);
      return;
    }
    record.delivered = true;
    if (fault && 'lostAnswer' in fault) {
      res.socket?.destroy();
      return;
    }
    if (fault && 'hold' in fault) {
      this.held.push(res);
      return;
    }
    record.status = this.kind === 'teams' ? 202 : 200;
    this.answerOk(res);
  }
}
