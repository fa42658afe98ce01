// Converge an Aurora cluster's extra readers to the plan: the target is how many chronops-managed readers the
// cluster should have (null = none).
//
// Idempotent by construction, because every transition fires at least once and maybe twice:
// - readers are counted from AWS, not from memory, so a second firing with the same target creates nothing;
// - new readers get deterministic identifiers `hot-<window id>-<k>`, and DBInstanceAlreadyExistsFault from a
//   concurrent firing counts as success.
//
// Safety: only readers chronops created can be removed. A reader is chronops-managed when it carries the tag
// `chronops:managed=true`, its identifier starts with `hot-`, and it is not the cluster's writer. The writer check
// is repeated right before every delete, because a failover can promote one of chronops' readers to writer
// between the listing and the delete; and a tag can be put on any instance by hand. In either case chronops
// refuses (ForbiddenError) instead of deleting.

import {
  CreateDBInstanceCommand,
  type DBInstance,
  DeleteDBInstanceCommand,
  DescribeDBClustersCommand,
  DescribeDBInstancesCommand,
  RDSClient,
} from '@aws-sdk/client-rds';
import type { AwsGateway } from '../../../aws/gateway.ts';
import { ChronopsError, CloudError, ForbiddenError } from '../../../kernel/errors.ts';
import type { AuroraResource, ConvergeOutcome, Target } from '../model.ts';
import type { ActionContext, CapacityAction, ReaderState, ReaderWatcher } from './port.ts';

export const MANAGED_TAG = 'chronops:managed';
export const WINDOW_TAG = 'chronops:window';
export const READER_PREFIX = 'hot-';

export interface AuroraReplicaActionOptions {
  gateway: AwsGateway;
}

interface ClusterView {
  engine: string;
  writers: Set<string>;
  instances: DBInstance[];
}

const ALREADY_EXISTS = new Set(['DBInstanceAlreadyExistsFault', 'DBInstanceAlreadyExists']);
const NOT_FOUND = new Set(['DBInstanceNotFoundFault', 'DBInstanceNotFound']);
const GONE_STATUSES = new Set(['deleting', 'delete-precheck', 'deleted']);
const FAILED_STATUSES = new Set([
  'failed',
  'restore-error',
  'storage-full',
  'insufficient-capacity',
  'inaccessible-encryption-credentials',
  'inaccessible-encryption-credentials-recoverable',
  'stopped',
  'stopping',
]);

/**
 * Identifier of the k-th reader chronops adds for a window. RDS stores identifiers in lower case, allows only
 * letters, digits and single hyphens, and at most 63 characters, so the window id is folded to fit.
 */
export function readerIdentifier(windowId: string, k: number): string {
  const suffix = `-${k}`;
  const room = 63 - READER_PREFIX.length - suffix.length;
  const folded = windowId
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+/, '')
    .slice(0, room)
    .replace(/-+$/, '');
  return `${READER_PREFIX}${folded || 'window'}${suffix}`;
}

export class AuroraReplicaAction implements CapacityAction<AuroraResource>, ReaderWatcher {
  readonly kind = 'aurora' as const;
  readonly #gateway: AwsGateway;

  constructor(options: AuroraReplicaActionOptions) {
    this.#gateway = options.gateway;
  }

