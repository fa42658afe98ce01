// What the rules capability needs from the shared mechanisms, as small interfaces the host wires: the one outbox
// (notify), the one caller of a team's services (http), and the chat thread a run started from. Rules never import
// those mechanisms; the host adapts them.

/** A platform-neutral message (the outbox renders it per destination: Slack, Teams, JANDI, console). */
export interface RuleNotification {
  title?: string;
  text?: string;
  severity?: 'info' | 'success' | 'warning' | 'error';
  fields?: Array<{ title: string; value: string }>;
  link?: { label: string; url: string };
  footer?: string;
}

/** Where a run started from chat reports back. */
export interface ChatOrigin {
  platform: string;
  /** The chat's reply address (platform, channel, thread ts, the room's destination), opaque here. */
  address: Record<string, unknown>;
  user: string;
}

export interface RuleNotifier {
  /** Has the outbox a destination of this name? (Checked when a rule names one.) */
  has(destination: string): boolean;
  /** Queues one message to a named destination; the outbox sends it once for a given key, however often asked. */
  notify(destination: string, message: RuleNotification, key: string): Promise<void>;
  /** Queues one message in the chat thread a run started from; once per key. */
  reply(origin: ChatOrigin, message: RuleNotification, key: string): Promise<void>;
}

export interface HttpCallResult {
  ok: boolean;
  status?: number;
  /** One line for the run history (`200 OK in 120 ms`, `timeout after 30 s`). */
  summary: string;
}

/** The one caller of a team's registered services (the HTTP jobs' caller). */
export interface RuleHttpCaller {
  has(service: string): boolean;
  call(
    service: string,
    request: { method: string; path: string; body?: unknown; headers?: Record<string, string> },
    idempotencyKey: string,
  ): Promise<HttpCallResult>;
}
