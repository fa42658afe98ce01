// The gateway of `chronops serve`: the sources the config turns on, the one ingest path in front of them (node:http
// front and Hono routes), the inbox with its group commit, and the worker that hands stored deliveries to the
// handlers capabilities register per source kind (chat: slack, jandi, teams; rules: sns, events).

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Agent } from 'node:https';
import type { Hono } from 'hono';
import type { AwsGateway } from '../aws/gateway.ts';
import type { Config } from '../kernel/config.ts';
import type { Logger } from '../kernel/logger.ts';
import type { Metrics } from '../kernel/metrics.ts';
import type { Db } from '../store/db.ts';
import { GroupCommit } from '../store/group-commit.ts';
import { topicsFor } from './config.ts';
import { configuredSources } from './configured.ts';
import { Gateway, type TopicRouter } from './gateway.ts';
import { type InboxItem, InboxStore } from './inbox-store.ts';
import { lazyKafkaClient } from './kafka-lazy.ts';
import { gatewayNodeHandler } from './node-front.ts';
import { KafkaRelay, type RelayKafka } from './relay.ts';
import { ReplyHub } from './replies.ts';
import { gatewayRoutes } from './routes.ts';
import { type PolledDelivery, SqsPoller } from './sqs-poller.ts';
import { type DeliveryHandler, InboxWorker } from './worker.ts';

export interface GatewayDeps {
  config: Config;
  db: Db;
  schema: string;
  metrics: Metrics;
  logger: Logger;
  node: string;
  pollMs?: number;
  /** Run the inbox worker in this process (default true). Off: this process only ingests; others handle. */
  worker?: boolean;
  /**
   * A front server (`chronops serve --role front`): it verifies, stores and answers, and handles only the
   * deliveries a request waits for (JANDI, Teams); the queue, the Kafka relay and the SQS pollers run on the other
   * servers (default false).
   */
  front?: boolean;
  /** Told after each commit of deliveries (a front tells the servers running the work). */
  onStored?: () => void;
  /** Replace the Kafka client of the relay (tests). */
  kafka?: RelayKafka & { close(): Promise<void> };
  /** The one AWS gateway: the SQS pollers of `events` sources with `sqs:` receive through it (none: no pollers). */
  aws?: AwsGateway;
  /** The HTTPS agent SNS sources fetch certificates and confirm subscriptions with (tests: one reaching loopback). */
  snsAgent?: Agent;
  /** Options of the SQS pollers (tests: a short wait). */
  sqs?: { waitSeconds?: number; errorDelayMs?: number };
}

export interface GatewayRuntime {
  gateway: Gateway;
  inbox: InboxStore;
  replies: ReplyHub;
  /** Every source's URL on a Hono app (`app.request()`, Lambda). */
  routes: Hono;
  /** The same for node:http directly (the Node server puts it before the Hono app); false: not taken. */
  nodeHandler: (req: IncomingMessage, res: ServerResponse) => boolean;
  worker?: InboxWorker;
  /** The relay to Kafka, when `kafka:` is configured (off by default). */
  relay?: KafkaRelay;
  /** The SQS pollers of `events` sources with `sqs:`, running between start() and stop(). */
  pollers: SqsPoller[];
  /** Stored deliveries of sources of `kind` go to `handler` (nothing happens when this process has no worker). */
  register(kind: string, handler: DeliveryHandler): void;
  /** Resolves when the gateway has nothing waiting to be stored (see InboxWorkerOptions.yieldTo). */
  yieldToIngest(): Promise<void>;
  start(): void;
  stop(): Promise<void>;
}

type TopicItem = Parameters<TopicRouter>[0];

/** On the embedded database, how long a worker waits after a delivery was stored before its next statement. */
const GATEWAY_TURN_MS = 20;