  async converge(
    resource: AuroraResource,
    target: Target | null,
    ctx: ActionContext,
  ): Promise<ConvergeOutcome> {
    const dryRun = ctx.dryRun || this.#gateway.dryRun;
    const requested = target?.amount ?? 0;
    const amount = Math.max(0, Math.min(requested, resource.maxExtraReplicas));
    const windowIds = target?.windowIds ?? [];
    const details: Record<string, unknown> = { dryRun, windowIds };
    if (amount !== requested) {
      details.clamped = { requested, applied: amount, maxExtraReplicas: resource.maxExtraReplicas };
    }
    try {
      const view = await this.#readCluster(resource, ctx);
      details.engine = view.engine;
      details.writer = [...view.writers];
      const readers = view.instances.filter(
        (i) => !view.writers.has(id(i)) && !GONE_STATUSES.has(i.DBInstanceStatus ?? ''),
      );
      const managed = readers.filter((i) => isManaged(i, view.writers));
      const now = describeReaders(readers.length, managed.length);
      const from = (await ctx.seen?.(now)) ?? now;
      const pending = dryRun
        ? []
        : managed.filter((i) => stateOf(i.DBInstanceStatus ?? '') === 'creating').map(id);
      if (pending.length > 0) details.pending = pending;

      if (managed.length < amount) {
        const created = await this.#create(resource, view, windowIds, amount - managed.length, dryRun, ctx);
        details[dryRun ? 'wouldCreate' : 'created'] = created;
        const to = describeReaders(readers.length + created.length, managed.length + created.length);
        return {
          from,
          to,
          changed: to !== from,
          createdReaders: dryRun ? [] : created,
          pendingReaders: pending,
          details,
        };
      }
      if (managed.length > amount) {
        const deleted = await this.#delete(resource, managed, windowIds, managed.length - amount, ctx);
        details[dryRun ? 'wouldDelete' : 'deleted'] = deleted;
        const to = describeReaders(readers.length - deleted.length, managed.length - deleted.length);
        return { from, to, changed: to !== from, details };
      }
      return { from, to: now, changed: now !== from, pendingReaders: pending, details };
    } catch (error) {
      if (error instanceof ChronopsError) throw error;
      throw new CloudError(`Aurora ${resource.clusterId}: ${describeError(error)}`, { cause: error });
    }
  }

  async readerState(resource: AuroraResource, instanceId: string, ctx: ActionContext): Promise<ReaderState> {
    let instance: DBInstance | undefined;
    try {
      instance = await this.#describeInstance(resource, instanceId, ctx);
    } catch (error) {
      throw new CloudError(`Aurora ${resource.clusterId}: reader ${instanceId}: ${describeError(error)}`, {
        cause: error,
      });
    }
    if (!instance) return 'gone';
    return stateOf(instance.DBInstanceStatus ?? '');
  }

