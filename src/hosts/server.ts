import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Agent } from 'node:https';
import { hostname } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { type ServerType, serve } from '@hono/node-server';
import type { Hono } from 'hono';
import type { PgBoss } from 'pg-boss';
import { Gauge } from 'prom-client';
import { createApi } from '../api/app.ts';
import { AwsGateway } from '../aws/gateway.ts';
import { AwsSimulator } from '../aws/simulator.ts';
import { type CapacityCapability, capacityModule } from '../capabilities/capacity/capability.ts';
import type { CapacityService } from '../capabilities/capacity/service.ts';
import type { Store } from '../capabilities/capacity/store.ts';
import { type PowerCapability, powerModule } from '../capabilities/power/capability.ts';
import { ChatStore } from '../chat/chat-store.ts';
import type { ChatTransport } from '../chat/port.ts';
import { type Chat, createChat } from '../chat/wiring.ts';
import { createGateway, type GatewayRuntime } from '../gateway/wiring.ts';
import type { Config } from '../kernel/config.ts';
import { ConfigError } from '../kernel/errors.ts';
import { EventBus } from '../kernel/events.ts';
import { createLogger, type Logger } from '../kernel/logger.ts';
import { Metrics } from '../kernel/metrics.ts';
import { notifyApi } from '../notify/api.ts';
import { Notifier } from '../notify/notifier.ts';
import { ServiceCaller } from '../services/caller.ts';
import type { Db } from '../store/db.ts';
import { migrate } from '../store/migrations.ts';
import { PgNotifyChannel } from '../store/pg-notify.ts';
import { PgliteDb } from '../store/pglite-db.ts';
import { PostgresDb } from '../store/postgres-db.ts';
import { startBoss } from '../timers/boss.ts';
import { Timers } from '../timers/timers.ts';
import { ConsoleChat, consolePublisher } from '../web/console.ts';
import { LiveFeed } from '../web/live.ts';
import { createWeb } from '../web/routes.ts';
import type { Capability, HostContext } from './capability.ts';
import { linkPowerAndCapacity } from './links.ts';
import { capabilities, migrationModules } from './modules.ts';

export interface ChronopsOptions {
  logger?: Logger;
  /** Schema of chronops' tables (pg-boss uses `<schema>_boss`). Tests use a fresh one each. */
  schema?: string;
  /** Listen for HTTP (default true). Port 0 picks a free one. */
  listen?: boolean;
  /** Use this database instead of the one the config names (tests: an in-memory PGlite). */
  db?: Db;
  /** Replace the AWS gateway (tests). */
  gateway?: AwsGateway;
  /** Timer loop and workers' poll interval, for tests. */
  pollMs?: number;
  /** The timer loop's lease per server (default 8000 ms; see src/timers/timers.ts). */
  leaseMs?: number;
  /** Replace the Slack Web API client (tests). */
  slackTransport?: ChatTransport;
  /** Handle stored webhook deliveries in this process (default true; false: ingest only). */
  gatewayWorker?: boolean;
  /**
   * `all` (default): everything in this process. `front`: the HTTP side only — the webhooks (verified, stored,
   * answered; JANDI and Teams commands whose request waits are handled here), the API and the page — while the work
   * (the inbox's queue, the chat outbox, the timer loop, the Kafka relay, the SQS pollers, the capabilities' own
   * loops) runs on the other servers of the same PostgreSQL database (`chronops serve --role front`, docs/gateway.md).
   */
  role?: ServerRole;
  /** The HTTPS agent of SNS sources' certificate fetches and confirmations (tests: one reaching loopback). */
  snsAgent?: Agent;
  /** SQS pollers' long-poll wait and error pause (tests). */
  sqs?: { waitSeconds?: number; errorDelayMs?: number };
}

/** A running chronops: the HTTP app, the timer loop, the capabilities and everything they stand on. */
export interface Chronops {
  app: Hono;
  url: string;
  config: Config;
  db: Db;
  store: Store;
  boss: PgBoss;
  timers: Timers;
  capacity: CapacityCapability;
  /** The other capabilities, by name (src/hosts/modules.ts). */
  capabilities: Record<string, Capability>;
  service: CapacityService;
  events: EventBus;
  metrics: Metrics;
  logger: Logger;
  node: string;
  /** The webhook gateway: sources, inbox, worker. */
  gateway: GatewayRuntime;
  /** The chat command handler (for every door) and, when Slack is on, its delivery handler and outbox. */
  chat: Chat;
  /** Queues notifications to named destinations and answers in chat threads (the one outbox). */
  notifier: Notifier;
  /** The one caller of the team's services. */
  services: ServiceCaller;
  close(): Promise<void>;
}

export type ServerRole = 'all' | 'front';

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

