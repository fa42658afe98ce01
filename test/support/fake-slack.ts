// A local stand-in for Slack's Web API: a real HTTP server (the WebClient talks to it through SLACK_API_URL) that
// keeps channels and threads, records every call, and answers like Slack — `ok` and `ts`, `error` codes, HTTP 429
// `ratelimited` with Retry-After, and (to test "never post twice") a post that is carried out but whose answer
// is a 503.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SlackCall {
  method: string;
  params: Record<string, unknown>;
  token: string | undefined;
  at: number;
  /** What the fake answered: 200 ok, 200 with an error, 429, 503. */
  status: number;
  error?: string;
}

export interface FakeMessage {
  ts: string;
  channel: string;
  thread_ts?: string;
  text: string;
  user?: string;
  bot_id?: string;
  blocks?: unknown[];
  metadata?: { event_type: string; event_payload: Record<string, unknown> };
  edited?: boolean;
}

/** What the next call(s) of a method get instead of the normal answer. */
export type Fault =
  | { error: string }
  | { ratelimited: number }
  | { status: number }
  /** Carry the call out, then answer 503 as if the answer were lost. */
  | { lostAnswer: true };

export class FakeSlack {
  readonly calls: SlackCall[] = [];
  readonly channels = new Map<string, FakeMessage[]>();
  readonly groups = new Map<string, string[]>();
  private readonly faults = new Map<string, Fault[]>();
  private server: Server | undefined;
  /** Channels that do not exist (every other id does, with no messages until some are posted). */
  readonly missing = new Set<string>();
  private seq = 0;
  url = '';

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      void this.handle(req).then(
        ({ status, body, headers }) => {
          res.writeHead(status, { 'content-type': 'application/json', ...headers });
          res.end(JSON.stringify(body));
        },
        (error) => {
          res.writeHead(500, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ ok: false, error: String(error) }));
        },
      );
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    const { port } = this.server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}/api/`;
    return this;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }

  /** The next `times` calls of `method` get `fault`. */
  fail(method: string, fault: Fault, times = 1): void {
    const list = this.faults.get(method) ?? [];
    for (let i = 0; i < times; i++) list.push(fault);
    this.faults.set(method, list);
  }

  /** A message a person (or another bot) posted: the product alert a thread hangs from. */
  seed(channel: string, text: string, extra: Partial<FakeMessage> = {}): string {
    return this.add({ channel, text, user: 'UALERTBOT', ...extra }).ts;
  }

  /** Calls of a method, in order. */
  callsOf(method: string): SlackCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  /** Messages chronops posted (with a token), optionally in one thread. */
  posted(channel?: string, threadTs?: string): FakeMessage[] {
    const all = channel ? (this.channels.get(channel) ?? []) : [...this.channels.values()].flat();
    return all.filter(
      (m) => m.bot_id === 'BCHRONOPS' && (threadTs === undefined || m.thread_ts === threadTs),
    );
  }

  message(channel: string, ts: string): FakeMessage | undefined {
    return this.channels.get(channel)?.find((m) => m.ts === ts);
  }

  private add(m: Omit<FakeMessage, 'ts'>): FakeMessage {
    const ts = `${Math.floor(Date.now() / 1000)}.${String(++this.seq).padStart(6, '0')}`;
    const message: FakeMessage = { ts, ...m };
    const list = this.channels.get(m.channel) ?? [];
    list.push(message);
    this.channels.set(m.channel, list);
    return message;
  }

  private async handle(
    req: IncomingMessage,
  ): Promise<{ status: number; body: Record<string, unknown>; headers?: Record<string, string> }> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const method = (req.url ?? '').replace(/^\/api\//, '').split('?')[0]!;
    const params = parseParams(raw, req.headers['content-type']);
    const token = req.headers.authorization?.replace(/^Bearer /, '');
    const call: SlackCall = { method, params, token, at: Date.now(), status: 200 };
    this.calls.push(call);
    const fault = this.faults.get(method)?.shift();
    if (fault && 'ratelimited' in fault) {
      call.status = 429;
      call.error = 'ratelimited';
      return {
        status: 429,
        body: { ok: false, error: 'ratelimited' },
        headers: { 'retry-after': String(fault.ratelimited) },
      };
    }
    if (fault && 'status' in fault) {
      call.status = fault.status;
      return { status: fault.status, body: { ok: false, error: `http_${fault.status}` } };
    }
    if (fault && 'error' in fault) {
      call.error = fault.error;
      return { status: 200, body: { ok: false, error: fault.error } };
    }
    if (!token?.startsWith('xoxb-')) {
      call.error = 'not_authed';
      return { status: 200, body: { ok: false, error: 'not_authed' } };
    }
    const answer = this.answer(method, params);
    if (fault && 'lostAnswer' in fault) {
      call.status = 503;
      return { status: 503, body: { ok: false, error: 'service_unavailable' } };
    }
    if (answer.ok === false) call.error = String(answer.error);
    return { status: 200, body: answer };
  }

  private answer(method: string, p: Record<string, unknown>): Record<string, unknown> {
    const channel = String(p.channel ?? '');
    switch (method) {
      case 'auth.test':
        return { ok: true, user_id: 'UCHRONOPS', bot_id: 'BCHRONOPS' };
      case 'chat.postMessage': {
        if (!channel || this.missing.has(channel)) return { ok: false, error: 'channel_not_found' };
        const thread = p.thread_ts ? String(p.thread_ts) : undefined;
        if (thread && !this.message(channel, thread)) return { ok: false, error: 'thread_not_found' };
        const m = this.add({
          channel,
          text: String(p.text ?? ''),
          bot_id: 'BCHRONOPS',
          ...(thread ? { thread_ts: thread } : {}),
          ...(p.blocks ? { blocks: p.blocks as unknown[] } : {}),
          ...(p.metadata ? { metadata: p.metadata as FakeMessage['metadata'] } : {}),
        });
        return { ok: true, channel, ts: m.ts, message: m };
      }
      case 'chat.update': {
        const m = this.message(channel, String(p.ts));
        if (!m) return { ok: false, error: 'message_not_found' };
        if (m.bot_id !== 'BCHRONOPS') return { ok: false, error: 'cant_update_message' };
        m.text = String(p.text ?? '');
        m.blocks = (p.blocks as unknown[] | undefined) ?? [];
        m.edited = true;
        return { ok: true, channel, ts: m.ts };
      }
      case 'conversations.replies': {
        const ts = String(p.ts);
        if (this.missing.has(channel)) return { ok: false, error: 'channel_not_found' };
        const list = this.channels.get(channel) ?? [];
        const parent = list.find((m) => m.ts === ts);
        if (!parent) return { ok: false, error: 'thread_not_found' };
        const oldest = p.oldest === undefined ? 0 : Number(p.oldest);
        const thread = [parent, ...list.filter((m) => m.thread_ts === ts && m.ts !== ts)].filter(
          (m) => Number(m.ts) >= oldest || m.ts === ts,
        );
        const limit = p.limit === undefined ? 1000 : Number(p.limit);
        return {
          ok: true,
          messages: thread.slice(0, limit).map((m) => this.view(m, p.include_all_metadata)),
        };
      }
      case 'conversations.history': {
        if (this.missing.has(channel)) return { ok: false, error: 'channel_not_found' };
        const list = this.channels.get(channel) ?? [];
        const oldest = p.oldest === undefined ? 0 : Number(p.oldest);
        const top = list.filter((m) => !m.thread_ts && Number(m.ts) >= oldest).reverse();
        return { ok: true, messages: top.map((m) => this.view(m, p.include_all_metadata)) };
      }
      case 'usergroups.users.list': {
        const users = this.groups.get(String(p.usergroup));
        return users ? { ok: true, users } : { ok: false, error: 'no_such_subteam' };
      }
      default:
        return { ok: false, error: 'unknown_method' };
    }
  }

  private view(m: FakeMessage, withMetadata: unknown): Record<string, unknown> {
    const { metadata, channel: _channel, ...rest } = m;
    const wanted = withMetadata === true || withMetadata === 'true';
    return wanted && metadata ? { ...rest, metadata } : rest;
  }
}

/** WebClient sends form-encoded params with objects as JSON strings (and sometimes a JSON body). */
function parseParams(raw: string, contentType: string | undefined): Record<string, unknown> {
  if (contentType?.includes('application/json'))
    return raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
  const out: Record<string, unknown> = {};
  for (const [key, value] of new URLSearchParams(raw)) {
    if ((value.startsWith('{') || value.startsWith('[')) && key !== 'text') {
      try {
        out[key] = JSON.parse(value);
        continue;
      } catch {
        // not JSON: keep the text
      }
    }
    out[key] = value;
  }
  return out;
}
