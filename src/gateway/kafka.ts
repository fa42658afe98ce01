// The ONE Kafka client of chronops (the gateway's relay and the jobs' kafka mode use it): a thin adapter over
// @platformatic/kafka (pure JavaScript, maintained). The producer (src/gateway/kafka-producer.ts: one, kept
// connected, acks=all by default, keys partitioned like the Java client), and `readBack`, which fetches what a
// partition holds from an offset without a consumer group — what the relay uses to check, after a produce whose
// outcome is unknown, what is there already.

import { Consumer, stringDeserializers } from '@platformatic/kafka';
import { errorText, KafkaError, KafkaProducer } from './kafka-producer.ts';

export {
  type KafkaClientOptions,
  KafkaError,
  type KafkaMessage,
  type KafkaProducerPort,
  type ProducedOffsets,
} from './kafka-producer.ts';

type FetchResponse = Awaited<ReturnType<Consumer<string, string, string, string>['fetch']>>;

/** A message as read back from a partition. */
export interface StoredKafkaMessage {
  partition: number;
  offset: bigint;
  key: string | null;
  value: string;
  headers: Record<string, string>;
}

export class KafkaClient extends KafkaProducer {
  private reader: Consumer<string, string, string, string> | undefined;

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
  protected override async reset(): Promise<void> {
    const reader = this.reader;
    this.reader = undefined;
    await Promise.allSettled([super.reset(), reader?.close(true)]);
  }
}
