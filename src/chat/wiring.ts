// The chat side of `chronops serve`: the command router every door uses (always there, so the web console has
// it; the host registers each capability's commands on it before `start`), the one outbox sender (chat replies
// and every notify destination), and — when Slack is enabled — the handler of Slack deliveries (registered with
// the gateway's worker) and the progress reporter.

import { ProgressReporter, type ProgressSink } from '../capabilities/capacity/progress.ts';
import type { CapacityService } from '../capabilities/capacity/service.ts';
import type { Store } from '../capabilities/capacity/store.ts';
import type { GatewayRuntime } from '../gateway/wiring.ts';
import type { Config } from '../kernel/config.ts';
import { ConfigError } from '../kernel/errors.ts';
import type { EventBus } from '../kernel/events.ts';
import type { Logger } from '../kernel/logger.ts';
import type { Metrics } from '../kernel/metrics.ts';
import { type ConsoleMessage, OutboxSender } from '../notify/outbox.ts';
import type { Db } from '../store/db.ts';
import { jandiAnswer, jandiEvent } from './channels/jandi/events.ts';
import { RoomChannel } from './channels/room.ts';
import { SlackDeliveryHandler } from './channels/slack/handler.ts';
import { SlackTransport } from './channels/slack/transport.ts';
import { teamsAnswer, teamsEvent } from './channels/teams/events.ts';
import { ChatStore } from './chat-store.ts';
import type { Locale } from './messages.ts';
import { ConfigPermissions, type UserGroups } from './permissions.ts';
import type { ChatTransport } from './port.ts';
import { CommandRouter } from './router.ts';

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
  /** This server's lease in `nodes` (the timers' heartbeat): the outbox sends only while it will hold. */
  leaseMs?: number;
  pollMs?: number;
  /** Replaces the Slack Web API transport (tests). */
  slackTransport?: ChatTransport;
  /** The gateway: Slack deliveries are handled by its worker (when this process runs one). */
  gateway: GatewayRuntime;
  /** Shows an outbox message on the page's console (the `console` destination). */
  console?: (message: ConsoleMessage) => void;
}

export interface Chat {
  /**
   * The one command router: every door hands it ChatEvents (Slack, the web console as platform 'console'); each
   * capability registers its commands on it before `start`.
   */
  handler: CommandRouter;
  store: ChatStore;
  /** The one outbox's sender: chat replies and every notify destination. */
  outbox: OutboxSender;
  /**
   * The capacity converger's reporter in chat threads (when Slack is on): the host hands it to the converger,
   * which queues each step's messages in the transaction that records the step.
   */
  progress: ProgressSink | undefined;
  /**
   * Checks the commands' permissions and starts the outbox's sender and the progress reporter; `work: false` (a
   * front server) only checks: the sending is the other servers' work.
   */
  start(options?: { work?: boolean }): Promise<void>;
  stop(): Promise<void>;
}