export function createGateway(deps: GatewayDeps): GatewayRuntime {
  const { db, logger } = deps;
  const inbox = new InboxStore(db, deps.schema);
  const replies = new ReplyHub();
  const { sources, off } = configuredSources(
    deps.config,
    logger,
    deps.snsAgent ? { snsAgent: deps.snsAgent } : {},
  );
  // Deliveries arriving together share one INSERT (one commit), gathered over the I/O already due.
  const accepts = new GroupCommit<InboxItem, undefined>(
    async (items) => {
      await inbox.accept(items);
      return items.map(() => undefined);
    },
    // One flush at a time, on both databases: while it commits, the next batch fills. (Two in flight on
    // PostgreSQL gave smaller batches and more server CPU per row: fewer requests/s on the 2-core bench machine.)
    // Under a storm, a flush waits a few turns of the event loop for the batch to fill (see GroupCommit).
    { maxBatch: 500, gather: 'io', gatherTurns: 4 },
  );
  let lastStored = 0;
  // Until no delivery waits to be stored. A turn of the event loop first: on the embedded database, queries answer
  // within one chain of promise callbacks, and a worker draining a backlog would otherwise keep I/O waiting until it
  // is done. The relay waits only for this: its statements go ahead of the workers' in the embedded database's
  // queue and after the ingest's writes (priority 'medium'); with the workers' gap (below) before each batch, at
  // 333/s, it caught up with a 30-s storm's backlog 16–17 s after it instead of 1 s (docs/benchmarks.md).
  const yieldToIngestOnly = async () => {
    await new Promise((resolve) => setImmediate(resolve));
    await accepts.idle();
  };
  const yieldToIngest = async () => {
    await yieldToIngestOnly();
    // The embedded database runs in this thread: while deliveries keep coming, leave the gateway a few free
    // turns between the worker's statements.
    const since = Date.now() - lastStored;
    if (db.kind === 'pglite' && since < GATEWAY_TURN_MS) {
      await new Promise((resolve) => setTimeout(resolve, GATEWAY_TURN_MS - since));
      await accepts.idle();
    }
  };
  // One process on the embedded database: work is announced in-process (a stored delivery, a retry's timer), so
  // the database is only polled as a safety net — each query there holds the event loop. Several servers on
  // PostgreSQL learn of each other's work by polling.
  const pollMs = deps.pollMs ?? (db.kind === 'pglite' ? 10_000 : 1000);
  const worker =
    deps.worker === false
      ? undefined
      : new InboxWorker({
          inbox,
          node: deps.node,
          logger,
          // Every source that is on, also those without a URL (events polled from SQS).
          sources: () => [
            ...sources,
            ...deps.config.sources.on.filter((c) => !sources.some((s) => s.name === c.name)),
          ],
          replies,
          releaseClaimsAtStart: db.kind === 'pglite',
          yieldTo: yieldToIngest,
          pollMs,
          // A command waits mostly for the database; on the embedded database, statements waiting together share
          // one commit (src/store/pglite-thread.ts), so more commands in flight means fewer flushes per command.
          concurrency: 16,
          ...(deps.front ? { expediteOnly: true } : {}),
        });
  for (const o of off) logger.warn({ paths: o.paths }, o.reason);
  const kafkaConfig = deps.config.kafka;
  const kafka =
    deps.kafka ??
    (kafkaConfig
      ? lazyKafkaClient({
          brokers: kafkaConfig.brokers,
          clientId: kafkaConfig.clientId,
          acks: kafkaConfig.acks,
          idempotent: kafkaConfig.idempotent,
          tls: kafkaConfig.tls,
          ...(kafkaConfig.sasl ? { sasl: kafkaConfig.sasl } : {}),
        })
      : undefined);
  // A front relays nothing (its /metrics then has no relay gauges: the work servers' have them).
  const relay =
    kafkaConfig && kafka && !deps.front
      ? new KafkaRelay({
          db,
          schema: deps.schema,
          kafka,
          node: deps.node,
          logger,
          metrics: deps.metrics,
          // Several servers: an id taken earlier may commit later; wait a second before relaying past it.
          settleMs: db.kind === 'postgres' ? 1000 : 0,
          takeLeaseAtStart: db.kind === 'pglite',
          yieldTo: yieldToIngestOnly,
          pollMs,
        })
      : undefined;
  const gateway = new Gateway({
    sources,
    off,
    store: (item) => accepts.submit(item),
    ...(kafkaConfig ? { topics: (item: TopicItem) => topicsFor(kafkaConfig.routes, item) } : {}),
    onStored: (item) => {
      lastStored = Date.now();
      deps.onStored?.();
      worker?.notify();
      if (item.topics) relay?.notify();
    },
    onReplyWanted: (item) => worker?.expedite(item),
    replies,
    logger,
    metrics: deps.metrics,
  });
  // EventBridge events from SQS queues: stored through the same group commit as the HTTP sources (the worker told
  // at once), each message deleted only after that commit; dead letters kept in the inbox as failed deliveries.
  // The simulator (demo mode) answers every AWS call and models no SQS: no pollers then.
  const aws = deps.aws?.simulated ? undefined : deps.aws;
  if (deps.aws?.simulated) {
    for (const c of deps.config.sources.on)
      if (c.kind === 'events' && c.sqs)
        logger.warn(
          { source: c.name, queueUrl: c.sqs.queueUrl },
          'the AWS simulator models no SQS: this source is not polled in demo mode',
        );
  }
  const pollers = aws
    ? deps.config.sources.on.flatMap((c) =>
        c.kind === 'events' && c.sqs
          ? [
              new SqsPoller({
                gateway: aws,
                logger,
                source: c.name,
                queueUrl: c.sqs.queueUrl,
                region: c.sqs.region,
                waitSeconds: deps.sqs?.waitSeconds ?? c.sqs.waitSeconds,
                maxReceives: c.sqs.maxReceives,
                ...(deps.sqs?.errorDelayMs ? { errorDelayMs: deps.sqs.errorDelayMs } : {}),
                sink: {
                  store: async (deliveries: PolledDelivery[]) => {
                    const items = deliveries.map(
                      (d): InboxItem => ({
                        key: d.key,
                        source: d.source,
                        kind: 'events',
                        type: d.type,
                        subtype: d.subtype,
                        body: d.body,
                        retryNum: null,
                        partitionKey: d.partitionKey,
                        topics: null,
                      }),
                    );
                    for (const item of items)
                      item.topics = kafkaConfig ? topicsFor(kafkaConfig.routes, item) : null;
                    await Promise.all(items.map((item) => accepts.submit(item)));
                    lastStored = Date.now();
                    worker?.notify();
                    if (items.some((i) => i.topics)) relay?.notify();
                  },
                  deadLetter: (letter) => inbox.keepDeadLetter(letter),
                },
              }),
            ]
          : [],
      )
    : [];

  return {
    gateway,
    inbox,
    replies,
    pollers,
    routes: gatewayRoutes(gateway),
    nodeHandler: gatewayNodeHandler(gateway, { logger }),
    ...(worker ? { worker } : {}),
    ...(relay ? { relay } : {}),
    register: (kind, handler) => worker?.register(kind, handler),
    yieldToIngest,
    start: () => {
      worker?.start();
      relay?.start();
      if (deps.front) return;
      for (const p of pollers) p.start();
    },
    stop: async () => {
      await Promise.all(pollers.map((p) => p.stop()));
      await worker?.stop();
      await relay?.stop();
      await kafka?.close();
      gateway.close();
    },
  };
}