/** Off loopback the API is open to the network, guarded by CHRONOPS_TOKEN alone: it must not be guessable. */
const MIN_TOKEN_LENGTH = 16;

/**
 * The server's JavaScript heap grows by at most 10% over what it keeps between full collections (issue 8: memory
 * bounded under a long storm). Under a storm V8 let it reserve up to ~4× its live data (~55–70 MB live, 295 MB
 * reserved) before collecting; bounded so it stayed at ~190 MB, for more frequent full collections (mostly
 * concurrent). Process-wide and set once; see docs/benchmarks.md, "Gateway memory".
 */
function boundHeapGrowth(): void {
  setFlagsFromString('--heap-growing-percent=10');
}

/** The composition root of `chronops serve`: one process with the API, the scheduler and the workers. */
export async function startChronops(config: Config, options: ChronopsOptions = {}): Promise<Chronops> {
  const logger = options.logger ?? createLogger({ secrets: config.secrets });
  const token = process.env.CHRONOPS_TOKEN || undefined;
  if (!isLoopback(config.server.host) && !token) {
    throw new ConfigError([
      {
        field: 'server.host',
        message: `${config.server.host} is not a loopback address; set CHRONOPS_TOKEN so that the API is not open to the network`,
      },
    ]);
  }
  if (!isLoopback(config.server.host) && token && token.length < MIN_TOKEN_LENGTH) {
    // The token is the only lock on an API that scales AWS resources: refuse one that could be guessed.
    throw new ConfigError([
      {
        field: 'CHRONOPS_TOKEN (environment)',
        message: `is ${token.length} characters long; use at least ${MIN_TOKEN_LENGTH} random characters (e.g. openssl rand -hex 24)`,
      },
    ]);
  }
  const front = options.role === 'front';
  if (front && (options.db ? options.db.kind !== 'postgres' : !config.database.url)) {
    throw new ConfigError([
      {
        field: '--role front',
        message:
          'needs PostgreSQL (DATABASE_URL): the embedded database belongs to one process, which must also run the work; on the embedded database run `chronops serve` alone',
      },
    ]);
  }
  boundHeapGrowth();
  const schema = options.schema ?? process.env.CHRONOPS_SCHEMA ?? 'chronops';
  const node = `${hostname()}:${process.pid}`;
  const db =
    options.db ??
    (config.database.url
      ? new PostgresDb(config.database.url)
      : await PgliteDb.open(config.database.dataDir));
  const cleanups: Array<() => Promise<void>> = [];
  try {
    await migrate(db, schema, migrationModules);
    const boss = await startBoss(db, schema);
    cleanups.push(() => boss.stop({ graceful: true, timeout: 5000 }));
    boss.on('error', (error) => logger.error({ err: error }, 'pg-boss error'));
    const events = new EventBus();
    const metrics = new Metrics({ defaultMetrics: true });
    if (db instanceof PgliteDb) embeddedDbMetrics(db, metrics);
    const timers = new Timers({
      db,
      boss,
      schema,
      node,
      logger,
      ...(options.pollMs ? { pollMs: options.pollMs } : {}),
      ...(options.leaseMs ? { leaseMs: options.leaseMs } : {}),
      // The embedded database's data-directory lock proves that the previous process is gone: its work is taken
      // back at once. On PostgreSQL the others take a dead server's work once its lease has run out.
      takeBackAtStart: db instanceof PgliteDb,
    });
    let capacity: CapacityCapability | undefined;
    const gateway =
      options.gateway ??
      new AwsGateway({
        dryRun: config.dryRun,
        simulator: config.aws.simulate ? new AwsSimulator(config.aws.simulate) : undefined,
        sink: {
          record: async (call, executionId) => {
            metrics.cloudCalls.inc({
              service: call.service,
              command: call.command,
              outcome: call.dryRun ? 'dry-run' : call.ok ? 'ok' : 'error',
            });
            await capacity?.converger.recordCloudCall(call, executionId);
          },
        },
      });
    // The outbox's front door, for every capability: messages are queued in the outbox table at once; the
    // sender (created with chat below) is told when it starts.
    let wakeOutbox = () => {};
    const notifier = new Notifier({
      store: new ChatStore(db, schema),
      destinations: config.notify.destinations,
      onQueued: () => wakeOutbox(),
    });
    const services = new ServiceCaller({ services: config.services, db, schema, logger });
    let resolveListening: (url: string | undefined) => void = () => {};
    const listening = {
      promise: new Promise<string | undefined>((resolve) => {
        resolveListening = resolve;
      }),
      resolve: (url: string | undefined) => resolveListening(url),
    };
    cleanups.push(async () => listening.resolve(undefined));
    cleanups.push(() => services.idle());
    const host: HostContext = {
      config,
      db,
      schema,
      node,
      timers,
      aws: gateway,
      events,
      metrics,
      logger,
      notifier,
      services,
      listening: listening.promise,
      ...(options.pollMs ? { pollMs: options.pollMs } : {}),
    };
    capacity = await capacityModule.create(host);
    const { store, service } = capacity;
    const others: Array<{ name: string; capability: Capability }> = [];
    for (const m of capabilities) others.push({ name: m.name, capability: await m.create(host) });
    const running: Capability[] = [capacity, ...others.map((o) => o.capability)];
    const power = others.find((o) => o.name === powerModule.name)?.capability as PowerCapability | undefined;
    if (power) linkPowerAndCapacity(power, capacity);
    for (const c of running) for (const handler of c.timers ?? []) timers.handle(handler);
    const app = createApi({
      service,
      store,
      metrics,
      logger,
      token,
      health: async () => {
        try {
          await db.query('SELECT 1');
          return { ok: true, node, database: db.kind, dryRun: config.dryRun, timezone: config.timezone };
        } catch (error) {
          return { ok: false, node, database: db.kind, error: (error as Error).message };
        }
      },
    });
    // The page at / with its live stream; on PostgreSQL the servers relay their events to each other's pages.
    const feed = new LiveFeed({ events, node });
    if (db instanceof PostgresDb) {
      await feed.connectRelay({ connectionString: db.connectionString, schema, logger });
    }
    cleanups.unshift(() => feed.close());
    // On PostgreSQL a front tells the servers running the work at once that deliveries are waiting (they would
    // otherwise find them at their next poll, within a second): at most one NOTIFY per 20 ms. A front only tells;
    // the others only listen.
    const wake =
      db instanceof PostgresDb
        ? new PgNotifyChannel<'inbox'>({
            connectionString: db.connectionString,
            channel: `chronops_wake_${schema}`,
            logger,
            ...(front
              ? {}
              : {
                  onMessage: () => {
                    webhooks.worker?.notify();
                    webhooks.relay?.notify();
                  },
                }),
          })
        : undefined;
    let wakeSent = false;
    const announceStored = () => {
      if (wakeSent) return;
      wakeSent = true;
      wake?.publish('inbox');
      setTimeout(() => {
        wakeSent = false;
      }, 20).unref();
    };
    // The gateway: every source's URL (verify, store, answer) and the worker behind it; chat registers its handlers.
    const webhooks = createGateway({
      config,
      db,
      schema,
      metrics,
      logger,
      node,
      ...(options.pollMs ? { pollMs: options.pollMs } : {}),
      ...(options.gatewayWorker === undefined ? {} : { worker: options.gatewayWorker }),
      front,
      ...(front && wake ? { onStored: announceStored } : {}),
      // The SQS pollers of `events` sources receive through the one AWS gateway (started with the worker).
      aws: gateway,
      ...(options.snsAgent ? { snsAgent: options.snsAgent } : {}),
      ...(options.sqs ? { sqs: options.sqs } : {}),
    });
    app.route('/', webhooks.routes);
    for (const o of others) if (o.capability.routes) app.route('/', o.capability.routes);
    // Chat: the command handler for every door; with Slack on, its delivery handler and outbox.
    const chat = createChat({
      config,
      db,
      schema,
      store,
      service,
      events,
      metrics,
      logger,
      node,
      leaseMs: timers.leaseMs,
      gateway: webhooks,
      ...(options.pollMs ? { pollMs: options.pollMs } : {}),
      ...(options.slackTransport ? { slackTransport: options.slackTransport } : {}),
      console: consolePublisher(feed),
    });
    wakeOutbox = () => chat.outbox.notify();
    // Each converge step's thread messages commit with the step's record (before the timer loop starts).
    capacity.converger.progress = chat.progress;
    service.progress = chat.progress;
    // Every capability's chat commands on the one router, before chat starts (it checks the permission keys).
    for (const c of running) c.commands?.(chat.handler);
    await chat.start({ work: !front });
    cleanups.unshift(() => chat.stop());
    for (const c of running) {
      for (const [kind, handler] of Object.entries(c.deliveries ?? {}))
        if (handler) webhooks.register(kind, handler);
    }
    webhooks.start();
    cleanups.unshift(() => webhooks.stop());
    if (wake) {
      await wake.start();
      cleanups.unshift(() => wake.stop());
    }
    // The web console: the same command handler, as the user `console`, its progress on the page's stream.
    const consoleChat = new ConsoleChat({
      handler: chat.handler,
      feed,
      events,
      config,
      getWindow: (id) => service.get(id),
      logger,
    });
    consoleChat.start();
    cleanups.unshift(() => consoleChat.stop());
    app.route(
      '/api/notify',
      notifyApi({
        notifier,
        store: chat.store,
        destinations: config.notify.destinations,
        onQueued: () => chat.outbox.notify(),
        logger,
        ...(token ? { token } : {}),
      }),
    );
    app.route('/', createWeb({ store, config, feed, token, console: consoleChat }));
    for (const o of others) if (o.capability.api) app.route(`/api/${o.name}`, o.capability.api);
    // A front leaves the work to the other servers: no timer loop (and so no lease), no outbox sender, no
    // capability's own loop. What it writes (a window, a job's run, a message) they find at their next look.
    if (!front) {
      await timers.start();
      // The outbox sends only while this server's lease holds (or no other server is alive): it has one now, so the
      // outbox looks at once rather than at its next poll (10 s on the embedded database, where a killed process's
      // lease can still look alive for a few seconds after a restart, until the timers' start takes it back).
      chat.outbox.notify();
      cleanups.unshift(() => timers.stop());
      // The outbox stops (its calls under way answered and recorded) before the timers give up this server's lease:
      // once the lease is gone the others take over its claims, and a message still being sent from here would be
      // sent by them too. chat.stop() later finds it stopped.
      cleanups.unshift(() => chat.outbox.stop());
      for (const c of running) {
        await c.start?.();
        if (c.stop) cleanups.unshift(() => c.stop!());
      }
    }
    let url = '';
    if (options.listen !== false) {
      const server = await listen(app, config.server.host, config.server.port, webhooks.nodeHandler);
      cleanups.unshift(
        () => feed.close(),
        () => closeServer(server),
      );
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : config.server.port;
      url = `http://${config.server.host.includes(':') ? `[${config.server.host}]` : config.server.host}:${port}`;
    }
    listening.resolve(url || undefined);
    let closing: Promise<void> | undefined;
    return {
      app,
      url,
      config,
      db,
      store,
      boss,
      timers,
      capacity,
      capabilities: Object.fromEntries(others.map((o) => [o.name, o.capability])),
      service,
      events,
      metrics,
      logger,
      node,
      gateway: webhooks,
      chat,
      notifier,
      services,
      close: () => {
        closing ??= (async () => {
          for (const cleanup of cleanups)
            await cleanup().catch((error) => logger.warn({ err: error }, 'shutdown step failed'));
          if (!options.db) await db.close();
        })();
        return closing;
      },
    };
  } catch (error) {
    for (const cleanup of cleanups) await cleanup().catch(() => {});
    if (!options.db) await db.close().catch(() => {});
    throw error;
  }
}

