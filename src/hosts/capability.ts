// What a capability brings to a chronops server, and what the server gives it. A capability (capacity windows,
// office-hours power, HTTP jobs, event rules) is one folder under src/capabilities/ exporting one
// `CapabilityModule`; the host lists the modules (src/hosts/modules.ts) and does the rest: runs their migrations,
// creates each with the shared mechanisms, registers their timer handlers on the one loop, mounts their API
// sub-apps, starts them, and stops them in reverse order.
import type { Hono } from 'hono';
import type { AwsGateway } from '../aws/gateway.ts';
import type { CommandRouter } from '../chat/router.ts';
import type { DeliveryHandler } from '../gateway/worker.ts';
import type { Config } from '../kernel/config.ts';
import type { EventBus } from '../kernel/events.ts';
import type { Logger } from '../kernel/logger.ts';
import type { Metrics } from '../kernel/metrics.ts';
import type { Notifier } from '../notify/notifier.ts';
import type { ServiceCaller } from '../services/caller.ts';
import type { Db } from '../store/db.ts';
import type { MigrationModule } from '../store/migrations.ts';
import type { TimerHandler, TimerScheduler } from '../timers/port.ts';

/** The shared mechanisms a capability is created with. */
export interface HostContext {
  config: Config;
  db: Db;
  /** Schema of chronops' tables. */
  schema: string;
  /** This server's name (audit, executions, leases). */
  node: string;
  /** The one timer loop: schedule and cancel due rows (handlers are registered from `Capability.timers`). */
  timers: TimerScheduler;
  /** The one AWS gateway (dry-run, retries, audit of every call). */
  aws: AwsGateway;
  events: EventBus;
  metrics: Metrics;
  logger: Logger;
  /** The one outbox: notifications to named destinations and answers in chat threads (src/notify/notifier.ts). */
  notifier: Notifier;
  /**
   * The one caller of the team's services (`services:`): signed, timed out, limited per service, audited
   * (src/services/caller.ts).
   */
  services: ServiceCaller;
  /**
   * Resolves with the server's URL once it answers HTTP (undefined when it does not listen). Capabilities start
   * before the server listens: work that calls chronops itself (the demo's services) waits for this.
   */
  listening: Promise<string | undefined>;
  /** Poll interval for tests (short); undefined in production. */
  pollMs?: number;
}

/** A capability as the host runs it. */
export interface Capability {
  /** The handlers of its timer kinds (`<name>.<what>`), registered before the loop starts. */
  timers?: TimerHandler[];
  /**
   * Handlers of stored webhook deliveries, by source kind (event rules: `sns`, `events`), registered on the
   * gateway's worker (src/gateway/worker.ts). One handler per kind across the server.
   */
  deliveries?: Partial<Record<string, DeliveryHandler>>;
  /** Its HTTP API, mounted by the host at `/api/<name>`. */
  api?: Hono;
  /**
   * Routes outside the API (no API token: callers prove themselves otherwise, e.g. a signed callback), mounted
   * by the host at `/`. Their paths start with the capability's name (`/jobs/…`).
   */
  routes?: Hono;
  /** Registers its chat commands on the one router (docs/chat.md), before chat starts. */
  commands?(router: CommandRouter): void;
  /** After every capability is created and the timer loop runs. */
  start?(): Promise<void>;
  /** Before the timer loop stops (in reverse order of start). */
  stop?(): Promise<void>;
}

/** A capability's entry in the host's list (src/hosts/modules.ts): its tables, and how to create it. */
export interface CapabilityModule<C extends Capability = Capability> {
  /** Lower case, e.g. `power`: the prefix of its timer kinds and its API path. */
  name: string;
  migrations?: MigrationModule;
  create(host: HostContext): C | Promise<C>;
}
