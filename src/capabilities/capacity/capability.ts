// Capacity windows as the host runs them: its tables, its converge and reader-following timer handlers, and
// the use cases the doors (HTTP API, chat, page) call.
import type { Capability, CapabilityModule } from '../../hosts/capability.ts';
import { AuroraReplicaAction } from './actions/aurora-replicas.ts';
import { EcsCapacityAction } from './actions/ecs-capacity.ts';
import { registerCapacityCommands } from './commands.ts';
import { CapacityConverger } from './converge.ts';
import { capacityMigrations } from './migrations.ts';
import { CapacityService } from './service.ts';
import { Store } from './store.ts';

export interface CapacityCapability extends Capability {
  store: Store;
  service: CapacityService;
  converger: CapacityConverger;
}

export const capacityModule: CapabilityModule<CapacityCapability> = {
  name: 'capacity',
  migrations: capacityMigrations,
  create(host) {
    const { config, timers } = host;
    const store = new Store(host.db, host.schema);
    const converger = new CapacityConverger({
      store,
      timers,
      node: host.node,
      resources: config.resources,
      actions: {
        ecs: new EcsCapacityAction({ gateway: host.aws, baselines: store.baselines }),
        aurora: new AuroraReplicaAction({ gateway: host.aws }),
      },
      events: host.events,
      metrics: host.metrics,
      logger: host.logger,
      dryRun: config.dryRun,
      graceMs: config.graceMinutes * 60_000,
      readers: config.replicas,
    });
    const service = new CapacityService({
      store,
      config,
      events: host.events,
      metrics: host.metrics,
      // Windows store their transitions' due rows in their own statement: tell the loop.
      onScheduleChanged: (due) => timers.noteDue(due),
    });
    return {
      store,
      service,
      converger,
      timers: converger.handlers(),
      commands: (router) =>
        registerCapacityCommands(router, {
          service,
          config,
          windowForEvent: (key) => store.windowIdForEvent(key),
        }),
      start: async () => {
        if ((await store.scheduleOrphans()) > 0) timers.noteDue(null);
      },
    };
  },
};
