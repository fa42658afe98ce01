// What the page shows, read in one go: per configured resource its planned capacity as steps (the plan's own
// merge rule, domain/plan.ts, so the page and the scheduler can never disagree), the windows on it and its
// transitions; the upcoming transitions in order; the recent executions with their AWS calls and replicas.

import { parseBaseline } from '../capabilities/capacity/actions/ecs-capacity.ts';
import type { CapacityWindow, Resource, Transition } from '../capabilities/capacity/model.ts';
import { type PlannedHold, planSteps } from '../capabilities/capacity/plan.ts';
import type { AuditRecord, Execution, ReaderRecord, Store } from '../capabilities/capacity/store.ts';
import type { Config } from '../kernel/config.ts';

const HOUR = 3_600_000;

/** The spans the page offers: some past (to see the last transitions), then the future. */
export const RANGES = {
  '24h': { beforeMs: 6 * HOUR, afterMs: 24 * HOUR },
  '7d': { beforeMs: 24 * HOUR, afterMs: 7 * 24 * HOUR },
} as const;
export type RangeName = keyof typeof RANGES;

export function isRangeName(value: unknown): value is RangeName {
  return typeof value === 'string' && Object.hasOwn(RANGES, value);
}

export interface BoardStep {
  at: string;
  /** What the windows ask for (tasks, or extra readers); null when none is active (the baseline). */
  amount: number | null;
  /** The capacity the resource has then: for ECS at least its baseline; null when the baseline is unknown. */
  level: number | null;
  windowIds: string[];
}

export interface BoardTransition {
  id: string;
  windowId: string;
  windowName: string;
  resource: string;
  kind: Transition['kind'];
  dueAt: string;
  status: Transition['status'];
  dryRun: boolean;
  finishedAt: string | null;
  error: string | null;
}

export interface BoardResource {
  name: string;
  kind: Resource['kind'];
  unit: 'tasks' | 'extra readers';
  /** The allow-list's cap (max tasks, max extra readers). */
  cap: number;
  /** Capacity with no window: ECS min tasks (or desired count) as chronops last read it; Aurora 0 extra. */
  baseline: number | null;
  baselineText: string;
  /** The plan of windows that really change AWS. */
  steps: BoardStep[];
  /** The plan counting dry-run windows too, when some are in range (their effect is only recorded). */
  dryRunSteps: BoardStep[] | null;
  holds: Array<{
    windowId: string;
    windowName: string;
    amount: number;
    from: string;
    until: string;
    dryRun: boolean;
  }>;
  transitions: BoardTransition[];
}

export interface BoardExecution {
  id: string;
  resource: string;
  transition: BoardTransition | null;
  node: string;
  dryRun: boolean;
  status: Execution['status'];
  target: number | null;
  from: string | null;
  to: string | null;
  changed: boolean | null;
  error: string | null;
  startedAt: string;
  durationMs: number | null;
  calls: Array<{
    at: string;
    action: string;
    outcome: string;
    durationMs: number | null;
    error: string | null;
    attempt: number | null;
  }>;
  replicas: Array<{ instanceId: string; status: string; requestedAt: string; timeToReadyMs: number | null }>;
}

export interface Board {
  now: string;
  timezone: string;
  dryRun: boolean;
  range: { name: RangeName; from: string; to: string };
  resources: BoardResource[];
  /** Transitions still to run (pending) or running (fired), earliest first. */
  upcoming: BoardTransition[];
  /** Windows that are scheduled or active, newest first: the ones that can be cancelled. */
  windows: Array<{
    id: string;
    name: string;
    status: CapacityWindow['status'];
    dryRun: boolean;
    createdBy: string;
    source: string;
    createdAt: string;
    holds: Array<{ resource: string; amount: number; from: string; until: string }>;
  }>;
  executions: BoardExecution[];
}

