// Start and stop RDS DB instances and Aurora clusters. Describes are batched (a filter of up to 100 identifiers,
// 100 records a page); StartDBInstance/StopDBInstance and StartDBCluster/StopDBCluster take one identifier each, so
// they run a few at a time.
//
// What RDS does that these actions must live with:
// - an instance or cluster in the middle of a change refuses another (InvalidDBInstanceState /
//   InvalidDBClusterStateFault): it is waited for and tried again;
// - a member of an Aurora cluster cannot be started or stopped alone (InvalidParameterCombination): chronops
//   refuses before calling, and says to schedule the cluster instead;
// - AWS starts a stopped instance or cluster again after 7 days; a schedule with `enforced` stops it again at the
//   next check.

import {
  type DBCluster,
  type DBInstance,
  DescribeDBClustersCommand,
  DescribeDBInstancesCommand,
  RDSClient,
  StartDBClusterCommand,
  StartDBInstanceCommand,
  StopDBClusterCommand,
  StopDBInstanceCommand,
} from '@aws-sdk/client-rds';
import type { AwsGateway } from '../../../aws/gateway.ts';
import type { AuroraPowerResource, ObservedPower, PowerOutcome, RdsPowerResource } from '../model.ts';
import {
  chunks,
  DEFAULT_RETRY_AFTER_MS,
  describeError,
  errorName,
  groupBy,
  mapLimit,
  type Observation,
  type PowerAction,
  type PowerContext,
  type PowerItem,
  stepFor,
} from './port.ts';

export interface RdsPowerActionOptions {
  gateway: AwsGateway;
  /** Start/stop calls in flight at once. Default 8. */
  concurrency?: number;
  retryAfterMs?: number;
}

/** Identifiers per describe: RDS filters take at most 100 values, and pages hold at most 100 records. */
const PAGE = 100;

const BUSY_ERRORS = new Set([
  'InvalidDBInstanceStateFault',
  'InvalidDBInstanceState',
  'InvalidDBClusterStateFault',
]);
const PAST = { start: 'started', stop: 'stopped' } as const;
const COMBINATION_ERRORS = new Set(['InvalidParameterCombination', 'InvalidParameterCombinationException']);

function stateOf(status: string): ObservedPower {
  switch (status) {
    case 'available':
      return 'running';
    case 'stopped':
      return 'stopped';
    case 'starting':
      return 'starting';
    case 'stopping':
      return 'stopping';
    case 'deleting':
    case 'deleted':
    case 'failed':
    case 'restore-error':
      return 'missing';
    default:
      // backing-up, modifying, configuring-*, rebooting, upgrading, maintenance, storage-optimization…
      return 'busy';
  }
}

abstract class RdsPowerBase<R extends RdsPowerResource | AuroraPowerResource> implements PowerAction<R> {
  abstract readonly kind: R['kind'];
  protected readonly gateway: AwsGateway;
  readonly #concurrency: number;
  readonly #retryAfterMs: number;

  constructor(options: RdsPowerActionOptions) {
    this.gateway = options.gateway;
    this.#concurrency = options.concurrency ?? 8;
    this.#retryAfterMs = options.retryAfterMs ?? DEFAULT_RETRY_AFTER_MS;
  }

  /** The AWS identifier of a resource (lower case: RDS stores identifiers that way). */
  protected abstract idOf(resource: R): string;
  protected abstract label(resource: R): string;
  protected abstract describeRegion(
    region: string,
    ids: string[],
    ctx: PowerContext,
  ): Promise<Map<string, Observation>>;
  protected abstract call(
    what: 'start' | 'stop',
    resource: R,
    ctx: PowerContext,
  ): Promise<string | undefined>;

  async observe(resources: readonly R[], ctx: PowerContext): Promise<Map<string, Observation>> {
    const byId = new Map<string, Observation>();
    for (const [region, list] of groupBy(resources, (r) => r.region)) {
      for (const ids of chunks([...new Set(list.map((r) => this.idOf(r)))], PAGE)) {
        for (const [id, seen] of await this.describeRegion(region, ids, ctx))
          byId.set(`${region} ${id}`, seen);
      }
    }
    const out = new Map<string, Observation>();
    for (const r of resources) {
      out.set(
        r.name,
        byId.get(`${r.region} ${this.idOf(r)}`) ?? { state: 'missing', status: 'does not exist' },
      );
    }
    return out;
  }

