import type { AuroraResource, ConvergeOutcome, Resource, Target } from '../model.ts';

/** What a converge runs under: the execution it belongs to, and whether calls are sent or only recorded. */
export interface ActionContext {
  executionId: string;
  transitionId: string;
  dryRun: boolean;
  /**
   * Told the state the action read before changing anything; answers the state to report as the outcome's
   * `from`: the one the transition's first attempt saw (an attempt killed after its calls leaves its changes
   * behind, and the attempt that finishes must report them as made, not as found). Absent: what was read.
   */
  seen?: (from: string) => Promise<string>;
}

/**
 * Where an action keeps what it must restore later (an ECS service's original min/max or desired count).
 * Read from AWS when first needed, stored, and cleared once the resource is back at its baseline.
 */
export interface BaselineStore {
  get(resource: string): Promise<Record<string, unknown> | null>;
  put(resource: string, value: Record<string, unknown>): Promise<void>;
  clear(resource: string): Promise<void>;
}

/**
 * Port: converge one resource to its plan. `target === null` means "no window is active: back to baseline".
 * Every implementation is idempotent: a second call with the same target changes nothing.
 */
export interface CapacityAction<R extends Resource = Resource> {
  readonly kind: R['kind'];
  converge(resource: R, target: Target | null, ctx: ActionContext): Promise<ConvergeOutcome>;
}

export type ReaderState = 'creating' | 'available' | 'failed' | 'gone';

/** Port: look at one reader chronops created, to follow it until it is available. */
export interface ReaderWatcher {
  readerState(resource: AuroraResource, instanceId: string, ctx: ActionContext): Promise<ReaderState>;
}
