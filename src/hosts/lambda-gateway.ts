// The webhook gateway as an AWS Lambda handler, for API Gateway HTTP API (payload format 2.0) or a Lambda Function
// URL (the same format): the same Gateway and sources as `chronops serve` (verify 401, decode 400, size 413,
// unknown source 404, base64 bodies, Slack's url_verification answered here), but instead of the inbox a
// delivery goes, before the 200, to
//   - Kafka (the config's `kafka:` section and its routes): one produce per request with acks=all, on a producer
//     created once per Lambda instance and kept connected across invocations (the seed's Lambda made one per
//     request and waited 500 ms on average for it), or
//   - SQS (`CHRONOPS_GATEWAY_QUEUE_URL`): one SendMessage through the one AWS gateway, which `chronops serve`'s
//     SQS poller (or any consumer) takes from there.
// A 200 is answered only once Kafka or SQS has acknowledged the delivery; if they fail, 500 and the sender retries.
//
// Environment: CHRONOPS_CONFIG (the config file, bundled beside the handler; default ./chronops.yaml),
// CHRONOPS_GATEWAY_SINK (kafka | sqs; default: kafka when the config has a kafka section, else sqs),
// CHRONOPS_GATEWAY_QUEUE_URL, AWS_REGION; and the variables the config's ${…} references name.

import { createHash } from 'node:crypto';
import type { AwsGateway } from '../aws/gateway.ts';
import { type GatewayConfig, topicsFor } from '../gateway/config.ts';
import { configuredSources } from '../gateway/configured.ts';
import { Gateway, type TopicRouter } from '../gateway/gateway.ts';
import type { InboxItem } from '../gateway/inbox-store.ts';
import type { KafkaProducerPort } from '../gateway/kafka-producer.ts';
import { messageOf } from '../gateway/messages.ts';
import type { GatewayAnswer } from '../gateway/source.ts';
import { createLogger, type Logger } from '../kernel/logger.ts';
import { loadGatewayConfig } from './lambda-config.ts';

/** API Gateway HTTP API / Function URL event, payload format 2.0 (the fields the gateway reads). */
export interface HttpApiEvent {
  version?: string;
  rawPath: string;
  rawQueryString?: string;
  headers?: Record<string, string | undefined>;
  body?: string;
  isBase64Encoded?: boolean;
  requestContext: {
    http: { method: string; path?: string };
    stage?: string;
    requestId?: string;
    timeEpoch?: number;
  };
}

export interface HttpApiResult {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
  isBase64Encoded: false;
}

/** Where a verified delivery goes before its 200. */
export interface DeliverySink {
  readonly name: string;
  put(item: InboxItem, receivedAt: number): Promise<void>;
  close(): Promise<void>;
}

/** Kafka: one produce per request (every topic its routes name), acks=all; no route, nothing produced. */
export function kafkaSink(kafka: KafkaProducerPort, logger: Logger): DeliverySink {
  return {
    name: 'kafka',
    put: async (item, receivedAt) => {
      if (!item.topics || item.topics.length === 0) {
        logger.warn(
          { source: item.source, type: item.type, subtype: item.subtype },
          'gateway: no Kafka route for this delivery; answered, not forwarded',
        );
        return;
      }
      const row = { ...item, partition_key: item.partitionKey, received_at: new Date(receivedAt) };
      await kafka.send(item.topics.map((topic) => messageOf(row, topic)));
    },
    close: () => kafka.close(),
  };
}

/**
 * SQS: one SendMessage per request; the body as sent, what it is in message attributes (the same names as the
 * Kafka headers). A FIFO queue (`.fifo`) gets the partition key as its group and the delivery key's digest as its
 * deduplication id, so a redelivery within SQS' 5 minutes is dropped there.
 */
