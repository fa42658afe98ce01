// Where office-hours power meets capacity windows. Capabilities never import each other: power says here what it
// needs from capacity (`CapacityView`) and what it offers it (`PowerGate`); the host wires the two
// (src/hosts/links.ts).

import type { WindowHold } from './model.ts';

/** A capacity window's hold on one resource. */
export interface ResourceHold extends WindowHold {
  resource: string;
}

/** What power asks capacity windows. */
export interface CapacityView {
  /** Holds of windows (not cancelled, not missed, not dry-run) on these resources overlapping [from, to). */
  holds(resources: readonly string[], from: Date, to: Date): Promise<ResourceHold[]>;
  /**
   * Of these resources, those capacity is still changing at `at`: a window active on it, or a transition due
   * and not carried out yet (e.g. the scale-in at a window's end). Power does not stop them before it is done.
   */
  busy(resources: readonly string[], at: Date): Promise<Set<string>>;
}

export type GateAnswer = { ready: true } | { ready: false; retryAfterMs: number; reason: string };

/**
 * What capacity asks power before a window raises a resource: power it on first if office hours have it off
 * (a stopped Aurora cluster cannot take readers; a stopped ECS service gets its kept values back first, so that
 * the window's scale-in restores running values, not zero). Not ready: look again after `retryAfterMs`.
 */
export interface PowerGate {
  beforeRaise(resource: string, ctx: { dryRun: boolean; executionId: string }): Promise<GateAnswer>;
}