  async converge(
    items: readonly PowerItem<R>[],
    ctx: PowerContext,
    observed?: ReadonlyMap<string, Observation>,
  ): Promise<PowerOutcome[]> {
    const dryRun = ctx.dryRun || this.gateway.dryRun;
    const missing = items.filter((i) => !observed?.has(i.resource.name)).map((i) => i.resource);
    const seen = missing.length > 0 ? await this.observe(missing, ctx) : new Map<string, Observation>();
    for (const [name, o] of observed ?? []) seen.set(name, o);
    return mapLimit(items, this.#concurrency, async (item): Promise<PowerOutcome> => {
      const observation = seen.get(item.resource.name)!;
      const base = {
        resource: item.resource.name,
        from: observation.status,
        to: observation.status,
        changed: false,
      };
      if (observation.clusterMember) {
        return {
          ...base,
          error:
            `${this.label(item.resource)} is a member of Aurora cluster ${observation.clusterMember}: Aurora ` +
            `instances start and stop with their cluster; schedule the cluster (resources.aurora) instead`,
        };
      }
      const step = stepFor(item.want, observation);
      if (step.do === 'none') return { ...base, pending: step.pending };
      if (step.do === 'wait')
        return { ...base, retryAfterMs: this.#retryAfterMs, details: { waiting: step.reason } };
      if (step.do === 'fail') return { ...base, error: `${this.label(item.resource)}: ${step.reason}` };
      try {
        const status = await this.call(step.do, item.resource, ctx);
        const to = dryRun
          ? `${step.do === 'start' ? 'available' : 'stopped'} (dry-run)`
          : (status ?? (step.do === 'start' ? 'starting' : 'stopping'));
        return { ...base, to, changed: true, pending: !dryRun, details: { dryRun } };
      } catch (error) {
        const name = errorName(error);
        if (BUSY_ERRORS.has(name)) {
          return { ...base, retryAfterMs: this.#retryAfterMs, details: { waiting: describeError(error) } };
        }
        if (COMBINATION_ERRORS.has(name)) {
          return {
            ...base,
            error: `${this.label(item.resource)} cannot be ${PAST[step.do]}: ${describeError(error)}`,
          };
        }
        return { ...base, error: `${this.label(item.resource)}: ${step.do} failed: ${describeError(error)}` };
      }
    });
  }

  protected rds(region: string): RDSClient {
    return this.gateway.client(RDSClient, region);
  }
}

/** RDS DB instances (not Aurora members). */
export class RdsInstancePowerAction extends RdsPowerBase<RdsPowerResource> {
  readonly kind = 'rds' as const;

  protected idOf(r: RdsPowerResource): string {
    return r.instanceId.toLowerCase();
  }

  protected label(r: RdsPowerResource): string {
    return `RDS instance ${r.instanceId}`;
  }

  protected async describeRegion(region: string, ids: string[], ctx: PowerContext) {
    const out = new Map<string, Observation>();
    let marker: string | undefined;
    do {
      const page = await this.gateway.send(
        this.rds(region),
        new DescribeDBInstancesCommand({
          Filters: [{ Name: 'db-instance-id', Values: ids }],
          MaxRecords: PAGE,
          ...(marker ? { Marker: marker } : {}),
        }),
        { mutating: false, dryRun: ctx.dryRun, executionId: ctx.executionId },
      );
      for (const db of page.DBInstances ?? []) {
        const id = db.DBInstanceIdentifier?.toLowerCase();
        if (id) out.set(id, instanceObservation(db));
      }
      marker = page.Marker;
    } while (marker);
    return out;
  }

  protected async call(what: 'start' | 'stop', r: RdsPowerResource, ctx: PowerContext) {
    const opts = { mutating: true, dryRun: ctx.dryRun, executionId: ctx.executionId };
    const answer =
      what === 'start'
        ? await this.gateway.send(
            this.rds(r.region),
            new StartDBInstanceCommand({ DBInstanceIdentifier: r.instanceId }),
            opts,
          )
        : await this.gateway.send(
            this.rds(r.region),
            new StopDBInstanceCommand({ DBInstanceIdentifier: r.instanceId }),
            opts,
          );
    return answer.DBInstance?.DBInstanceStatus;
  }
}

function instanceObservation(db: DBInstance): Observation {
  const status = db.DBInstanceStatus ?? 'unknown';
  return {
    state: stateOf(status),
    status,
    ...(db.DBClusterIdentifier ? { clusterMember: db.DBClusterIdentifier } : {}),
  };
}

/** Aurora clusters, started and stopped as a whole. */
export class AuroraClusterPowerAction extends RdsPowerBase<AuroraPowerResource> {
  readonly kind = 'aurora' as const;

  protected idOf(r: AuroraPowerResource): string {
    return r.clusterId.toLowerCase();
  }

  protected label(r: AuroraPowerResource): string {
    return `Aurora cluster ${r.clusterId}`;
  }

  protected async describeRegion(region: string, ids: string[], ctx: PowerContext) {
    const out = new Map<string, Observation>();
    let marker: string | undefined;
    do {
      const page = await this.gateway.send(
        this.rds(region),
        new DescribeDBClustersCommand({
          Filters: [{ Name: 'db-cluster-id', Values: ids }],
          MaxRecords: PAGE,
          ...(marker ? { Marker: marker } : {}),
        }),
        { mutating: false, dryRun: ctx.dryRun, executionId: ctx.executionId },
      );
      for (const c of page.DBClusters ?? []) {
        const id = c.DBClusterIdentifier?.toLowerCase();
        if (id) out.set(id, clusterObservation(c));
      }
      marker = page.Marker;
    } while (marker);
    return out;
  }

  protected async call(what: 'start' | 'stop', r: AuroraPowerResource, ctx: PowerContext) {
    const opts = { mutating: true, dryRun: ctx.dryRun, executionId: ctx.executionId };
    const answer =
      what === 'start'
        ? await this.gateway.send(
            this.rds(r.region),
            new StartDBClusterCommand({ DBClusterIdentifier: r.clusterId }),
            opts,
          )
        : await this.gateway.send(
            this.rds(r.region),
            new StopDBClusterCommand({ DBClusterIdentifier: r.clusterId }),
            opts,
          );
    return answer.DBCluster?.Status;
  }
}

function clusterObservation(c: DBCluster): Observation {
  const status = c.Status ?? 'unknown';
  return { state: stateOf(status), status };
}