  /** Create `count` readers; returns their identifiers (also those a concurrent firing created first). */
  async #create(
    resource: AuroraResource,
    view: ClusterView,
    windowIds: string[],
    count: number,
    dryRun: boolean,
    ctx: ActionContext,
  ): Promise<string[]> {
    const windowId = windowIds[0] ?? 'now';
    const taken = new Set(view.instances.map(id));
    const created: string[] = [];
    const failures: unknown[] = [];
    // Bounded: each identifier is tried once; a few spare ones cover names taken in other clusters.
    const lastK = taken.size + count + 16;
    for (let k = 1; created.length + failures.length < count && k <= lastK; k++) {
      const identifier = readerIdentifier(windowId, k);
      if (taken.has(identifier)) continue;
      taken.add(identifier);
      try {
        await this.#gateway.send(
          this.#rds(resource),
          new CreateDBInstanceCommand({
            DBInstanceIdentifier: identifier,
            DBInstanceClass: resource.instanceClass,
            Engine: view.engine,
            DBClusterIdentifier: resource.clusterId,
            PubliclyAccessible: false,
            // Last in line for failover: a temporary reader should not become the writer (it could then never
            // be removed by chronops, see the writer check before deletes).
            PromotionTier: 15,
            Tags: [
              { Key: MANAGED_TAG, Value: 'true' },
              { Key: WINDOW_TAG, Value: windowId },
            ],
          }),
          { mutating: true, dryRun: ctx.dryRun, executionId: ctx.executionId },
        );
        created.push(identifier);
      } catch (error) {
        if (!ALREADY_EXISTS.has(errorName(error))) {
          failures.push(error);
          continue;
        }
        // Another firing created it a moment ago: success, if it really is our reader in this cluster.
        // Identifiers are unique per account and region, so it may also belong to another cluster: try the next.
        const existing = await this.#describeInstance(resource, identifier, ctx);
        if (
          existing &&
          existing.DBClusterIdentifier === resource.clusterId &&
          isManaged(existing, view.writers) &&
          !GONE_STATUSES.has(existing.DBInstanceStatus ?? '')
        ) {
          created.push(identifier);
        }
      }
    }
    if (failures.length > 0) {
      throw new CloudError(
        `Aurora ${resource.clusterId}: could not create ${failures.length} reader(s)` +
          (created.length > 0 ? ` (created ${created.join(', ')})` : '') +
          `: ${failures.map(describeError).join('; ')}`,
        { cause: failures[0] },
      );
    }
    if (created.length < count && !dryRun) {
      throw new CloudError(`Aurora ${resource.clusterId}: no free reader identifier for window ${windowId}`);
    }
    return created;
  }

  /** Delete `count` of the managed readers, those of windows no longer planned first, then the newest. */
  async #delete(
    resource: AuroraResource,
    managed: DBInstance[],
    windowIds: string[],
    count: number,
    ctx: ActionContext,
  ): Promise<string[]> {
    const stillPlanned = (i: DBInstance) => (windowIds.includes(tag(i, WINDOW_TAG) ?? '') ? 1 : 0);
    const createdAt = (i: DBInstance) => i.InstanceCreateTime?.getTime() ?? Number.POSITIVE_INFINITY;
    const victims = [...managed]
      .sort(
        (a, b) =>
          stillPlanned(a) - stillPlanned(b) || createdAt(b) - createdAt(a) || id(b).localeCompare(id(a)),
      )
      .slice(0, count);

    const deleted: string[] = [];
    const failures: unknown[] = [];
    for (const victim of victims) {
      const identifier = id(victim);
      // Throws ForbiddenError, and stops everything, if the instance is (now) the writer or not chronops'.
      const stillThere = await this.#confirmDeletable(resource, identifier, ctx);
      if (!stillThere) {
        deleted.push(identifier);
        continue;
      }
      try {
        await this.#gateway.send(
          this.#rds(resource),
          new DeleteDBInstanceCommand({ DBInstanceIdentifier: identifier, SkipFinalSnapshot: true }),
          { mutating: true, dryRun: ctx.dryRun, executionId: ctx.executionId },
        );
        deleted.push(identifier);
      } catch (error) {
        if (NOT_FOUND.has(errorName(error))) deleted.push(identifier);
        else failures.push(error);
      }
    }
    if (failures.length > 0) {
      throw new CloudError(
        `Aurora ${resource.clusterId}: could not delete ${failures.length} reader(s)` +
          (deleted.length > 0 ? ` (deleted ${deleted.join(', ')})` : '') +
          `: ${failures.map(describeError).join('; ')}`,
        { cause: failures[0] },
      );
    }
    return deleted;
  }

  /**
   * Look again, right before a delete, at who the writer is and at the instance's tags. Returns false when the
   * instance is already gone; throws ForbiddenError when deleting it would touch the writer or an instance
   * chronops did not create.
   */
  async #confirmDeletable(
    resource: AuroraResource,
    identifier: string,
    ctx: ActionContext,
  ): Promise<boolean> {
    const cluster = await this.#describeCluster(resource, ctx);
    const member = cluster.DBClusterMembers?.find((m) => m.DBInstanceIdentifier === identifier);
    if (member?.IsClusterWriter === true) {
      throw new ForbiddenError(
        `refusing to delete ${identifier}: it is the writer of Aurora cluster ${resource.clusterId}`,
      );
    }
    const instance = await this.#describeInstance(resource, identifier, ctx);
    if (!instance) return false;
    if (instance.DBClusterIdentifier !== resource.clusterId) {
      throw new ForbiddenError(
        `refusing to delete ${identifier}: it belongs to ${String(instance.DBClusterIdentifier)}, not ${resource.clusterId}`,
      );
    }
    if (!identifier.startsWith(READER_PREFIX) || tag(instance, MANAGED_TAG) !== 'true') {
      throw new ForbiddenError(
        `refusing to delete ${identifier} in Aurora cluster ${resource.clusterId}: chronops did not create it`,
      );
    }
    return true;
  }

  async #readCluster(resource: AuroraResource, ctx: ActionContext): Promise<ClusterView> {
    const cluster = await this.#describeCluster(resource, ctx);
    if (!cluster.Engine)
      throw new CloudError(`Aurora cluster ${resource.clusterId} has no engine in its description`);
    const writers = new Set(
      (cluster.DBClusterMembers ?? [])
        .filter((m) => m.IsClusterWriter === true && m.DBInstanceIdentifier)
        .map((m) => m.DBInstanceIdentifier!),
    );
    const instances: DBInstance[] = [];
    let marker: string | undefined;
    do {
      const page = await this.#gateway.send(
        this.#rds(resource),
        new DescribeDBInstancesCommand({
          Filters: [{ Name: 'db-cluster-id', Values: [resource.clusterId] }],
          ...(marker ? { Marker: marker } : {}),
        }),
        { mutating: false, dryRun: ctx.dryRun, executionId: ctx.executionId },
      );
      instances.push(...(page.DBInstances ?? []));
      marker = page.Marker;
    } while (marker);
    return { engine: cluster.Engine, writers, instances };
  }

  async #describeCluster(resource: AuroraResource, ctx: ActionContext) {
    const answer = await this.#gateway
      .send(this.#rds(resource), new DescribeDBClustersCommand({ DBClusterIdentifier: resource.clusterId }), {
        mutating: false,
        dryRun: ctx.dryRun,
        executionId: ctx.executionId,
      })
      .catch((error: unknown) => {
        if (errorName(error) === 'DBClusterNotFoundFault') {
          throw new CloudError(`Aurora cluster ${resource.clusterId} not found in ${resource.region}`, {
            cause: error,
          });
        }
        throw error;
      });
    const cluster = answer.DBClusters?.find((c) => c.DBClusterIdentifier === resource.clusterId);
    if (!cluster)
      throw new CloudError(`Aurora cluster ${resource.clusterId} not found in ${resource.region}`);
    return cluster;
  }

  /** The instance, or undefined when RDS says it does not exist. */
  async #describeInstance(
    resource: AuroraResource,
    identifier: string,
    ctx: ActionContext,
  ): Promise<DBInstance | undefined> {
    try {
      const answer = await this.#gateway.send(
        this.#rds(resource),
        new DescribeDBInstancesCommand({ DBInstanceIdentifier: identifier }),
        { mutating: false, dryRun: ctx.dryRun, executionId: ctx.executionId },
      );
      return answer.DBInstances?.find((i) => id(i) === identifier.toLowerCase());
    } catch (error) {
      if (NOT_FOUND.has(errorName(error))) return undefined;
      throw error;
    }
  }

  #rds(resource: AuroraResource): RDSClient {
    return this.#gateway.client(RDSClient, resource.region);
  }
}

function isManaged(instance: DBInstance, writers: Set<string>): boolean {
  const identifier = id(instance);
  return (
    identifier.startsWith(READER_PREFIX) && tag(instance, MANAGED_TAG) === 'true' && !writers.has(identifier)
  );
}

function stateOf(status: string): ReaderState {
  if (status === 'available') return 'available';
  if (GONE_STATUSES.has(status)) return 'gone';
  if (FAILED_STATUSES.has(status) || status.startsWith('incompatible-')) return 'failed';
  // creating, backing-up, configuring-*, modifying, rebooting, upgrading, …: on its way, look again later.
  return 'creating';
}

function id(instance: DBInstance): string {
  return (instance.DBInstanceIdentifier ?? '').toLowerCase();
}

function tag(instance: DBInstance, key: string): string | undefined {
  return instance.TagList?.find((t) => t.Key === key)?.Value;
}

function describeReaders(readers: number, managed: number): string {
  return `${readers} reader${readers === 1 ? '' : 's'} (${managed} chronops)`;
}

function errorName(error: unknown): string {
  const name = (error as { name?: unknown } | null)?.name;
  return typeof name === 'string' ? name : '';
}

function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