/** Sent messages are kept this many days (then pruned, once an hour). */
const OUTBOX_KEEP_DAYS = 30;

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
  const handler = new CommandRouter({
    locale: config.locale,
    audit: (entry) => deps.store.audit(entry),
    permissions: new ConfigPermissions({
      rules: { slack: slack.permissions, jandi: config.jandi.permissions, teams: config.teams.permissions },
      ...(groups ? { groups } : {}),
    }),
  });
  /** A rule for a permission key no registered command uses is a typo in the config: refuse to start. */
  const checkPermissions = () => {
    const unused = handler.unusedPermissionRules();
    if (unused.length === 0) return;
    const keys = handler.permissionKeys().join(', ');
    throw new ConfigError(
      unused.map((u) => ({
        field: u.path,
        message: `no chat command uses this permission key (keys: ${keys})`,
      })),
    );
  };

  // One process on the embedded database: work is announced in-process (a stored delivery, a queued message, a
  // retry's timer), so the database is only polled as a safety net — each query there holds the event loop.
  // Several servers on PostgreSQL learn of each other's work by polling.
  const pollMs = deps.pollMs ?? (deps.db.kind === 'pglite' ? 10_000 : 1000);
  // The one outbox, for chat replies and every notify destination (Slack or not).
  const outbox = new OutboxSender({
    store: chatStore,
    transports: transport ? { slack: transport } : {},
    destinations: config.notify.destinations,
    ...(deps.console ? { console: deps.console } : {}),
    node: deps.node,
    logger,
    metrics: deps.metrics,
    postIntervalMs: slack.postIntervalMs,
    pollMs,
    // A quarter of the lease: the heartbeat renews it every quarter, so a server that keeps up always has more.
    ...(deps.leaseMs ? { sendMarginMs: Math.min(2000, Math.floor(deps.leaseMs / 4)) } : {}),
  });
  if (transport) {
    deps.gateway.register(
      'slack',
      new SlackDeliveryHandler({
        store: chatStore,
        handler,
        transport,
        logger,
        onQueued: () => outbox.notify(),
      }),
    );
  }
  registerRoomChannels(deps, handler, chatStore, () => outbox.notify());
  let pruning: NodeJS.Timeout | undefined;
  const prune = async () => {
    try {
      await deps.gateway.yieldToIngest();
      const gone = await chatStore.prune(OUTBOX_KEEP_DAYS);
      if (gone > 0) logger.info({ outbox: gone }, 'chat: old messages deleted');
    } catch (error) {
      logger.error({ err: error }, 'chat: prune failed');
    }
  };
  const progress = transport
    ? new ProgressReporter({
        events: deps.events,
        store: chatStore,
        config,
        getWindow: (id, q) => deps.store.getWindow(id, q),
        platforms: ['slack'],
        logger,
        onQueued: () => outbox.notify(),
        inTransaction: true,
      })
    : undefined;
  return {
    handler,
    store: chatStore,
    outbox,
    progress,
    start: async (options) => {
      checkPermissions();
      if (options?.work === false) return;
      // The embedded database's lock proves no other process holds a claim: those left are a dead process's.
      if (deps.db.kind === 'pglite') {
        await chatStore
          .releaseClaims()
          .catch((error) => logger.error({ err: error }, 'chat outbox: could not release old claims'));
      }
      progress?.start();
      outbox.start();
      pruning = setInterval(() => void prune(), 3_600_000);
      pruning.unref();
    },
    stop: async () => {
      clearInterval(pruning);
      await progress?.stop();
      await outbox.stop();
    },
  };
}

/**
 * JANDI and Teams: their stored deliveries go through a RoomChannel to the router; the answer goes in the held
 * HTTP response when ready a second before the source's hold ends (`replyWithinMs`), else later through the room's
 * notify destination (`replyTo` of the JANDI room or of the Teams source).
 */
function registerRoomChannels(
  deps: ChatDeps,
  router: CommandRouter,
  store: ChatStore,
  onQueued: () => void,
): void {
  const { config } = deps;
  const jandi = new Map<
    string,
    { replyWithinMs: number; rooms: Map<string, { replyTo?: string; locale?: Locale }> }
  >();
  const teams = new Map<string, { replyWithinMs: number; replyTo?: string; locale?: Locale }>();
  for (const source of config.sources.on) {
    if (source.kind === 'jandi') {
      jandi.set(source.name, {
        replyWithinMs: source.replyWithinMs,
        rooms: new Map(source.rooms.map((r) => [r.name, r])),
      });
    } else if (source.kind === 'teams') teams.set(source.name, source);
  }
  // Answer a second before the gateway stops holding the request (at least half of its hold).
  const quick = (holdMs: number | undefined) =>
    holdMs === undefined ? 0 : Math.max(holdMs - 1000, Math.floor(holdMs / 2));
  const common = { router, store, destinations: config.notify.destinations, onQueued };
  if (jandi.size > 0) {
    const channel = new RoomChannel({
      ...common,
      platform: 'jandi',
      decode: (d) =>
        jandiEvent(d.key, d.body, (room) => {
          const r = jandi.get(d.source ?? '')?.rooms.get(room);
          return {
            locale: r?.locale ?? config.locale,
            ...(r?.replyTo ? { replyTo: r.replyTo } : {}),
          };
        }),
      render: jandiAnswer,
      quickMs: (source) => quick(jandi.get(source ?? '')?.replyWithinMs),
    });
    deps.gateway.register('jandi', {
      handle: async (d, ctx) => {
        await channel.handle({ key: d.key, body: d.body, source: d.source }, ctx);
        return undefined;
      },
    });
  }
  if (teams.size > 0) {
    const channel = new RoomChannel({
      ...common,
      platform: 'teams',
      decode: (d) => {
        const t = teams.get(d.source ?? '');
        return teamsEvent(d.key, d.body, {
          locale: t?.locale ?? config.locale,
          ...(t?.replyTo ? { replyTo: t.replyTo } : {}),
        });
      },
      render: teamsAnswer,
      quickMs: (source) => quick(teams.get(source ?? '')?.replyWithinMs),
    });
    deps.gateway.register('teams', {
      handle: async (d, ctx) => {
        await channel.handle({ key: d.key, body: d.body, source: d.source }, ctx);
        return undefined;
      },
    });
  }
}