export async function sqsSink(options: {
  aws: AwsGateway;
  queueUrl: string;
  region: string;
}): Promise<DeliverySink> {
  // The SQS client (a chunk of its own in the bundle) is loaded at the first delivery, not at the cold start, and
  // kept for the next invocations of this instance.
  let loaded:
    | Promise<{
        client: import('@aws-sdk/client-sqs').SQSClient;
        SendMessageCommand: typeof import('@aws-sdk/client-sqs').SendMessageCommand;
      }>
    | undefined;
  const sqs = () => {
    loaded ??= import('@aws-sdk/client-sqs').then(({ SendMessageCommand, SQSClient }) => ({
      client: options.aws.client(SQSClient, options.region),
      SendMessageCommand,
    }));
    // A failed load is tried again at the next delivery.
    loaded.catch(() => {
      loaded = undefined;
    });
    return loaded;
  };
  const fifo = options.queueUrl.endsWith('.fifo');
  return {
    name: 'sqs',
    put: async (item, receivedAt) => {
      const { client, SendMessageCommand } = await sqs();
      const attributes: Record<string, string> = {
        source: item.source,
        kind: item.kind,
        type: item.type,
        'delivery-id': item.key,
        'received-at': new Date(receivedAt).toISOString(),
      };
      if (item.subtype) attributes.subtype = item.subtype;
      await options.aws.send(
        client,
        new SendMessageCommand({
          QueueUrl: options.queueUrl,
          MessageBody: item.body,
          MessageAttributes: Object.fromEntries(
            Object.entries(attributes).map(([k, v]) => [k, { DataType: 'String', StringValue: v }]),
          ),
          ...(fifo
            ? {
                MessageGroupId: item.partitionKey ?? item.source,
                MessageDeduplicationId: createHash('sha256').update(item.key).digest('hex'),
              }
            : {}),
        }),
        { mutating: true, dryRun: false },
      );
    },
    close: async () => {},
  };
}

export interface LambdaGatewayOptions {
  /** The gateway's sections of the config (the server's whole Config has them too). */
  config: GatewayConfig;
  sink: DeliverySink;
  logger?: Logger;
  now?: () => number;
}

export type LambdaHandler = (event: HttpApiEvent, context?: unknown) => Promise<HttpApiResult>;

function result(answer: GatewayAnswer): HttpApiResult {
  const headers: Record<string, string> = { ...answer.headers };
  let body = '';
  if (answer.json !== undefined) {
    body = JSON.stringify(answer.json);
    headers['content-type'] ??= 'application/json';
  } else if (answer.text !== undefined) {
    body = answer.text;
    headers['content-type'] ??= 'text/plain; charset=utf-8';
  }
  return { statusCode: answer.status, headers, body, isBase64Encoded: false };
}

/** The path as the gateway knows it: a named stage's prefix (`/prod/slack/events`) taken off. */
function pathOf(event: HttpApiEvent): string {
  const path = event.rawPath || event.requestContext.http.path || '/';
  const stage = event.requestContext.stage;
  if (stage && stage !== '$default' && path.startsWith(`/${stage}/`)) return path.slice(stage.length + 1);
  return path;
}

/** The handler, on a config and a sink (tests and the default export below use it). */
export function createLambdaGateway(
  options: LambdaGatewayOptions,
): LambdaHandler & { close(): Promise<void> } {
  const logger = options.logger ?? createLogger({ secrets: options.config.secrets });
  const now = options.now ?? Date.now;
  const { sources, off } = configuredSources(options.config, logger);
  const routes = options.config.kafka?.routes;
  const gateway = new Gateway({
    sources,
    off,
    store: async (item) => {
      await options.sink.put(item, now());
    },
    ...(routes && options.sink.name === 'kafka'
      ? { topics: ((item) => topicsFor(routes, item)) as TopicRouter }
      : {}),
    logger,
    now,
  });
  const handler = async (event: HttpApiEvent): Promise<HttpApiResult> => {
    const method = event.requestContext.http.method.toUpperCase();
    if (method !== 'POST') {
      return result({
        status: 405,
        headers: { allow: 'POST' },
        json: { ok: false, error: 'method_not_allowed', message: 'webhooks are POSTed' },
      });
    }
    const resolved = gateway.resolve(pathOf(event));
    if (!('source' in resolved)) return result(resolved.answer);
    const headers = event.headers ?? {};
    try {
      return result(
        await gateway.handle(resolved.source, {
          body: event.body ?? '',
          isBase64: event.isBase64Encoded === true,
          header: (name) => headers[name] ?? headers[name.toLowerCase()],
        }),
      );
    } catch (error) {
      // Not delivered (Kafka or SQS failed): 500, and the sender delivers it again.
      logger.error({ err: error, path: event.rawPath }, 'gateway: delivery failed');
      return result({ status: 500, json: { ok: false, error: 'internal' } });
    }
  };
  return Object.assign(handler, {
    close: async () => {
      gateway.close();
      await options.sink.close();
    },
  });
}

