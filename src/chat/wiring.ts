// The chat side of `chronops serve`: the command handler every door uses (always there, so the web console has
// it), and — when Slack is enabled — the Slack gateway routes, the inbox worker, the outbox sender and the
// progress reporter.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Hono } from 'hono';
import { CommandHandler } from '../capabilities/capacity/commands.ts';
import { ProgressReporter } from '../capabilities/capacity/progress.ts';
import type { CapacityService } from '../capabilities/capacity/service.ts';
import type { Store } from '../capabilities/capacity/store.ts';
import { InboxWorker } from '../gateway/inbox.ts';
import type { Config } from '../kernel/config.ts';
import type { EventBus } from '../kernel/events.ts';
import type { Logger } from '../kernel/logger.ts';
import type { Metrics } from '../kernel/metrics.ts';
import { OutboxSender } from '../notify/outbox.ts';
import type { Db } from '../store/db.ts';
import { GroupCommit } from '../store/group-commit.ts';
import { SlackIngest } from './channels/slack/ingest.ts';
import { slackNodeHandler } from './channels/slack/node-handler.ts';
import { slackRoutes } from './channels/slack/routes.ts';
import { SlackSignature } from './channels/slack/signature.ts';
import { SlackTransport } from './channels/slack/transport.ts';
import { ChatStore, type InboxItem } from './chat-store.ts';
import { ConfigPermissions, type UserGroups } from './permissions.ts';
import type { ChatTransport } from './port.ts';

export interface ChatDeps {
  config: Config;
  db: Db;
  schema: string;
  store: Store;
  service: CapacityService;
  events: EventBus;
  metrics: Metrics;
  logger: Logger;
  node: string;
  pollMs?: number;
  /** Replaces the Slack Web API transport (tests). */
  slackTransport?: ChatTransport;
  /** Run the inbox worker (default true). Off: this process only ingests (a gateway node); others handle. */
  slackWorker?: boolean;
}

export interface Chat {
  /** The one command handler: Slack uses it, and so does the web console (platform 'console'). */
  handler: CommandHandler;
  store: ChatStore;
  /** `/slack/*` routes when Slack is enabled. */
  routes?: Hono;
  /** The same routes for node:http directly (the Node server puts it before the Hono app); false: not taken. */
  nodeHandler?: (req: IncomingMessage, res: ServerResponse) => boolean;
  inbox?: InboxWorker;
  outbox?: OutboxSender;
  start(): void;
  stop(): Promise<void>;
}

/** On the embedded database, how long the inbox worker waits after a delivery was stored before its next statement. */
const GATEWAY_TURN_MS = 20;

export function createChat(deps: ChatDeps): Chat {
  const { config, logger } = deps;
  const chatStore = new ChatStore(deps.db, deps.schema);
  const slack = config.slack;
  const transport: ChatTransport | undefined = slack.enabled
    ? (deps.slackTransport ??
      new SlackTransport({
        token: slack.botToken!,
        ...(slack.apiUrl ? { apiUrl: slack.apiUrl } : {}),
        logger,
      }))
    : undefined;
  // User groups are read through the Slack adapter (usergroups.users.list).
  const groups = transport && 'members' in transport ? (transport as unknown as UserGroups) : undefined;
  const handler = new CommandHandler({
    service: deps.service,
    config,
    audit: (entry) => deps.store.audit(entry),
    windowForEvent: (key) => chatStore.windowIdForEvent(key),
    permissions: new ConfigPermissions({ rules: slack.permissions, ...(groups ? { groups } : {}) }),
  });
  if (!slack.enabled || !transport) {
    return { handler, store: chatStore, start: () => {}, stop: async () => {} };
  }

  // One process on the embedded database: work is announced in-process (a stored delivery, a queued message, a
  // retry's timer), so the database is only polled as a safety net — each query there holds the event loop.
  // Several servers on PostgreSQL learn of each other's work by polling.
  const pollMs = deps.pollMs ?? (deps.db.kind === 'pglite' ? 10_000 : 1000);
  const outbox = new OutboxSender({
    store: chatStore,
    transports: { slack: transport },
    node: deps.node,
    logger,
    postIntervalMs: slack.postIntervalMs,
    pollMs,
  });
  // Deliveries arriving together share one INSERT (one commit), gathered over the I/O already due.
  const accepts = new GroupCommit<InboxItem, undefined>(
    async (items) => {
      await chatStore.accept(items);
      return items.map(() => undefined);
    },
    // One flush at a time, on both databases: while it commits, the next batch fills. (Two in flight on
    // PostgreSQL gave smaller batches and more server CPU per row: fewer requests/s on the 2-core bench machine.)
    // Under a storm, a flush waits a few turns of the event loop for the batch to fill (see GroupCommit).
    { maxBatch: 500, gather: 'io', gatherTurns: 4 },
  );
  let lastStored = 0;
  const inbox =
    deps.slackWorker === false
      ? undefined
      : new InboxWorker({
          store: chatStore,
          handler,
          transport,
          node: deps.node,
          logger,
          onQueued: () => outbox.notify(),
          releaseClaimsAtStart: deps.db.kind === 'pglite',
          yieldTo: async () => {
            // A turn of the event loop first: on the embedded database, queries answer within one chain of
            // promise callbacks, and a worker draining a backlog would otherwise keep I/O waiting until it is done.
            await new Promise((resolve) => setImmediate(resolve));
            await accepts.idle();
            // The embedded database runs in this thread: while deliveries keep coming, leave the gateway a few
            // free turns between the worker's statements.
            const since = Date.now() - lastStored;
            if (deps.db.kind === 'pglite' && since < GATEWAY_TURN_MS) {
              await new Promise((resolve) => setTimeout(resolve, GATEWAY_TURN_MS - since));
              await accepts.idle();
            }
          },
          pollMs,
        });
  const progress = new ProgressReporter({
    events: deps.events,
    store: chatStore,
    config,
    getWindow: (id) => deps.service.get(id),
    platforms: ['slack'],
    logger,
    onQueued: () => outbox.notify(),
  });
  const ingest = new SlackIngest({
    verifier: new SlackSignature({ signingSecret: slack.signingSecret! }),
    store: (item) => accepts.submit(item),
    onStored: () => {
      lastStored = Date.now();
      inbox?.notify();
    },
    logger,
    metrics: deps.metrics,
  });
  const routes = slackRoutes(ingest, { maxBodyBytes: slack.maxBodyBytes });
  return {
    handler,
    store: chatStore,
    routes,
    nodeHandler: slackNodeHandler(ingest, { maxBodyBytes: slack.maxBodyBytes, logger }),
    ...(inbox ? { inbox } : {}),
    outbox,
    start: () => {
      progress.start();
      inbox?.start();
      outbox.start();
    },
    stop: async () => {
      await inbox?.stop();
      await progress.stop();
      await outbox.stop();
    },
  };
}
