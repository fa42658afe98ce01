// The producer half of chronops' Kafka client (src/gateway/kafka.ts adds the read-back the relay needs): its own
// module so that a host that only produces (the Lambda) loads @platformatic/kafka's producer and not its consumer.
// One producer, kept connected, acks from all in-sync replicas by default; keys partitioned like the Java client
// (murmur2, positive, modulo the partition count), so a key lands on the same partition whoever produces it.

import { compatibilityPartitioner, Producer, type SASLOptions, stringSerializers } from '@platformatic/kafka';
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

export class KafkaError extends ChronopsError {
  override readonly code = 'kafka';
  override readonly status = 502;
}

export function errorText(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const inner = (error as { errors?: unknown[] }).errors;
  const first = Array.isArray(inner) && inner[0] instanceof Error ? `: ${inner[0].message}` : '';
  return `${error.message}${first}`;
}

export class KafkaProducer implements KafkaProducerPort {
  protected readonly o: KafkaClientOptions;
  private producer: Producer<string, string, string, string> | undefined;

  constructor(options: KafkaClientOptions) {
    if (options.brokers.length === 0) throw new KafkaError('no Kafka brokers given');
    this.o = options;
  }

  protected connection() {
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

  /** Drops the connections (the next call connects again). */
  protected async reset(): Promise<void> {
    const producer = this.producer;
    this.producer = undefined;
    await producer?.close(true);
  }

  async close(): Promise<void> {
    await this.reset();
  }
}