/**
 * A Kafka producer made at the first delivery (its client is a chunk of its own in the bundle: loading it costs
 * more than the rest of the cold start) and kept, connected, for every later invocation of this Lambda instance.
 */
export function lazyKafka(make: () => Promise<KafkaProducerPort>): KafkaProducerPort {
  let producer: Promise<KafkaProducerPort> | undefined;
  const get = () => {
    producer ??= make();
    producer.catch(() => {
      producer = undefined;
    });
    return producer;
  };
  return {
    send: async (messages, signal) => (await get()).send(messages, signal),
    produce: async (message, signal) => (await get()).produce(message, signal),
    close: async () => {
      const made = await producer?.catch(() => undefined);
      producer = undefined;
      await made?.close();
    },
  };
}

/** The sink the environment asks for; only its own client is loaded, at the first delivery. */
export async function sinkFromEnv(
  config: GatewayConfig,
  logger: Logger,
  env: NodeJS.ProcessEnv = process.env,
): Promise<DeliverySink> {
  const wanted = env.CHRONOPS_GATEWAY_SINK ?? (config.kafka ? 'kafka' : 'sqs');
  if (wanted === 'kafka') {
    const k = config.kafka;
    if (!k) throw new Error('CHRONOPS_GATEWAY_SINK=kafka, but the config has no kafka section');
    return kafkaSink(
      lazyKafka(async () => {
        // The producer alone (no read-back here): @platformatic/kafka's consumer is not in the bundle.
        const { KafkaProducer } = await import('../gateway/kafka-producer.ts');
        return new KafkaProducer({
          brokers: k.brokers,
          clientId: k.clientId,
          acks: k.acks,
          idempotent: k.idempotent,
          tls: k.tls,
          ...(k.sasl ? { sasl: k.sasl } : {}),
        });
      }),
      logger,
    );
  }
  if (wanted !== 'sqs') throw new Error(`CHRONOPS_GATEWAY_SINK must be kafka or sqs, not ${wanted}`);
  const queueUrl = env.CHRONOPS_GATEWAY_QUEUE_URL;
  if (!queueUrl) throw new Error('set CHRONOPS_GATEWAY_QUEUE_URL (or a kafka section in the config)');
  const region = env.AWS_REGION ?? 'us-east-1';
  const { AwsGateway } = await import('../aws/gateway.ts');
  const aws = new AwsGateway({
    // Every cloud call is audited; a Lambda has no database: the record is a log line.
    sink: {
      record: (call) => {
        if (!call.ok) logger.warn({ call }, 'aws call failed');
      },
    },
  });
  return sqsSink({ aws, queueUrl, region });
}

let instance: Promise<ReturnType<typeof createLambdaGateway>> | undefined;

/**
 * The Lambda entry point. Its config, sources and Kafka producer are made at the first invocation of this
 * Lambda instance and kept for the next ones.
 */
export const handler: LambdaHandler = async (event) => {
  instance ??= (async () => {
    const config = await loadGatewayConfig(process.env.CHRONOPS_CONFIG ?? 'chronops.yaml');
    const logger = createLogger({ secrets: config.secrets });
    return createLambdaGateway({ config, sink: await sinkFromEnv(config, logger), logger });
  })();
  return (await instance)(event);
};
