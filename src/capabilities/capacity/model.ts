// The vocabulary of chronops' core: resources on the allow-list, capacity windows and their holds,
// transitions of the plan, and what an action did. Everything else (store, scheduler, API, chat)
// speaks in these types.

export const ResourceKinds = { ecs: 'ecs', aurora: 'aurora' } as const;
export type ResourceKind = (typeof ResourceKinds)[keyof typeof ResourceKinds];

/** An ECS service chronops may scale (from the config file: the allow-list). */
export interface EcsResource {
  kind: 'ecs';
  name: string;
  cluster: string;
  service: string;
  region: string;
  /** Upper bound for any window's task count. */
  maxTasks: number;
  /** Price of one task for one hour, for plan estimates. */
  pricePerUnitHour?: number;
}

/** An Aurora cluster chronops may add readers to (from the config file: the allow-list). */
export interface AuroraResource {
  kind: 'aurora';
  name: string;
  clusterId: string;
  region: string;
  /** DB instance class of the readers chronops adds, e.g. db.r6g.large. */
  instanceClass: string;
  /** Upper bound for any window's extra readers. */
  maxExtraReplicas: number;
  pricePerUnitHour?: number;
}

export type Resource = EcsResource | AuroraResource;

/**
 * One capacity request of a window on one resource: hold at least `amount` from `from` (inclusive) until
 * `until` (exclusive). For ECS `amount` is a task count to hold; for Aurora it is a number of extra readers.
 */
export interface Hold {
  resource: string;
  kind: ResourceKind;
  amount: number;
  from: Date;
  until: Date;
}

export const WindowStatuses = {
  scheduled: 'scheduled',
  active: 'active',
  done: 'done',
  cancelled: 'cancelled',
} as const;
export type WindowStatus = (typeof WindowStatuses)[keyof typeof WindowStatuses];

export interface CapacityWindow {
  id: string;
  /** What the window is for: a product id, a label. */
  name: string;
  holds: Hold[];
  dryRun: boolean;
  status: WindowStatus;
  createdBy: string;
  createdAt: Date;
  cancelledAt?: Date | null;
  /** Where the window came from (cli, api, slack, console) and anything that source needs to report back. */
  origin?: Record<string, unknown>;
}

export const TransitionKinds = { start: 'start', end: 'end', reconcile: 'reconcile' } as const;
export type TransitionKind = (typeof TransitionKinds)[keyof typeof TransitionKinds];

export const TransitionStatuses = {
  pending: 'pending',
  fired: 'fired',
  done: 'done',
  failed: 'failed',
  cancelled: 'cancelled',
  missed: 'missed',
} as const;
export type TransitionStatus = (typeof TransitionStatuses)[keyof typeof TransitionStatuses];

/** A point of the plan where a resource's desired capacity may change: converge it then. */
export interface Transition {
  id: string;
  windowId: string;
  resource: string;
  kind: TransitionKind;
  dueAt: Date;
  status: TransitionStatus;
  dryRun: boolean;
  firedAt?: Date | null;
  finishedAt?: Date | null;
  /** Why it failed or was missed. */
  error?: string | null;
  /**
   * Set when another transition's execution on the same resource carried this one out: it converged the
   * resource to the plan at a moment this one was already due, so one AWS change served both.
   */
  coveredBy?: string | null;
}

/**
 * What a resource should have at an instant: null means "its baseline" (no window active).
 * Otherwise the amount (tasks, or extra readers) and the windows that ask for it.
 */
export interface Target {
  amount: number;
  windowIds: string[];
}

/** The result of converging one resource to its plan. */
export interface ConvergeOutcome {
  /** Human description of the state before, e.g. "min 2 max 10" or "2 readers (0 chronops)". */
  from: string;
  /** And after. */
  to: string;
  changed: boolean;
  /** Readers created by this converge that must be followed until available. */
  createdReaders?: string[];
  /**
   * chronops' readers this converge found still on their way (created by an earlier converge whose outcome was
   * never recorded: the process died between the create call and the record). Followed like new ones, if nobody
   * follows them yet.
   */
  pendingReaders?: string[];
  /** Anything adapter-specific worth keeping in the execution history. */
  details?: Record<string, unknown>;
}
