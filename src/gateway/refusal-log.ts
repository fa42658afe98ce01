// Refused webhooks are counted, not logged one by one: anyone can send forged requests, and a line per request
// would let them flood the log. The first refusal of a kind (source, reason, detail) after a quiet minute is logged
// at once, so a misconfigured secret shows up without delay; after that, one line a minute carries the counts.
// The metric `chronops_gateway_refused_total{source,reason}` counts every one.

import type { Counter } from 'prom-client';
import type { Logger } from '../kernel/logger.ts';
import type { Metrics } from '../kernel/metrics.ts';

export interface RefusalLogOptions {
  logger: Logger;
  metrics?: Metrics;
  /** Length of a counting window (default one minute). */
  windowMs?: number;
}

interface Tally {
  source: string;
  reason: string;
  detail: string;
  count: number;
  example: string;
}

export class RefusalLog {
  private readonly logger: Logger;
  private readonly windowMs: number;
  private readonly counter: Counter<'source' | 'reason'> | undefined;
  /** Refusals of the current window not yet logged, by kind. */
  private pending = new Map<string, Tally>();
  /** Kinds seen in the current or the previous window (not logged at once again). */
  private recent = new Set<string>();
  private previous = new Set<string>();
  private timer: NodeJS.Timeout | undefined;

  constructor(options: RefusalLogOptions) {
    this.logger = options.logger;
    this.windowMs = options.windowMs ?? 60_000;
    this.counter = options.metrics
      ? options.metrics.counter({
          name: 'chronops_gateway_refused_total',
          help: 'Webhook requests refused, by source and reason (unauthorized, malformed, too_large, unknown_source …)',
          labelNames: ['source', 'reason'] as const,
        })
      : undefined;
  }

  note(source: string, reason: string, detail: string, message: string): void {
    this.counter?.inc({ source, reason });
    const kind = `${source}\u0000${reason}\u0000${detail}`;
    if (!this.recent.has(kind) && !this.previous.has(kind)) {
      this.recent.add(kind);
      this.logger.warn({ source, reason, detail, message }, 'gateway: request refused');
      this.arm();
      return;
    }
    this.recent.add(kind);
    const tally = this.pending.get(kind);
    if (tally) tally.count++;
    else this.pending.set(kind, { source, reason, detail, count: 1, example: message });
    this.arm();
  }

  /** Logs the counts of the window now (and at the end of each window while refusals come). */
  flush(): void {
    if (this.pending.size > 0) {
      const refused = [...this.pending.values()].map((t) => ({
        source: t.source,
        reason: t.reason,
        detail: t.detail,
        count: t.count,
        example: t.example,
      }));
      this.logger.warn(
        { windowSeconds: this.windowMs / 1000, refused, total: refused.reduce((n, r) => n + r.count, 0) },
        'gateway: requests refused (counts since the last report)',
      );
    }
    this.pending = new Map();
    this.previous = this.recent;
    this.recent = new Set();
  }

  private arm(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const busy = this.pending.size > 0 || this.recent.size > 0;
      this.flush();
      if (busy) this.arm();
    }, this.windowMs);
    this.timer.unref();
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.flush();
  }
}
