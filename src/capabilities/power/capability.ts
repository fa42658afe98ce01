// Office-hours power as the host runs it: its tables, its timer handler (`power.check`, keyed by AWS kind and
// region), the actions on the one AWS gateway, the gate capacity windows ask, and the report of forced states
// through the one outbox.
import type { ReplyAddress } from '../../chat/port.ts';
import type { Capability, CapabilityModule } from '../../hosts/capability.ts';
import { Ec2PowerAction } from './actions/ec2.ts';
import { EcsPowerAction } from './actions/ecs.ts';
import { AuroraClusterPowerAction, RdsInstancePowerAction } from './actions/rds.ts';
import { powerApi } from './api.ts';
import { registerPowerCommands } from './commands.ts';
import { powerMigrations } from './migrations.ts';
import type { CapacityView } from './ports.ts';
import { type PowerReporter, PowerService } from './service.ts';
import { PowerStore } from './store.ts';

export interface PowerCapability extends Capability {
  service: PowerService;
  store: PowerStore;
  /** The host gives power capacity windows' view (src/hosts/links.ts). */
  connectCapacity(view: CapacityView): void;
}

export const powerModule: CapabilityModule<PowerCapability> = {
  name: 'power',
  migrations: powerMigrations,
  create(host) {
    const store = new PowerStore(host.db, host.schema);
    const gateway = host.aws;
    // Tests run the loop with a short poll: look again at resources on their way just as soon.
    const fast = host.pollMs !== undefined;
    const service = new PowerService({
      config: host.config.power,
      store,
      timers: host.timers,
      actions: {
        ec2: new Ec2PowerAction({ gateway, ...(fast ? { retryAfterMs: 1000 } : {}) }),
        rds: new RdsInstancePowerAction({ gateway, ...(fast ? { retryAfterMs: 1000 } : {}) }),
        aurora: new AuroraClusterPowerAction({ gateway, ...(fast ? { retryAfterMs: 1000 } : {}) }),
        ecs: new EcsPowerAction({ gateway, values: store.values }),
      },
      dryRun: host.config.dryRun,
      logger: host.logger,
      ...(fast ? { followMs: 1000, capacityWaitMs: 500, checkMs: 2000 } : {}),
    });
    service.reporter = outboxReporter(host.notifier, host.config.locale);
    const unsubscribe: Array<() => void> = [];
    return {
      service,
      store,
      timers: service.handlers(),
      api: powerApi(service),
      commands: (router) => {
        registerPowerCommands(router, service);
      },
      connectCapacity: (view) => {
        service.capacity = view;
      },
      start: async () => {
        await service.ensureScheduled();
        // A capacity window created or cancelled changes when its resources must run: look at them now.
        const recheck = (resources: string[]) => {
          const ours = resources.filter((r) => service.resources[r]);
          if (ours.length > 0)
            void service
              .checkSoon(ours)
              .catch((error: unknown) => host.logger.warn({ err: error }, 'power: recheck failed'));
        };
        unsubscribe.push(
          host.events.on('window.created', ({ window }) => recheck(window.holds.map((h) => h.resource))),
          host.events.on('window.cancelled', ({ window }) => recheck(window.holds.map((h) => h.resource))),
        );
      },
      stop: async () => {
        for (const off of unsubscribe.splice(0)) off();
      },
    };
  },
};

/** Reports a forced state's outcome in the thread or room the command came from, once (outbox key). */
function outboxReporter(
  notifier: import('../../notify/notifier.ts').Notifier,
  locale: string,
): PowerReporter {
  return {
    async forceDone(force, lines) {
      const address = force.origin?.address as ReplyAddress | undefined;
      if (!address) return;
      const ko = (force.origin?.locale ?? locale) === 'ko';
      const ok = lines.every((l) => l.ok);
      const verb = force.state === 'running' ? (ko ? '시작' : 'force_start') : ko ? '중지' : 'force_stop';
      await notifier.reply(
        address,
        {
          notification: {
            title: ko
              ? `${force.schedule} 강제 ${verb} ${ok ? '완료' : '일부 실패'}`
              : `${force.schedule} ${verb} ${ok ? 'done' : 'finished with errors'}`,
            severity: ok ? 'success' : 'error',
            fields: lines.map((l) => ({ title: l.resource, value: l.state })),
            ...(force.until
              ? {
                  footer: ko
                    ? `다음 일정 변경까지 유지: ${force.until.toISOString()}`
                    : `holds until the schedule's next change, ${force.until.toISOString()}`,
                }
              : {}),
          },
        },
        { key: `power:force:${force.schedule}:${force.at.toISOString()}` },
      );
    },
  };
}