/** What the embedded database's thread counts, on /metrics: its quiet-moment VACUUMs (see pglite-thread.ts). */
function embeddedDbMetrics(db: PgliteDb, metrics: Metrics): void {
  const registers = [metrics.registry];
  // One scrape collects both gauges at once: they share one request to the database thread.
  let asking: ReturnType<PgliteDb['stats']> | undefined;
  const stats = () => {
    asking ??= db.stats().finally(() => {
      asking = undefined;
    });
    return asking;
  };
  new Gauge({
    name: 'chronops_embedded_db_vacuums',
    help: 'Tables the embedded database vacuumed at quiet moments since it opened (it has no autovacuum)',
    registers,
    async collect() {
      this.set((await stats()).vacuums);
    },
  });
  new Gauge({
    name: 'chronops_embedded_db_vacuum_seconds',
    help: 'Time those VACUUMs held the embedded database (total; statements arriving meanwhile waited)',
    registers,
    async collect() {
      this.set((await stats()).vacuumMs / 1000);
    },
  });
}

/** Stops accepting and closes idle keep-alive connections; whatever is still open after a second is cut. */
function closeServer(server: ServerType): Promise<void> {
  return new Promise<void>((resolve) => {
    server.close(() => resolve());
    if ('closeIdleConnections' in server) server.closeIdleConnections();
    const force = setTimeout(() => {
      if ('closeAllConnections' in server) server.closeAllConnections();
    }, 1000);
    force.unref();
  });
}

/**
 * The HTTP server: the Hono app, with `front` (the webhook URLs, served from node:http directly) before it;
 * `front` returns false for requests it does not take.
 */
function listen(
  app: Hono,
  hostname: string,
  port: number,
  front?: (req: IncomingMessage, res: ServerResponse) => boolean,
): Promise<ServerType> {
  return new Promise((resolve, reject) => {
    const server = serve(
      {
        fetch: app.fetch,
        hostname,
        port,
        ...(front
          ? {
              createServer: ((
                options: object,
                listener: (req: IncomingMessage, res: ServerResponse) => void,
              ) =>
                createServer(options, (req, res) => {
                  if (!front(req, res)) listener(req, res);
                })) as typeof createServer,
            }
          : {}),
      },
      () => resolve(server),
    );
    server.once('error', reject);
  });
}
