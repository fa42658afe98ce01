// The relay: stored deliveries whose routes name Kafka topics are produced there by a worker, never by the request
// (the outbox pattern: the HTTP answer never waits for Kafka). One relay runs at a time across servers (a lease),
// in the inbox's order, so that the deliveries of one key (a team/channel) keep their order on their partition.
//
// Never twice, by chronops' own hand: before a batch is produced its rows are marked as attempted; once Kafka has
// acknowledged it (acks=all), they are marked relayed. A row attempted but not relayed — the relay was killed, or
// the produce failed or timed out with its outcome unknown — is not simply produced again: the relay first reads
// its topics back from the last marked offsets (`delivery-id` header) and produces only what is not there. What the
// broker itself can still duplicate: a produce the client retried after a lost acknowledgement, inside one attempt
// (the idempotent producer — `kafka.idempotent`, real brokers only — removes that).
//
// While Kafka is down the gateway keeps answering and storing; the relay retries with backoff (exponential,
// jittered, up to 30 s) and catches up. `/metrics`: backlog (deliveries waiting), lag (age of the oldest), totals.

import { Counter, Gauge } from 'prom-client';
import type { Logger } from '../kernel/logger.ts';
import type { Metrics } from '../kernel/metrics.ts';
import { Signal, sleep } from '../kernel/signal.ts';
import type { Db } from '../store/db.ts';
import type { KafkaMessage, ProducedOffsets, StoredKafkaMessage } from './kafka.ts';
import { type DeliveryRow, messageOf } from './messages.ts';

export { messageOf };

/** What the relay needs of the Kafka client (src/gateway/kafka.ts). */
export interface RelayKafka {
  send(messages: KafkaMessage[]): Promise<ProducedOffsets>;
  partitions(topics: string[]): Promise<Map<string, number>>;
  readBack(
    topic: string,
    partition: number,
    fromOffset: bigint,
  ): Promise<{ messages: StoredKafkaMessage[]; end: bigint }>;
}

export interface KafkaRelayOptions {
  db: Db;
  schema: string;
  kafka: RelayKafka;
  node: string;
  logger: Logger;
  metrics?: Metrics;
  /** Deliveries per produce. */
  batch?: number;
  /** Only deliveries stored at least this long ago (several servers: a later id may commit first). */
  settleMs?: number;
  leaseMs?: number;
  pollMs?: number;
  backoff?: { minMs: number; maxMs: number };
  /** Resolves when the gateway has nothing waiting to be stored (the relay's statements come after). */
  yieldTo?: () => Promise<void>;
  /**
   * Take the lease at start whoever held it: the embedded database, whose data directory lock proves that no other
   * process runs (a lease left is a killed process's).
   */
  takeLeaseAtStart?: boolean;
}

/**
 * The relay's statements go ahead of the workers' on the embedded database (their backlog is what was stored, and
 * its lag has a bound to keep; the workers' can grow without one), after the ingest's writes.
 */
const RELAY = { priority: 'medium' } as const;

/** How long the relay lets deliveries gather after a batch that was far from full. */
const GATHER_MS = 20;

/** Messages per produce call (see KafkaRelay.produce). */
const PRODUCE_PART = 100;

interface RelayRow extends DeliveryRow {
  id: number;
  topics: string[];
  relay_attempts: number;
}

export class KafkaRelay {
  private readonly o: KafkaRelayOptions;
  private readonly signal = new Signal();
  private readonly relayed: Counter<'topic'> | undefined;
  private readonly failures: Counter | undefined;
  private readonly recovered: Counter | undefined;
  private readonly backlogGauge: Gauge | undefined;
  private readonly lagGauge: Gauge | undefined;
  private loop: Promise<void> | undefined;
  private stopped = true;
  private failuresInARow = 0;
  private measuredAt = 0;
  /** The backlog's last count, and when (see measure). */
  private counted = { at: 0, waiting: 0 };
  /** Until when (this clock, counted from before the asking) the lease is ours. */
  private heldUntil = 0;

