// The vocabulary of office-hours power schedules: the resources chronops may start and stop (the allow-list, from
// the config file), the schedules and their periods, dated exceptions, forced states, and what an action did.
// Pure types; the rules that use them are in schedule.ts.

import type { DayRule } from './periods.ts';

export const PowerKinds = { ec2: 'ec2', rds: 'rds', aurora: 'aurora', ecs: 'ecs' } as const;
export type PowerKind = (typeof PowerKinds)[keyof typeof PowerKinds];

interface PowerResourceBase {
  /** How people refer to it; unique across every resource of the config. */
  name: string;
  region: string;
  /** The schedule that decides when it runs. */
  schedule: string;
  /** Price of one running hour of the whole resource, for the page's estimated saving. */
  pricePerUnitHour?: number;
}

/** An EC2 instance (not one of an Auto Scaling group: the group would replace it). */
export interface Ec2PowerResource extends PowerResourceBase {
  kind: 'ec2';
  instanceId: string;
}

/** An RDS DB instance that is not a member of an Aurora cluster (those start and stop with their cluster). */
export interface RdsPowerResource extends PowerResourceBase {
  kind: 'rds';
  instanceId: string;
}

/** An Aurora cluster, started and stopped as a whole (never one member). */
export interface AuroraPowerResource extends PowerResourceBase {
  kind: 'aurora';
  clusterId: string;
}

/** An ECS service: stopped = desired count 0 (and its scalable target's MinCapacity 0); started = the values kept. */
export interface EcsPowerResource extends PowerResourceBase {
  kind: 'ecs';
  cluster: string;
  service: string;
}

export type PowerResource = Ec2PowerResource | RdsPowerResource | AuroraPowerResource | EcsPowerResource;

/**
 * One period of a schedule. With `begin` and `end` (minutes after midnight, local time), it runs from `begin` to
 * `end` on each day its day rules match; `end` not after `begin` means it crosses midnight and ends the next day
 * (22:00–06:00). Without times, it runs the whole of each matching day. Every day rule given must match.
 */
export interface Period {
  begin?: number;
  end?: number;
  weekdays?: DayRule;
  monthdays?: DayRule;
  months?: DayRule;
}

export interface Schedule {
  name: string;
  description?: string;
  /** IANA zone the periods are read in (DST included). */
  timezone: string;
  periods: Period[];
  /**
   * Converge the resources to the schedule at every check, not only at its transitions: a resource someone started
   * or stopped by hand goes back, and an RDS instance AWS started again after 7 days stopped is stopped again.
   */
  enforced: boolean;
  /** A resource found already running when a period began (started by hand) is not stopped when it ends. */
  retainRunning: boolean;
  /** Stop EC2 instances with hibernation (instances that do not support it are stopped normally). */
  hibernate: boolean;
}

export type PowerState = 'running' | 'stopped';

/**
 * A dated exception, as the seed's `exception set <date> <start|stop> <h:m>`: on `date` (in the schedule's zone) the
 * resources start at `start` instead of the schedule's first start that day, and/or stop at `stop` instead of its
 * last stop. An exception belongs to the day its period begins on.
 */
export interface DayException {
  /** YYYY-MM-DD. */
  date: string;
  /** Minutes after midnight. */
  start?: number;
  stop?: number;
}

/** `force_start` / `force_stop`: this state from `at` until the schedule's next transition (null: none ahead). */
export interface ForcedState {
  state: PowerState;
  at: Date;
  until: Date | null;
  by: string;
}

/** A capacity window active on a resource over [from, until): it keeps the resource running. */
export interface WindowHold {
  windowId: string;
  name: string;
  from: Date;
  until: Date;
}

export const PowerReasons = {
  schedule: 'schedule',
  exception: 'exception',
  forced: 'forced',
  window: 'window',
} as const;
export type PowerReason = (typeof PowerReasons)[keyof typeof PowerReasons];

/** What chronops wants for a resource over [from, until), and why. */
export interface PowerSegment {
  from: Date;
  until: Date;
  state: PowerState;
  reason: PowerReason;
  /** The capacity windows that keep it running (reason `window`). */
  windows?: string[];
}

/** The state of a resource as AWS reports it, reduced to what power decisions need. */
export type ObservedPower =
  | 'running'
  | 'stopped'
  /** On its way to running (pending, starting, configuring…): a start is under way, nothing to do. */
  | 'starting'
  /** On its way to stopped: a start must wait until it is stopped. */
  | 'stopping'
  /** Busy with something else (modifying, backing-up, rebooting…): try again later. */
  | 'busy'
  | 'missing';

/** The result of converging one resource to a power state. */
export interface PowerOutcome {
  resource: string;
  /** What AWS said before, e.g. `stopped`, `desired 0`. */
  from: string;
  to: string;
  changed: boolean;
  /** A change is under way (a call was made, or AWS is already moving it): look again to see it arrive. */
  pending?: boolean;
  /** Set when the resource is not yet where it should be (e.g. still `stopping`): try again later. */
  retryAfterMs?: number;
  error?: string;
  details?: Record<string, unknown>;
}
