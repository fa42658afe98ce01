// A stored delivery as a Kafka message: the same key, value and headers whoever produces it (the relay of
// `chronops serve`, the Lambda host). Its own module: the Lambda loads it without the relay.

import type { KafkaMessage } from './kafka.ts';

/** What of a stored delivery its Kafka message carries (the columns of the gateway's inbox). */
export interface DeliveryRow {
  key: string;
  source: string;
  kind: string;
  type: string;
  subtype: string | null;
  body: string;
  partition_key: string | null;
  received_at: Date;
}

/** The Kafka message of a delivery: key = its partition key (team/channel), headers say what it is. */
export function messageOf(row: DeliveryRow, topic: string): KafkaMessage {
  const headers: Record<string, string> = {
    source: row.source,
    kind: row.kind,
    type: row.type,
    'delivery-id': row.key,
    'received-at': new Date(row.received_at).toISOString(),
    'content-type': row.body.trimStart().startsWith('{')
      ? 'application/json'
      : 'application/x-www-form-urlencoded',
  };
  if (row.subtype) headers.subtype = row.subtype;
  return { topic, key: row.partition_key, value: row.body, headers };
}