  constructor(options: KafkaRelayOptions) {
    this.o = options;
    const registers = options.metrics ? [options.metrics.registry] : undefined;
    if (registers) {
      this.relayed = new Counter({
        name: 'chronops_relay_messages_total',
        help: 'Messages the relay produced to Kafka (acknowledged), by topic',
        labelNames: ['topic'] as const,
        registers,
      });
      this.failures = new Counter({
        name: 'chronops_relay_failures_total',
        help: 'Produce attempts of the relay that failed (retried with backoff)',
        registers,
      });
      this.recovered = new Counter({
        name: 'chronops_relay_found_produced_total',
        help: 'Messages whose produce outcome was unknown and which were found already in Kafka (not sent again)',
        registers,
      });
      this.backlogGauge = new Gauge({
        name: 'chronops_relay_backlog',
        help: 'Stored deliveries waiting to be relayed to Kafka',
        registers,
      });
      this.lagGauge = new Gauge({
        name: 'chronops_relay_lag_seconds',
        help: 'Age of the oldest stored delivery not yet relayed to Kafka (0 when none)',
        registers,
      });
    }
  }

  private get t(): string {
    return `${this.o.schema}.gateway_inbox`;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.signal.notify();
    await this.loop;
    this.heldUntil = 0;
    await this.o.db
      .query(`DELETE FROM ${this.o.schema}.gateway_relay_lease WHERE id = 1 AND holder = $1`, [this.o.node])
      .catch(() => {});
  }

  /** A delivery with topics was stored: look now. */
  notify(): void {
    this.signal.notify();
  }

  /** Deliveries waiting and the age of the oldest, from the database. */
  async backlog(): Promise<{ waiting: number; oldestSeconds: number }> {
    const rows = await this.o.db.query<{ n: number; oldest: number | null }>(
      `SELECT count(*)::int AS n,
              extract(epoch FROM clock_timestamp() - min(received_at))::float8 AS oldest
       FROM ${this.t} WHERE topics IS NOT NULL AND relayed_at IS NULL`,
    );
    return { waiting: rows[0]?.n ?? 0, oldestSeconds: Math.max(0, rows[0]?.oldest ?? 0) };
  }

  private async run(): Promise<void> {
    const pollMs = this.o.pollMs ?? 1000;
    const leaseMs = this.o.leaseMs ?? 30_000;
    if (this.o.takeLeaseAtStart) {
      await this.o.db
        .query(`DELETE FROM ${this.o.schema}.gateway_relay_lease WHERE id = 1`)
        .catch((error) => this.o.logger.error({ err: error }, 'relay: could not release an old lease'));
    }
    await this.measure(true).catch((error) =>
      this.o.logger.error({ err: error }, 'relay: could not measure'),
    );
    while (!this.stopped) {
      let relayed = 0;
      try {
        await this.o.yieldTo?.();
        if (await this.lease(leaseMs)) relayed = await this.once();
        else await this.signal.wait(Math.min(pollMs * 5, leaseMs / 2));
        this.failuresInARow = 0;
      } catch (error) {
        this.failuresInARow++;
        this.failures?.inc();
        const { minMs, maxMs } = this.o.backoff ?? { minMs: 200, maxMs: 30_000 };
        const delay = Math.min(maxMs, minMs * 2 ** Math.min(this.failuresInARow - 1, 20));
        const jittered = Math.round(delay / 2 + Math.random() * (delay / 2));
        this.o.logger.warn(
          { err: (error as Error).message, attempt: this.failuresInARow, retryInMs: jittered },
          'relay: Kafka produce failed; stored deliveries wait and are retried',
        );
        await this.measure(true).catch(() => {});
        await sleep(jittered, () => this.stopped);
        continue;
      }
      await this.measure(relayed === 0).catch(() => {});
      if (relayed === 0 && !this.stopped) await this.signal.wait(pollMs);
      // Caught up (a batch far from full): let the next deliveries gather for a moment rather than relay them one
      // or two at a time — at a steady 333/s that made four times the statements (and flushes) per message. A
      // backlog (full batches) is relayed without a pause.
      else if (relayed < this.batchSize / 2 && !this.stopped) await sleep(GATHER_MS, () => this.stopped);
    }
  }

