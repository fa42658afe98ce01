import {
  Counter,
  type CounterConfiguration,
  collectDefaultMetrics,
  Gauge,
  Histogram,
  Registry,
} from 'prom-client';

/** Prometheus metrics of one chronops process (`GET /metrics`). */
export class Metrics {
  readonly registry = new Registry();
  readonly windowsCreated = new Counter({
    name: 'chronops_windows_created_total',
    help: 'Capacity windows created',
    labelNames: ['source'] as const,
    registers: [this.registry],
  });
  readonly windowsCancelled = new Counter({
    name: 'chronops_windows_cancelled_total',
    help: 'Capacity windows cancelled',
    registers: [this.registry],
  });
  readonly windows = new Gauge({
    name: 'chronops_windows',
    help: 'Capacity windows by status (from the database at scrape time)',
    labelNames: ['status'] as const,
    registers: [this.registry],
  });
  readonly pendingTransitions = new Gauge({
    name: 'chronops_transitions_pending',
    help: 'Transitions waiting for their time',
    registers: [this.registry],
  });
  readonly transitions = new Counter({
    name: 'chronops_transitions_total',
    help: 'Transitions carried out by this process, by kind and outcome (done, failed, missed)',
    labelNames: ['kind', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly lateness = new Histogram({
    name: 'chronops_transition_lateness_seconds',
    help: 'Delay between a transition being due and it being fired',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });
  readonly actions = new Counter({
    name: 'chronops_actions_total',
    help: 'Converges by resource kind and outcome (changed, unchanged, failed)',
    labelNames: ['kind', 'outcome', 'dry_run'] as const,
    registers: [this.registry],
  });
  readonly actionDuration = new Histogram({
    name: 'chronops_action_duration_seconds',
    help: 'Duration of one converge',
    labelNames: ['kind'] as const,
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60],
    registers: [this.registry],
  });
  readonly cloudCalls = new Counter({
    name: 'chronops_cloud_calls_total',
    help: 'AWS API calls by service, command and outcome (ok, error, dry-run)',
    labelNames: ['service', 'command', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly readerReadySeconds = new Histogram({
    name: 'chronops_reader_time_to_ready_seconds',
    help: 'Time from CreateDBInstance to the reader being available',
    buckets: [60, 300, 600, 900, 1200, 1800, 3600],
    registers: [this.registry],
  });

  readonly outboxSends = new Counter({
    name: 'chronops_outbox_sends_total',
    help: 'Outbox send attempts by kind (slack, slack-webhook, teams, jandi, console), destination and outcome (sent, retry, rate_limited, failed, unknown, handed_over)',
    labelNames: ['kind', 'destination', 'outcome'] as const,
    registers: [this.registry],
  });

  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'chronops_' });
  }

  /**
   * A counter in this registry, for a module that counts only when it is given metrics (the gateway): such a
   * module imports prom-client's types alone, so a host without metrics (the Lambda) does not load it.
   */
  counter<L extends string>(config: Omit<CounterConfiguration<L>, 'registers'>): Counter<L> {
    return new Counter({ ...config, registers: [this.registry] });
  }
}