export async function readBoard(
  deps: { store: Store; config: Config },
  range: RangeName,
  now = new Date(),
): Promise<Board> {
  const { store, config } = deps;
  const from = new Date(now.getTime() - RANGES[range].beforeMs);
  const to = new Date(now.getTime() + RANGES[range].afterMs);
  const resources = Object.values(config.resources);

  const [holds, inRange, upcoming, open, executions] = await Promise.all([
    store.plannedHolds({ from, to, includeDryRun: true }),
    store.listTransitions({
      from,
      to,
      statuses: ['pending', 'fired', 'done', 'failed', 'missed'],
      limit: 5000,
    }),
    store.listTransitions({ statuses: ['pending', 'fired'], limit: 100 }),
    store.listWindows({ statuses: ['scheduled', 'active'], limit: 200 }),
    store.listExecutions({ limit: 30 }),
  ]);
  const executionTransitions = await store.listTransitions({ ids: executions.map((e) => e.transitionId) });
  const [calls, readers, baselines] = await Promise.all([
    executions.length
      ? store.listAudit({ executionIds: executions.map((e) => e.id), limit: 1000 })
      : Promise.resolve([] as AuditRecord[]),
    store.listReaders(200),
    Promise.all(resources.map((r) => baselineOf(store, r))),
  ]);

  const names = new Map(open.map((w) => [w.id, w.name]));
  const unknown = new Set(
    [...holds, ...inRange, ...upcoming, ...executionTransitions]
      .map((x) => x.windowId)
      .filter((id) => !names.has(id)),
  );
  for (const w of await store.listWindows({ ids: [...unknown], limit: unknown.size }))
    names.set(w.id, w.name);
  const transition = (t: Transition): BoardTransition => ({
    id: t.id,
    windowId: t.windowId,
    windowName: names.get(t.windowId) ?? t.windowId,
    resource: t.resource,
    kind: t.kind,
    dueAt: t.dueAt.toISOString(),
    status: t.status,
    dryRun: t.dryRun || config.dryRun,
    finishedAt: t.finishedAt?.toISOString() ?? null,
    error: t.error ?? null,
  });

  return {
    now: now.toISOString(),
    timezone: config.timezone,
    dryRun: config.dryRun,
    range: { name: range, from: from.toISOString(), to: to.toISOString() },
    resources: resources.map((resource, i) => {
      const mine = holds.filter((h) => h.resource === resource.name);
      const baseline = baselines[i]!;
      // With the global dry-run every window is dry-run, and the plan of "real" windows would be empty.
      const real = config.dryRun ? mine : mine.filter((h) => !h.dryRun);
      const anyDryRun = !config.dryRun && mine.some((h) => h.dryRun);
      return {
        name: resource.name,
        kind: resource.kind,
        unit: resource.kind === 'ecs' ? 'tasks' : 'extra readers',
        cap: resource.kind === 'ecs' ? resource.maxTasks : resource.maxExtraReplicas,
        baseline: baseline.value,
        baselineText: baseline.text,
        steps: steps(real, resource, baseline.value, from, to),
        dryRunSteps: anyDryRun ? steps(mine, resource, baseline.value, from, to) : null,
        holds: mine
          .sort((a, b) => a.from.getTime() - b.from.getTime())
          .map((h) => ({
            windowId: h.windowId,
            windowName: names.get(h.windowId) ?? h.windowId,
            amount: h.amount,
            from: h.from.toISOString(),
            until: h.until.toISOString(),
            dryRun: h.dryRun || config.dryRun,
          })),
        transitions: inRange.filter((t) => t.resource === resource.name).map(transition),
      };
    }),
    upcoming: upcoming.map(transition),
    windows: open.map((w) => ({
      id: w.id,
      name: w.name,
      status: w.status,
      dryRun: w.dryRun || config.dryRun,
      createdBy: w.createdBy,
      source: typeof w.origin?.source === 'string' ? w.origin.source : '',
      createdAt: w.createdAt.toISOString(),
      holds: w.holds.map((h) => ({
        resource: h.resource,
        amount: h.amount,
        from: h.from.toISOString(),
        until: h.until.toISOString(),
      })),
    })),
    executions: executions.map((e) => execution(e, executionTransitions, calls, readers, transition)),
  };
}

function steps(
  holds: PlannedHold[],
  resource: Resource,
  baseline: number | null,
  from: Date,
  to: Date,
): BoardStep[] {
  return planSteps(holds, resource.name, from, to).map((s) => {
    const amount = s.target?.amount ?? null;
    let level: number | null;
    if (resource.kind === 'aurora') level = amount ?? 0;
    // The ECS action holds max(baseline, amount): the baseline stays a floor.
    else level = amount === null ? baseline : Math.max(amount, baseline ?? 0);
    return { at: s.at.toISOString(), amount, level, windowIds: s.target?.windowIds ?? [] };
  });
}

/**
 * The capacity a resource returns to when no window is active. For ECS chronops knows it once it has read the
 * service: the stored baseline while a window holds it, else what the last execution found.
 */
async function baselineOf(store: Store, resource: Resource): Promise<{ value: number | null; text: string }> {
  if (resource.kind === 'aurora')
    return { value: 0, text: 'no extra readers (the cluster’s own are untouched)' };
  let baseline = parseBaseline(await store.baselines.get(resource.name));
  if (!baseline) {
    const [last] = await store.listExecutions({ resource: resource.name, limit: 1 });
    baseline = parseBaseline((last?.details?.baseline as Record<string, unknown> | undefined) ?? null);
  }
  if (!baseline)
    return { value: null, text: 'not read yet (chronops reads it from AWS at the first change)' };
  return baseline.mode === 'aas'
    ? { value: baseline.min, text: `min ${baseline.min} max ${baseline.max} (Application Auto Scaling)` }
    : { value: baseline.desired, text: `desired count ${baseline.desired}` };
}

function execution(
  e: Execution,
  transitions: Transition[],
  calls: AuditRecord[],
  readers: ReaderRecord[],
  transition: (t: Transition) => BoardTransition,
): BoardExecution {
  const t = transitions.find((x) => x.id === e.transitionId);
  const num = (v: unknown) => (typeof v === 'number' ? v : null);
  return {
    id: e.id,
    resource: e.resource,
    transition: t ? transition(t) : null,
    node: e.node,
    dryRun: e.dryRun,
    status: e.status,
    target: e.target,
    from: e.fromState,
    to: e.toState,
    changed: e.changed,
    error: e.error,
    startedAt: e.startedAt.toISOString(),
    durationMs: e.finishedAt ? e.finishedAt.getTime() - e.startedAt.getTime() : null,
    calls: calls
      .filter((c) => c.executionId === e.id)
      .sort((a, b) => a.at.getTime() - b.at.getTime() || a.id - b.id)
      .map((c) => ({
        at: c.at.toISOString(),
        action: c.action.replace(/^aws:/, ''),
        outcome: c.outcome,
        durationMs: num(c.details?.durationMs),
        error: typeof c.details?.error === 'string' ? c.details.error : null,
        attempt: num(c.details?.attempt),
      })),
    replicas: readers
      .filter((r) => r.transitionId === e.transitionId)
      .map((r) => ({
        instanceId: r.instanceId,
        status: r.status,
        requestedAt: r.requestedAt.toISOString(),
        timeToReadyMs: r.availableAt ? r.availableAt.getTime() - r.requestedAt.getTime() : null,
      })),
  };
}
