import type { ObservedPower, PowerOutcome, PowerResource, PowerState } from '../model.ts';

/** What a power action runs under: the execution its calls are audited with, and dry-run. */
export interface PowerContext {
  executionId: string;
  dryRun: boolean;
}

/** One resource to bring to a state. `hibernate` applies to EC2 stops. */
export interface PowerItem<R extends PowerResource = PowerResource> {
  resource: R;
  want: PowerState;
  hibernate?: boolean;
}

/** What AWS says about a resource, reduced to what decisions need; `status` is AWS's own word for it. */
export interface Observation {
  state: ObservedPower;
  status: string;
  /** An RDS instance that belongs to an Aurora cluster: it can only start and stop with its cluster. */
  clusterMember?: string;
  /** ECS: the desired count and the scalable target's bounds, when there is one. */
  desired?: number;
  target?: { min: number; max: number };
}

/**
 * Port: start and stop resources of one kind, many at a time, batching what the API allows. Idempotent: a resource
 * already in the wanted state (or on its way there) is left alone, and "already stopped" is success. A resource
 * that cannot be moved yet (a start asked while it is `stopping`) gets `retryAfterMs` in its outcome.
 */
export interface PowerAction<R extends PowerResource = PowerResource> {
  readonly kind: R['kind'];
  observe(resources: readonly R[], ctx: PowerContext): Promise<Map<string, Observation>>;
  /** `seen`: what `observe` just said of these resources (not described again); otherwise described first. */
  converge(
    items: readonly PowerItem<R>[],
    ctx: PowerContext,
    seen?: ReadonlyMap<string, Observation>,
  ): Promise<PowerOutcome[]>;
}

/**
 * Where the ECS action keeps a stopped service's values (desired count, scalable target min/max) until it starts
 * it again. Written before the service is scaled to zero, cleared once it is started.
 */
export interface PowerValueStore {
  get(resource: string): Promise<Record<string, unknown> | null>;
  put(resource: string, value: Record<string, unknown>): Promise<void>;
  clear(resource: string): Promise<void>;
}

/** How long to wait before looking again at a resource that is still changing state. */
/**
 * What an apply starts from: the observations the caller already has, and a fresh `observe` of the items it has
 * none for (one batched describe), keyed by resource name.
 */
export async function observedFor<R extends PowerResource>(
  items: readonly PowerItem<R>[],
  observed: ReadonlyMap<string, Observation> | undefined,
  observe: (resources: readonly R[]) => Promise<Map<string, Observation>>,
): Promise<Map<string, Observation>> {
  const missing = items.filter((i) => !observed?.has(i.resource.name)).map((i) => i.resource);
  const seen = missing.length > 0 ? await observe(missing) : new Map<string, Observation>();
  for (const [name, o] of observed ?? []) seen.set(name, o);
  return seen;
}

export const DEFAULT_RETRY_AFTER_MS = 20_000;

export function errorName(error: unknown): string {
  const name = (error as { name?: unknown; Code?: unknown } | null)?.name;
  return typeof name === 'string' ? name : '';
}

export function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** Slices of at most `size`. */
export function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Groups by a key, keeping order. */
export function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = out.get(k);
    if (list) list.push(item);
    else out.set(k, [item]);
  }
  return out;
}

/** Runs `fn` over `items` with at most `limit` in flight; results in input order. */
export async function mapLimit<T, U>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<U>,
): Promise<U[]> {
  const out = new Array<U>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export type Step =
  | { do: 'none'; pending: boolean }
  | { do: 'start' }
  | { do: 'stop' }
  | { do: 'wait'; reason: string }
  | { do: 'fail'; reason: string };

/**
 * What to do to bring a resource from what AWS says to `want`. A resource on its way to the wanted state is left
 * alone (pending); one on its way to the other state, or busy with a change of its own, is waited for: AWS
 * refuses a start while an instance is `stopping` (IncorrectInstanceState, InvalidDBInstanceState).
 */
export function stepFor(want: PowerState, seen: Observation): Step {
  if (seen.state === 'missing') return { do: 'fail', reason: seen.status };
  if (want === 'running') {
    if (seen.state === 'running' || seen.state === 'busy') return { do: 'none', pending: false };
    if (seen.state === 'starting') return { do: 'none', pending: true };
    if (seen.state === 'stopped') return { do: 'start' };
    return { do: 'wait', reason: `${seen.status}: it can be started once it is stopped` };
  }
  if (seen.state === 'stopped') return { do: 'none', pending: false };
  if (seen.state === 'stopping') return { do: 'none', pending: true };
  if (seen.state === 'running') return { do: 'stop' };
  return { do: 'wait', reason: `${seen.status}: it can be stopped once the change under way is over` };
}