  /**
   * Updates the lag gauge at most every second (or when `force`): the age of the first delivery waiting, found
   * through the relay's index. The backlog gauge is a count of every delivery waiting, which reads them all: while
   * it is large it is counted less often (every `count / 5` ms: 100,000 waiting, every 20 s), not every second —
   * on the embedded database that count held the database thread for tens of ms each second of a catch-up.
   */
  private async measure(force: boolean): Promise<void> {
    if (!this.backlogGauge) return;
    const now = Date.now();
    if (!force && now - this.measuredAt < 1000) return;
    this.measuredAt = now;
    await this.o.yieldTo?.();
    const [first] = await this.o.db.query<{ age: number }>(
      `SELECT extract(epoch FROM clock_timestamp() - received_at)::float8 AS age
       FROM ${this.t} WHERE topics IS NOT NULL AND relayed_at IS NULL ORDER BY id LIMIT 1`,
      [],
      RELAY,
    );
    this.lagGauge?.set(first ? Math.max(0, first.age) : 0);
    if (!first) {
      this.counted = { at: now, waiting: 0 };
      this.backlogGauge.set(0);
      return;
    }
    if (force || now - this.counted.at >= Math.max(1000, this.counted.waiting / 5)) {
      await this.o.yieldTo?.();
      const { waiting } = await this.backlog();
      this.counted = { at: Date.now(), waiting };
      this.backlogGauge.set(waiting);
    }
  }

  /**
   * Takes or keeps the relay's lease; false when another server holds it. Renewed once half of it has passed
   * (not before every batch: a statement and a commit less per batch).
   */
  private async lease(leaseMs: number): Promise<boolean> {
    const asked = Date.now();
    if (asked < this.heldUntil - leaseMs / 2) return true;
    const rows = await this.o.db.query<{ holder: string }>(
      `INSERT INTO ${this.o.schema}.gateway_relay_lease AS l (id, holder, until)
       VALUES (1, $1, clock_timestamp() + $2 * interval '1 millisecond')
       ON CONFLICT (id) DO UPDATE SET holder = $1, until = EXCLUDED.until
       WHERE l.holder = $1 OR l.until < clock_timestamp()
       RETURNING holder`,
      [this.o.node, leaseMs],
      RELAY,
    );
    const held = rows[0]?.holder === this.o.node;
    this.heldUntil = held ? asked + leaseMs : 0;
    return held;
  }

  private get batchSize(): number {
    return this.o.batch ?? 500;
  }

  /**
   * Relays one batch; how many deliveries it held (0: nothing to relay). Throws when Kafka failed. Writes per
   * batch: the attempt's watermark (one row, committed before anything is produced), then the offsets and the
   * relayed mark in one statement after Kafka's acknowledgement.
   */
  private async once(): Promise<number> {
    const rows = await this.o.db.query<RelayRow>(
      `SELECT id, key, source, kind, type, subtype, body, partition_key, topics, received_at, relay_attempts
       FROM ${this.t}
       WHERE topics IS NOT NULL AND relayed_at IS NULL
         AND received_at <= clock_timestamp() - $2 * interval '1 millisecond'
       ORDER BY id LIMIT $1`,
      [this.batchSize, this.o.settleMs ?? 0],
      RELAY,
    );
    if (rows.length === 0) return 0;
    // The attempt is recorded before the produce: every delivery up to the batch's last id. What was under the
    // watermark before (an attempt whose outcome is unknown), or marked by an earlier relay, may be in Kafka.
    const last = rows.reduce((m, r) => Math.max(m, Number(r.id)), 0);
    const [state] = await this.o.db.query<{ before: number | string }>(
      `UPDATE ${this.o.schema}.gateway_relay_state s SET attempted_through = greatest(s.attempted_through, $1)
       FROM (SELECT attempted_through AS before FROM ${this.o.schema}.gateway_relay_state WHERE id = 1) o
       WHERE s.id = 1
       RETURNING o.before`,
      [last],
      RELAY,
    );
    const before = Number(state?.before ?? 0);
    const maybe = new Set(
      rows.filter((r) => r.relay_attempts > 0 || Number(r.id) <= before).map((r) => r.key),
    );
    // What an earlier attempt may have produced already: read it back, send only the rest.
    const present = maybe.size > 0 ? await this.alreadyProduced(rows, maybe) : new Set<string>();
    const messages: KafkaMessage[] = [];
    let found = 0;
    for (const row of rows) {
      for (const topic of row.topics) {
        if (present.has(`${topic}\u0000${row.key}`)) {
          found++;
          continue;
        }
        messages.push(messageOf(row, topic));
      }
    }
    const keys = rows.map((r) => r.key);
    const offsets = messages.length > 0 ? await this.produce(messages) : [];
    // (A data-modifying WITH runs to completion whether or not the statement reads it.)
    await this.o.db.query(
      `WITH m AS (${markSql(this.o.schema)})
       UPDATE ${this.t} SET relayed_at = clock_timestamp() WHERE key = ANY($2::text[])`,
      [marksJson(offsets), keys],
      RELAY,
    );
    for (const m of messages) this.relayed?.inc({ topic: m.topic });
    if (found > 0) {
      this.recovered?.inc(found);
      this.o.logger.info(
        { found },
        'relay: messages of an unfinished attempt were in Kafka already; not sent again',
      );
    }
    return rows.length;
  }

