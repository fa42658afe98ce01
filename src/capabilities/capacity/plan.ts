import type { Hold, Target } from './model.ts';

/** A hold as the plan sees it: with the window it belongs to, for ordering and tagging. */
export interface PlannedHold extends Hold {
  windowId: string;
  windowCreatedAt: Date;
  dryRun: boolean;
}

/**
 * The merge rule. A window asks a resource to hold *at least* an amount (tasks, or extra readers) over
 * [from, until). The desired capacity at instant t is:
 *
 *   baseline                                   when no hold on the resource is active at t (→ null)
 *   max(amount of every hold active at t)      otherwise; the baseline is a floor the action applies
 *
 * Amounts are levels, not increments: two products opening 30 minutes apart, each asking for 12 tasks, need
 * 12 tasks, and the end of the first window changes nothing while the second is still active. This is what
 * keeps one window's scale-in from taking capacity another window still needs.
 *
 * `windowIds` lists the active windows, the one that sets the level first (largest amount, then earliest
 * created), so that actions can name what they create after it.
 */
export function targetAt(holds: readonly PlannedHold[], resource: string, t: Date): Target | null {
  const time = t.getTime();
  const active = holds.filter(
    (h) => h.resource === resource && h.from.getTime() <= time && time < h.until.getTime(),
  );
  if (active.length === 0) return null;
  active.sort(
    (a, b) =>
      b.amount - a.amount ||
      a.windowCreatedAt.getTime() - b.windowCreatedAt.getTime() ||
      a.windowId.localeCompare(b.windowId),
  );
  const windowIds = [...new Set(active.map((h) => h.windowId))];
  return { amount: active[0]!.amount, windowIds };
}

/** One step of a resource's planned capacity: from `at` on, the target is `target` (null = baseline). */
export interface PlanStep {
  at: Date;
  target: Target | null;
}

/**
 * The steps of a resource's plan between `from` and `to`: the target at `from`, then one step at every
 * instant where it changes. Used by the page's timeline and by plan previews.
 */
export function planSteps(holds: readonly PlannedHold[], resource: string, from: Date, to: Date): PlanStep[] {
  const edges = new Set<number>([from.getTime()]);
  for (const h of holds) {
    if (h.resource !== resource) continue;
    for (const e of [h.from.getTime(), h.until.getTime()]) {
      if (e > from.getTime() && e < to.getTime()) edges.add(e);
    }
  }
  const steps: PlanStep[] = [];
  for (const e of [...edges].sort((a, b) => a - b)) {
    const target = targetAt(holds, resource, new Date(e));
    const prev = steps.at(-1);
    if (prev && sameTarget(prev.target, target)) continue;
    steps.push({ at: new Date(e), target });
  }
  return steps;
}

function sameTarget(a: Target | null, b: Target | null): boolean {
  if (a === null || b === null) return a === b;
  return a.amount === b.amount && a.windowIds.join() === b.windowIds.join();
}

/** The instants at which each hold's resource must be converged: its start and its end. */
export function transitionPoints(
  holds: readonly Hold[],
): Array<{ resource: string; kind: 'start' | 'end'; at: Date }> {
  return holds.flatMap((h) => [
    { resource: h.resource, kind: 'start' as const, at: h.from },
    { resource: h.resource, kind: 'end' as const, at: h.until },
  ]);
}
