// The ONE Kafka client of chronops (the gateway's relay and the jobs' kafka mode use it): a thin adapter over
// @platformatic/kafka (pure JavaScript, maintained). One producer, kept connected, acks from all in-sync replicas by
// default; keys partitioned like the Java client (murmur2, positive, modulo the partition count), so a key lands
// on the same partition whoever produces it. `readBack` fetches what a partition holds from an offset without a
// consumer group — what the relay uses to check, after a produce whose outcome is unknown, what is there already.

import {
  Consumer,
  compatibilityPartitioner,
  Producer,
  type SASLOptions,
  stringDeserializers,
  stringSerializers,
} from '@platformatic/kafka';
import { ChronopsError } from '../kernel/errors.ts';

export interface KafkaMessage {
  topic: string;
  /** Messages with the same key go to the same partition, in order. */
  key: string | null;
  value: string;
  headers?: Record<string, string>;
}

/** Where a batch went: the first offset written per topic and partition. */
export type ProducedOffsets = Array<{ topic: string; partition: number; offset: bigint }>;

/** What a producer of chronops needs (jobs' kafka mode codes against this). */
export interface KafkaProducerPort {
  /** Resolves once every message is acknowledged (acks=all unless configured otherwise). */
  send(messages: KafkaMessage[], signal?: AbortSignal): Promise<ProducedOffsets>;
  produce(message: KafkaMessage, signal?: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

export interface KafkaClientOptions {
  brokers: string[];
  clientId?: string;
  /** -1: all in-sync replicas (default); 1: the leader. */
  acks?: -1 | 1;
  /** The idempotent producer (a real broker; librdkafka's mock cluster does not support it). */
  idempotent?: boolean;
  tls?: boolean;
  sasl?: { mechanism: 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512'; username: string; password: string };
  /** Per request (connect, metadata, produce). */
  timeoutMs?: number;
  /** The client's own retries of a request before it fails (the relay retries on top, with backoff). */
  retries?: number;
}

type FetchResponse = Awaited<ReturnType<Consumer<string, string, string, string>['fetch']>>;

export class KafkaError extends ChronopsError {
  override readonly code = 'kafka';
  override readonly status = 502;
}

/** A message as read back from a partition. */
export interface StoredKafkaMessage {
  partition: number;
  offset: bigint;
  key: string | null;
  value: string;
  headers: Record<string, string>;
}

function errorText(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const inner = (error as { errors?: unknown[] }).errors;
  const first = Array.isArray(inner) && inner[0] instanceof Error ? `: ${inner[0].message}` : '';
  return `${error.message}${first}`;
}

export class KafkaClient implements KafkaProducerPort {
  private readonly o: KafkaClientOptions;
  private producer: Producer<string, string, string, string> | undefined;
  private reader: Consumer<string, string, string, string> | undefined;

  constructor(options: KafkaClientOptions) {
    if (options.brokers.length === 0) throw new KafkaError('no Kafka brokers given');
    this.o = options;
  }

  private connection() {
    const o = this.o;
    const sasl: SASLOptions | undefined = o.sasl
      ? { mechanism: o.sasl.mechanism, username: o.sasl.username, password: o.sasl.password }
      : undefined;
    return {
      clientId: o.clientId ?? 'chronops',
      bootstrapBrokers: o.brokers,
      timeout: o.timeoutMs ?? 10_000,
      connectTimeout: o.timeoutMs ?? 10_000,
      requestTimeout: o.timeoutMs ?? 10_000,
      retries: o.retries ?? 1,
      retryDelay: 200,
      ...(o.tls ? { tls: {} } : {}),
      ...(sasl ? { sasl } : {}),
    };
  }

  private producerNow(): Producer<string, string, string, string> {
    this.producer ??= new Producer({
      ...this.connection(),
      serializers: stringSerializers,
      acks: this.o.acks ?? -1,
      ...(this.o.idempotent ? { idempotent: true } : {}),
      partitioner: compatibilityPartitioner,
      autocreateTopics: true,
    });
    return this.producer;
  }

  async send(messages: KafkaMessage[], signal?: AbortSignal): Promise<ProducedOffsets> {
    if (messages.length === 0) return [];
    signal?.throwIfAborted();
    const sent = this.producerNow().send({
      messages: messages.map((m) => ({
        topic: m.topic,
        ...(m.key === null ? {} : { key: m.key }),
        value: m.value,
        ...(m.headers ? { headers: m.headers } : {}),
      })),
    });
    try {
      const result = signal
        ? await new Promise<Awaited<typeof sent>>((resolve, reject) => {
            const abort = () => reject(signal.reason);
            signal.addEventListener('abort', abort, { once: true });
            sent.then(
              (r) => {
                signal.removeEventListener('abort', abort);
                resolve(r);
              },
              (error: unknown) => {
                signal.removeEventListener('abort', abort);
                reject(error);
              },
            );
          })
        : await sent;
      return (result.offsets ?? []).map((o) => ({
        topic: o.topic,
        partition: o.partition,
        offset: BigInt(o.offset),
      }));
    } catch (error) {
      if (signal?.aborted && error === signal.reason) throw error;
      // A fresh connection next time: a producer whose broker went away may hold dead sockets.
      await this.reset();
      throw new KafkaError(`Kafka produce failed: ${errorText(error)}`, { cause: error });
    }
  }

  async produce(message: KafkaMessage, signal?: AbortSignal): Promise<void> {
    await this.send([message], signal);
  }

  /** The partition count of each topic (created on first use where the cluster allows it). */
  async partitions(topics: string[]): Promise<Map<string, number>> {
    const reader = this.readerNow();
    try {
      const metadata = await reader.metadata({ topics, autocreateTopics: true, forceUpdate: true });
      return new Map(topics.map((t) => [t, metadata.topics.get(t)?.partitionsCount ?? 0]));
    } catch (error) {
      await this.reset();
      throw new KafkaError(`Kafka metadata failed: ${errorText(error)}`, { cause: error });
    }
  }

  private readerNow(): Consumer<string, string, string, string> {
    // A consumer object only for metadata and plain fetches: it never joins a group.
    this.reader ??= new Consumer({
      ...this.connection(),
      groupId: 'chronops-readback',
      deserializers: stringDeserializers,
    });
    return this.reader;
  }

  /**
   * The messages of `topic`/`partition` from `fromOffset` up to the end as it is now (no consumer group, no
   * committed offsets). Bounded by `maxMessages`.
   */
  async readBack(
    topic: string,
    partition: number,
    fromOffset: bigint,
    maxMessages = 100_000,
  ): Promise<{ messages: StoredKafkaMessage[]; end: bigint }> {
    const reader = this.readerNow();
    const out: StoredKafkaMessage[] = [];
    let offset = fromOffset;
    try {
      const metadata = await reader.metadata({ topics: [topic], forceUpdate: true });
      const t = metadata.topics.get(topic);
      const leader = t?.partitions[partition]?.leader;
      if (!t || leader === undefined) return { messages: out, end: fromOffset };
      for (;;) {
        const response: FetchResponse = await reader.fetch({
          node: leader,
          topics: [
            {
              topicId: t.id,
              partitions: [
                {
                  partition,
                  fetchOffset: offset,
                  partitionMaxBytes: 4 * 1024 * 1024,
                  currentLeaderEpoch: -1,
                  lastFetchedEpoch: -1,
                },
              ],
            },
          ],
          maxWaitTime: 10,
          minBytes: 1,
          maxBytes: 4 * 1024 * 1024,
        });
        const p = response.responses[0]?.partitions[0];
        if (!p) break;
        if (p.errorCode !== 0)
          throw new KafkaError(`Kafka fetch of ${topic}/${partition} failed: error ${p.errorCode}`);
        const end = BigInt(p.highWatermark);
        let advanced = false;
        for (const batch of p.records ?? []) {
          for (const r of batch.records) {
            const at = BigInt(batch.firstOffset) + BigInt(r.offsetDelta);
            if (at < offset) continue;
            const headers: Record<string, string> = {};
            for (const [k, v] of r.headers ?? []) if (k) headers[k.toString()] = v ? v.toString() : '';
            out.push({
              partition,
              offset: at,
              key: r.key && r.key.length > 0 ? r.key.toString() : null,
              value: r.value ? r.value.toString() : '',
              headers,
            });
            offset = at + 1n;
            advanced = true;
          }
        }
        if (offset >= end || !advanced || out.length >= maxMessages) return { messages: out, end };
      }
    } catch (error) {
      if (error instanceof KafkaError) throw error;
      await this.reset();
      throw new KafkaError(`Kafka read-back failed: ${errorText(error)}`, { cause: error });
    }
    return { messages: out, end: offset };
  }

  /** Drops the connections (the next call connects again). */
  private async reset(): Promise<void> {
    const producer = this.producer;
    const reader = this.reader;
    this.producer = undefined;
    this.reader = undefined;
    await Promise.allSettled([producer?.close(true), reader?.close(true)]);
  }

  async close(): Promise<void> {
    await this.reset();
  }
}
