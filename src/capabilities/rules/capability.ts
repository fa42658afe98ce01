// Event rules as the host runs them: their tables, the service deliveries are handed to, the API, the metrics,
// and in demo mode the simulated ECS's task state changes fed in as EventBridge would deliver them.

import { Counter } from 'prom-client';
import type { ReplyAddress } from '../../chat/port.ts';
import type { DeliveryHandler } from '../../gateway/worker.ts';
import type { Capability, CapabilityModule } from '../../hosts/capability.ts';
import type { Notifier } from '../../notify/notifier.ts';
import { rulesApi } from './api.ts';
import { registerRulesCommands } from './commands.ts';
import { MalformedDeliveryError, type RuleDelivery, toRuleEvent } from './events.ts';
import { rulesMigrations } from './migrations.ts';
import type { RuleNotifier } from './ports.ts';
import { type HandleResult, RulesService } from './service.ts';
import { RulesStore } from './store.ts';

/** The gateway source name the simulated ECS's events arrive under in demo mode. */
export const SIMULATED_EVENTS_SOURCE = 'aws-events';

export interface RulesCapability extends Capability {
  service: RulesService;
  store: RulesStore;
  /** Handles one stored delivery of an `sns` or `events` source (the gateway's inbox calls it). */
  handleDelivery(delivery: RuleDelivery): Promise<HandleResult>;
  /** Registered on the gateway's worker for the source kinds rules take. */
  deliveries: { sns: DeliveryHandler; events: DeliveryHandler };
}

export const rulesModule: CapabilityModule<RulesCapability> = {
  name: 'rules',
  migrations: rulesMigrations,
  create(host) {
    const store = new RulesStore(host.db, host.schema);
    const runs = new Counter({
      name: 'chronops_rule_runs_total',
      help: 'Rule actions by rule, action kind and outcome (running, done, dry-run, failed, duplicate, stopped-ok, stopped-alert)',
      labelNames: ['rule', 'action', 'outcome'] as const,
      registers: [host.metrics.registry],
    });
    const service = new RulesService({
      config: host.config.rules,
      store,
      gateway: host.aws,
      notifier: outboxNotifier(host.notifier),
      // The one caller of the team's services (signed, timed out, limited per service, audited); the run id is
      // the Idempotency-Key, so a retried delivery's call is recognisable by the service.
      http: {
        has: (service) => host.services.has(service),
        call: (service, request, runId) =>
          host.services.call(service, request, { idempotencyKey: runId, run: runId, actor: 'rules' }),
      },
      dryRun: host.config.dryRun,
      logger: host.logger,
      metrics: { run: (rule, action, outcome) => runs.inc({ rule, action, outcome }) },
    });
    const handleDelivery = (delivery: RuleDelivery) => service.handle(toRuleEvent(delivery));
    // Resolves when handled (or never to be: a malformed body is logged and dropped); throws to be tried again.
    const handler: DeliveryHandler = {
      async handle(delivery) {
        try {
          await handleDelivery({
            key: delivery.key,
            source: delivery.source,
            kind: delivery.kind === 'sns' ? 'sns' : 'events',
            body: delivery.body,
            receivedAt: delivery.receivedAt,
          });
        } catch (error) {
          if (!(error instanceof MalformedDeliveryError)) throw error;
          host.logger.warn(
            { err: error, delivery: delivery.key },
            'a delivery rules cannot read was dropped',
          );
        }
        return undefined;
      },
      async gaveUp(delivery, error) {
        host.logger.error({ err: error, delivery: delivery.key }, 'rules gave up on a delivery');
      },
    };

    // Demo mode: the simulated ECS's task state changes, delivered as EventBridge would (at least once).
    let pump: NodeJS.Timeout | undefined;
    const pending: Array<{ delivery: RuleDelivery; attempts: number }> = [];
    const simulator = host.aws.simulator;
    const tick = async () => {
      for (const event of simulator?.takeEvents() ?? []) {
        pending.push({
          attempts: 0,
          delivery: {
            key: `${SIMULATED_EVENTS_SOURCE}:${String(event.id)}`,
            source: SIMULATED_EVENTS_SOURCE,
            kind: 'events',
            body: JSON.stringify(event),
            receivedAt: new Date(),
          },
        });
      }
      for (const item of pending.splice(0)) {
        await handleDelivery(item.delivery).catch((error: unknown) => {
          item.attempts += 1;
          const again = item.attempts < 10;
          host.logger.warn({ err: error, delivery: item.delivery.key, again }, 'a simulated event failed');
          if (again) pending.push(item);
        });
      }
    };

    return {
      service,
      store,
      handleDelivery,
      deliveries: { sns: handler, events: handler },
      commands: (router) => {
        registerRulesCommands(router, service);
      },
      api: rulesApi({ service, store }),
      start: async () => {
        if (!simulator || host.config.rules.rules.length === 0) return;
        let running = false;
        pump = setInterval(() => {
          if (running) return;
          running = true;
          void tick().finally(() => {
            running = false;
          });
        }, host.pollMs ?? 1000);
        pump.unref();
      },
      stop: async () => {
        if (pump) clearInterval(pump);
      },
    };
  },
};

/**
 * The one outbox, as rules speak to it: messages to named destinations and answers in the chat thread a run
 * started from, queued under keys that say what they are about (`rules:<run id>:<phase>`), so each is sent once.
 */
function outboxNotifier(notifier: Notifier): RuleNotifier {
  return {
    has: (destination) => notifier.has(destination),
    notify: (destination, message, key) => notifier.send(destination, message, { key: `rules:${key}` }),
    reply: (origin, message, key) =>
      notifier.reply(
        origin.address as unknown as ReplyAddress,
        { notification: message },
        { key: `rules:${key}` },
      ),
  };
}
