// The one ingest path, for every source: find the source by path (404), refuse a body over its limit (413), decode
// a base64 body, let the source verify (401) and decode (400) it and name the delivery, store it durably (the
// caller's `store` resolves after the commit), and only then answer. Host-agnostic: the node:http front, the Hono
// routes and the Lambda handler all call `resolve` and `handle`.

import type { Counter } from 'prom-client';
import type { Logger } from '../kernel/logger.ts';
import type { Metrics } from '../kernel/metrics.ts';
import { bodyBytes } from './body.ts';
import type { InboxItem } from './inbox-store.ts';
import { RefusalLog } from './refusal-log.ts';
import type { ReplyHub } from './replies.ts';
import {
  type Acceptance,
  type GatewayAnswer,
  REFUSAL_STATUS,
  Refusal,
  type RefusalReason,
  SOURCE_PREFIX,
  type Source,
} from './source.ts';

/** Picks the Kafka topics a delivery is to be relayed to (decided when it is stored); null: none. */
export type TopicRouter = (item: Pick<InboxItem, 'source' | 'kind' | 'type' | 'subtype'>) => string[] | null;

export interface GatewayOptions {
  sources: Source[];
  /** Sources configured but off (a missing secret): their paths answer 404 with the reason. */
  off?: Array<{ paths: readonly string[]; reason: string }>;
  /** Stores one delivery durably (resolves after commit); a key already stored is dropped there. */
  store: (item: InboxItem) => Promise<void>;
  /** Told after a delivery is stored: the local worker may start at once. */
  onStored?: (item: InboxItem) => void;
  /** Told when a stored delivery's request waits for its reply: handle it ahead of the queue. */
  onReplyWanted?: (item: InboxItem) => void;
  replies?: ReplyHub;
  topics?: TopicRouter;
  logger: Logger;
  metrics?: Metrics;
  now?: () => number;
}

export interface RawRequest {
  /** The body as received: bytes, or text (base64 text when `isBase64`). */
  body: Uint8Array | string;
  isBase64?: boolean;
  /** A header by its lower-case name. */
  header(name: string): string | undefined;
}

export type Resolved = { source: Source } | { answer: GatewayAnswer };

const PREFIXES = [...new Set(Object.values(SOURCE_PREFIX))];

/** Is this path one the gateway answers (a source's, or under a source prefix)? */
export function isGatewayPath(path: string): boolean {
  return PREFIXES.some((p) => path.startsWith(`${p}/`));
}

export class Gateway {
  private readonly o: GatewayOptions;
  private readonly byPath = new Map<string, Source>();
  private readonly offPaths = new Map<string, string>();
  private readonly requests: Counter<'source' | 'outcome'> | undefined;
  private readonly refusals: RefusalLog;
  private readonly now: () => number;
  readonly sources: readonly Source[];

  constructor(options: GatewayOptions) {
    this.o = options;
    this.now = options.now ?? Date.now;
    this.sources = options.sources;
    const names = new Set<string>();
    for (const source of options.sources) {
      if (names.has(source.name)) throw new Error(`two sources are named ${source.name}`);
      names.add(source.name);
      for (const path of source.paths) {
        if (this.byPath.has(path)) throw new Error(`two sources listen on ${path}`);
        this.byPath.set(path, source);
      }
    }
    for (const off of options.off ?? []) for (const path of off.paths) this.offPaths.set(path, off.reason);
    this.requests = options.metrics
      ? options.metrics.counter({
          name: 'chronops_gateway_requests_total',
          help: 'Webhook requests by source and outcome (stored, replied, url_verification, ignored, unauthorized, malformed, too_large, unknown_source …)',
          labelNames: ['source', 'outcome'] as const,
        })
      : undefined;
    this.refusals = new RefusalLog({
      logger: options.logger,
      ...(options.metrics ? { metrics: options.metrics } : {}),
    });
  }

  /** The source listening on `path`, or the 404 to answer (no such source, or one that is off). */
  resolve(path: string): Resolved {
    const source = this.byPath.get(path);
    if (source) return { source };
    const off = this.offPaths.get(path);
    const message =
      off ??
      `no webhook source at ${path} (configured: ${[...this.byPath.keys()].join(', ') || 'none'}; see "sources" in the config)`;
    this.count('(none)', 'unknown_source');
    this.refusals.note('(none)', 'unknown_source', off ? 'off' : 'unknown', message);
    return { answer: refusalAnswer('unknown_source', message) };
  }

  /** A body over the source's limit, refused before it is read (the caller stops reading). */
  tooLarge(source: Source): GatewayAnswer {
    const message = `request body over ${source.maxBodyBytes} bytes`;
    this.count(source.name, 'too_large');
    this.refusals.note(source.name, 'too_large', 'too_large', message);
    return refusalAnswer('too_large', message);
  }

  /** Verify, decode, store, answer. Rejects only when chronops itself failed (the store): answer 500. */
  async handle(source: Source, raw: RawRequest): Promise<GatewayAnswer> {
    let acceptance: Acceptance;
    try {
      const body = bodyBytes(raw.body, raw.isBase64 ?? false);
      if (body.length > source.maxBodyBytes) return this.tooLarge(source);
      acceptance = await source.accept({ path: '', body, header: raw.header, receivedAt: this.now() });
    } catch (error) {
      if (error instanceof Refusal) return this.refuse(source, error);
      throw error;
    }
    if (!('delivery' in acceptance)) {
      this.count(source.name, acceptance.outcome);
      return acceptance.answer;
    }
    const d = acceptance.delivery;
    const item: InboxItem = {
      key: d.key,
      source: source.name,
      kind: source.kind,
      type: d.type,
      subtype: d.subtype ?? null,
      body: d.body,
      retryNum: d.retryNum ?? null,
      partitionKey: d.partitionKey ?? null,
      topics: null,
    };
    item.topics = this.o.topics?.(item) ?? null;
    const fallback = acceptance.answer ?? { status: 200 };
    const wait =
      acceptance.reply && this.o.replies
        ? this.o.replies.wait(item.key, acceptance.reply.withinMs)
        : undefined;
    // The queues leave it to this server while its request waits (it is handled here, ahead of them).
    if (wait && acceptance.reply) item.heldMs = acceptance.reply.withinMs;
    try {
      await this.o.store(item);
    } catch (error) {
      wait?.cancel();
      throw error;
    }
    this.o.onStored?.(item);
    if (!wait) {
      this.count(source.name, 'stored');
      return fallback;
    }
    this.o.onReplyWanted?.(item);
    const reply = await wait.answer;
    this.count(source.name, reply ? 'replied' : 'stored');
    return reply ?? fallback;
  }

  private count(source: string, outcome: string): void {
    this.requests?.inc({ source, outcome });
  }

  private refuse(source: Source, refusal: Refusal): GatewayAnswer {
    this.count(source.name, refusal.reason);
    this.refusals.note(source.name, refusal.reason, refusal.detail, refusal.message);
    return refusalAnswer(refusal.reason, refusal.message);
  }

  /** Logs what is left of the refusal counts (at shutdown). */
  close(): void {
    this.refusals.close();
  }
}

function refusalAnswer(reason: RefusalReason, message: string): GatewayAnswer {
  return { status: REFUSAL_STATUS[reason], json: { ok: false, error: reason, message } };
}