  /**
   * Produces a batch in parts of at most PRODUCE_PART messages, one after the other (in order: a key's messages
   * keep theirs), the event loop given a turn before each: encoding 500 messages at once held the server's event
   * loop for tens of ms, and the webhook answers waited. Returns the last offset produced per partition.
   */
  private async produce(messages: KafkaMessage[]): Promise<ProducedOffsets> {
    const last = new Map<string, ProducedOffsets[number]>();
    for (let i = 0; i < messages.length; i += PRODUCE_PART) {
      if (i > 0) await new Promise((resolve) => setImmediate(resolve));
      for (const o of await this.o.kafka.send(messages.slice(i, i + PRODUCE_PART))) {
        const key = `${o.topic}\u0000${o.partition}`;
        const before = last.get(key);
        if (!before || o.offset > before.offset) last.set(key, o);
      }
    }
    return [...last.values()];
  }

  /**
   * `topic\0key` of the rows' messages already in Kafka: each partition of their topics read from its mark (an
   * offset at or before anything chronops may have produced without recording it) to its end.
   */
  private async alreadyProduced(rows: RelayRow[], wanted: Set<string>): Promise<Set<string>> {
    const topics = [...new Set(rows.filter((r) => wanted.has(r.key)).flatMap((r) => r.topics))];
    const marks = await this.o.db.query<{ topic: string; partition: number; from_offset: number | string }>(
      `SELECT topic, partition, from_offset FROM ${this.o.schema}.gateway_relay_marks WHERE topic = ANY($1::text[])`,
      [topics],
      RELAY,
    );
    const from = new Map(marks.map((m) => [`${m.topic}\u0000${m.partition}`, BigInt(m.from_offset)]));
    const counts = await this.o.kafka.partitions(topics);
    const present = new Set<string>();
    const ends: ProducedOffsets = [];
    for (const topic of topics) {
      for (let partition = 0; partition < (counts.get(topic) ?? 0); partition++) {
        const start = from.get(`${topic}\u0000${partition}`) ?? 0n;
        const { messages, end } = await this.o.kafka.readBack(topic, partition, start);
        for (const m of messages) {
          const id = m.headers['delivery-id'];
          if (id && wanted.has(id)) present.add(`${topic}\u0000${id}`);
        }
        ends.push({ topic, partition, offset: end });
      }
    }
    await this.mark(ends);
    return present;
  }

  /** Moves marks forward (never back) to offsets at or before anything produced later. */
  private async mark(offsets: ProducedOffsets): Promise<void> {
    if (offsets.length === 0) return;
    await this.o.db.query(markSql(this.o.schema), [marksJson(offsets)], RELAY);
  }
}

/** Marks moved forward, never back ($1: the offsets as JSON). */
function markSql(schema: string): string {
  return `INSERT INTO ${schema}.gateway_relay_marks AS m (topic, partition, from_offset)
       SELECT x.topic, x.partition, x.from_offset
       FROM jsonb_to_recordset($1::jsonb) AS x(topic text, partition integer, from_offset bigint)
       ON CONFLICT (topic, partition) DO UPDATE SET from_offset = greatest(m.from_offset, EXCLUDED.from_offset)`;
}

function marksJson(offsets: ProducedOffsets): string {
  return JSON.stringify(
    offsets.map((o) => ({ topic: o.topic, partition: o.partition, from_offset: o.offset.toString() })),
  );
}
