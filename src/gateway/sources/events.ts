// EventBridge events pushed by an API destination: `POST /events/<name>`, authenticated by the connection's API-key
// header (compared in constant time). The body is one EventBridge event (`id`, `detail-type`, `source`, `time`,
// `resources`, `detail` …); its `id` is the delivery key (EventBridge retries an API destination for up to 24 h
// with the same id). Events that come through an SQS queue instead are polled into the same inbox (the rules'
// SqsPoller), under the same source name and key.

import { parseJsonObject } from '../body.ts';
import { type Acceptance, type GatewayRequest, Refusal, SOURCE_PREFIX, type Source } from '../source.ts';
import { digestOf, safeEqual } from '../verify.ts';

export interface EventsSourceOptions {
  name: string;
  /** The header the connection sends its key in (lower case). */
  apiKeyHeader: string;
  apiKey: string;
  maxBodyBytes: number;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** What keeps one thing's events in order: its first resource (a task ARN), else the event's source. */
export function eventPartitionKey(event: Record<string, unknown>): string | null {
  const resources = Array.isArray(event.resources) ? event.resources : [];
  return str(resources[0]) ?? str(event.source) ?? null;
}

export class EventsSource implements Source {
  readonly kind = 'events' as const;
  readonly name: string;
  readonly paths: readonly string[];
  readonly maxBodyBytes: number;
  private readonly o: EventsSourceOptions;

  constructor(options: EventsSourceOptions) {
    this.o = options;
    this.name = options.name;
    this.paths = [`${SOURCE_PREFIX.events}/${options.name}`];
    this.maxBodyBytes = options.maxBodyBytes;
  }

  accept(req: GatewayRequest): Acceptance {
    const given = req.header(this.o.apiKeyHeader);
    if (!given) {
      throw new Refusal('unauthorized', `missing the ${this.o.apiKeyHeader} header`, {
        detail: 'missing_headers',
      });
    }
    if (!safeEqual(given, this.o.apiKey)) {
      throw new Refusal('unauthorized', `the ${this.o.apiKeyHeader} header does not match`, {
        detail: 'mismatch',
      });
    }
    const text = req.body.toString('utf8');
    const event = parseJsonObject(text, 'the event');
    const type = str(event['detail-type']);
    if (!type || !str(event.source)) {
      throw new Refusal('malformed', 'not an EventBridge event (no "detail-type" or "source")', {
        detail: 'not_event',
      });
    }
    return {
      delivery: {
        key: `${this.name}:${str(event.id) ?? digestOf(text)}`,
        type,
        subtype: str(event.source) ?? null,
        body: text,
        partitionKey: eventPartitionKey(event),
      },
    };
  }
}
