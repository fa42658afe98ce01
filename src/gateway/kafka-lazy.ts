// chronops' Kafka client (src/gateway/kafka.ts), loaded at its first use: @platformatic/kafka compiles the
// JSON-schema validators of its protocol when it is loaded (0.4-1 s of CPU), which a server that never sends to
// Kafka — or not yet — should not pay at every start. Used by the server's relay and jobs' kafka mode; the Lambda
// host has its own (the producer alone, src/hosts/lambda-gateway.ts).
import type { KafkaClient, KafkaClientOptions, KafkaMessage, KafkaProducerPort } from './kafka.ts';
import type { RelayKafka } from './relay.ts';

export type LazyKafkaClient = KafkaProducerPort & RelayKafka;

/** A KafkaClient made (its module loaded) at the first call; `close` before any call loads nothing. */
export function lazyKafkaClient(options: KafkaClientOptions): LazyKafkaClient {
  let client: Promise<KafkaClient> | undefined;
  const get = () => {
    if (!client) {
      // A failed load or construction is forgotten (once, when it is made), so the next call tries again.
      client = import('./kafka.ts').then(({ KafkaClient }) => new KafkaClient(options));
      client.catch(() => {
        client = undefined;
      });
    }
    return client;
  };
  return {
    send: async (messages: KafkaMessage[], signal?: AbortSignal) => (await get()).send(messages, signal),
    produce: async (message, signal) => (await get()).produce(message, signal),
    partitions: async (topics) => (await get()).partitions(topics),
    readBack: async (topic, partition, fromOffset) => (await get()).readBack(topic, partition, fromOffset),
    close: async () => {
      const made = await client?.catch(() => undefined);
      client = undefined;
      await made?.close();
    },
  };
}
