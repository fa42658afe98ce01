// Stop and start ECS services. An ECS service has no "stopped" state of its own, so:
//
//   stopped = desired count 0, and MinCapacity 0 on its Application Auto Scaling scalable target when it has one
//             (otherwise autoscaling would raise the desired count straight back to its minimum);
//   started = the desired count and min/max it had when chronops stopped it, kept in the power store.
//
// The values are stored BEFORE the service is scaled to zero (a crash in between leaves them known) and cleared
// once it has been started with them. Describes are batched: 10 services per DescribeServices (per cluster), 50
// resource ids per DescribeScalableTargets.

import {
  ApplicationAutoScalingClient,
  DescribeScalableTargetsCommand,
  RegisterScalableTargetCommand,
} from '@aws-sdk/client-application-auto-scaling';
import { DescribeServicesCommand, ECSClient, UpdateServiceCommand } from '@aws-sdk/client-ecs';
import type { AwsGateway } from '../../../aws/gateway.ts';
import type { EcsPowerResource, PowerOutcome } from '../model.ts';
import {
  chunks,
  describeError,
  groupBy,
  mapLimit,
  type Observation,
  observedFor,
  type PowerAction,
  type PowerContext,
  type PowerItem,
  type PowerValueStore,
} from './port.ts';

export interface EcsPowerActionOptions {
  gateway: AwsGateway;
  values: PowerValueStore;
  concurrency?: number;
}

/** What a stopped service is started with. */
export interface EcsRunningValues {
  desired: number;
  min?: number;
  max?: number;
}

const DIMENSION = 'ecs:service:DesiredCount' as const;

export function parseEcsValues(value: Record<string, unknown> | null): EcsRunningValues | null {
  if (!value) return null;
  const isCount = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 0;
  if (!isCount(value.desired)) return null;
  return {
    desired: value.desired,
    ...(isCount(value.min) ? { min: value.min } : {}),
    ...(isCount(value.max) ? { max: value.max } : {}),
  };
}

function describeValues(o: { desired?: number; target?: { min: number; max: number } }): string {
  return `desired ${o.desired ?? '?'}${o.target ? ` (min ${o.target.min} max ${o.target.max})` : ''}`;
}

export class EcsPowerAction implements PowerAction<EcsPowerResource> {
  readonly kind = 'ecs' as const;
  readonly #gateway: AwsGateway;
  readonly #values: PowerValueStore;
  readonly #concurrency: number;

  constructor(options: EcsPowerActionOptions) {
    this.#gateway = options.gateway;
    this.#values = options.values;
    this.#concurrency = options.concurrency ?? 8;
  }

  async observe(
    resources: readonly EcsPowerResource[],
    ctx: PowerContext,
  ): Promise<Map<string, Observation>> {
    const read = { mutating: false, dryRun: ctx.dryRun, executionId: ctx.executionId };
    const services = new Map<string, { desired: number; running: number; status: string }>();
    const targets = new Map<string, { min: number; max: number }>();
    for (const [key, list] of groupBy(resources, (r) => `${r.region} ${r.cluster}`)) {
      const region = key.slice(0, key.indexOf(' '));
      const cluster = list[0]!.cluster;
      for (const names of chunks([...new Set(list.map((r) => r.service))], 10)) {
        const answer = await this.#gateway
          .send(
            this.#gateway.client(ECSClient, region),
            new DescribeServicesCommand({ cluster, services: names }),
            read,
          )
          .catch((error: unknown) => {
            if ((error as { name?: string }).name === 'ClusterNotFoundException') return { services: [] };
            throw error;
          });
        for (const s of answer.services ?? []) {
          if (!s.serviceName) continue;
          services.set(`${region} ${cluster}/${s.serviceName}`, {
            desired: s.desiredCount ?? 0,
            running: s.runningCount ?? 0,
            status: s.status ?? 'UNKNOWN',
          });
        }
      }
    }
    for (const [region, list] of groupBy(resources, (r) => r.region)) {
      const ids = [...new Set(list.map((r) => `service/${r.cluster}/${r.service}`))];
      for (const batch of chunks(ids, 50)) {
        const answer = await this.#gateway.send(
          this.#gateway.client(ApplicationAutoScalingClient, region),
          new DescribeScalableTargetsCommand({
            ServiceNamespace: 'ecs',
            ResourceIds: batch,
            ScalableDimension: DIMENSION,
          }),
          read,
        );
        for (const t of answer.ScalableTargets ?? []) {
          if (t.ResourceId && typeof t.MinCapacity === 'number' && typeof t.MaxCapacity === 'number') {
            targets.set(`${region} ${t.ResourceId}`, { min: t.MinCapacity, max: t.MaxCapacity });
          }
        }
      }
    }
    const out = new Map<string, Observation>();
    for (const r of resources) {
      const s = services.get(`${r.region} ${r.cluster}/${r.service}`);
      if (!s || s.status === 'INACTIVE') {
        out.set(r.name, { state: 'missing', status: s ? 'INACTIVE' : 'does not exist' });
        continue;
      }
      const target = targets.get(`${r.region} service/${r.cluster}/${r.service}`);
      const off = s.desired === 0 && (!target || target.min === 0);
      const state = off
        ? s.running > 0
          ? 'stopping'
          : 'stopped'
        : s.running < s.desired
          ? 'starting'
          : 'running';
      out.set(r.name, {
        state,
        status: describeValues({ desired: s.desired, ...(target ? { target } : {}) }),
        desired: s.desired,
        ...(target ? { target } : {}),
      });
    }
    return out;
  }

  async converge(
    items: readonly PowerItem<EcsPowerResource>[],
    ctx: PowerContext,
    observed?: ReadonlyMap<string, Observation>,
  ): Promise<PowerOutcome[]> {
    const dryRun = ctx.dryRun || this.#gateway.dryRun;
    const seen = await observedFor(items, observed, (missing) => this.observe(missing, ctx));
    return mapLimit(items, this.#concurrency, async (item) => {
      const o = seen.get(item.resource.name)!;
      const base = { resource: item.resource.name, from: o.status, to: o.status, changed: false };
      const label = `ECS ${item.resource.cluster}/${item.resource.service}`;
      if (o.state === 'missing') return { ...base, error: `${label}: ${o.status}` };
      const off = o.state === 'stopped' || o.state === 'stopping';
      try {
        if (item.want === 'stopped') {
          if (off) return { ...base, pending: o.state === 'stopping' };
          return await this.#stop(item.resource, o, ctx, dryRun);
        }
        if (!off) return { ...base, pending: o.state === 'starting' };
        return await this.#start(item.resource, o, ctx, dryRun);
      } catch (error) {
        return {
          ...base,
          error: `${label}: ${item.want === 'running' ? 'start' : 'stop'} failed: ${describeError(error)}`,
        };
      }
    });
  }

  async #stop(
    r: EcsPowerResource,
    o: Observation,
    ctx: PowerContext,
    dryRun: boolean,
  ): Promise<PowerOutcome> {
    const values: EcsRunningValues = {
      desired: o.desired ?? 0,
      ...(o.target ? { min: o.target.min, max: o.target.max } : {}),
    };
    // Kept before anything changes; in dry-run nothing changes, so nothing is kept.
    if (!dryRun) await this.#values.put(r.name, { ...values });
    const write = { mutating: true, dryRun: ctx.dryRun, executionId: ctx.executionId };
    if (o.target && o.target.min > 0) {
      await this.#gateway.send(
        this.#gateway.client(ApplicationAutoScalingClient, r.region),
        new RegisterScalableTargetCommand({
          ServiceNamespace: 'ecs',
          ResourceId: `service/${r.cluster}/${r.service}`,
          ScalableDimension: DIMENSION,
          MinCapacity: 0,
          MaxCapacity: o.target.max,
        }),
        write,
      );
    }
    if ((o.desired ?? 0) > 0) {
      await this.#gateway.send(
        this.#gateway.client(ECSClient, r.region),
        new UpdateServiceCommand({ cluster: r.cluster, service: r.service, desiredCount: 0 }),
        write,
      );
    }
    const target = o.target ? { min: 0, max: o.target.max } : undefined;
    return {
      resource: r.name,
      from: o.status,
      to: `${describeValues({ desired: 0, ...(target ? { target } : {}) })}${dryRun ? ' (dry-run)' : ''}`,
      changed: true,
      pending: !dryRun,
      details: { dryRun, kept: values },
    };
  }

  async #start(
    r: EcsPowerResource,
    o: Observation,
    ctx: PowerContext,
    dryRun: boolean,
  ): Promise<PowerOutcome> {
    const kept = parseEcsValues(await this.#values.get(r.name));
    if (!kept || kept.desired === 0) {
      return {
        resource: r.name,
        from: o.status,
        to: o.status,
        changed: false,
        error:
          `ECS ${r.cluster}/${r.service} has no running values kept by chronops (it was not stopped by chronops); ` +
          'set its desired count once by hand, and chronops keeps it from the next stop on',
      };
    }
    const write = { mutating: true, dryRun: ctx.dryRun, executionId: ctx.executionId };
    let target = o.target;
    if (o.target && kept.min !== undefined && kept.max !== undefined) {
      // Raise the floor first: autoscaling then brings the desired count up itself.
      await this.#gateway.send(
        this.#gateway.client(ApplicationAutoScalingClient, r.region),
        new RegisterScalableTargetCommand({
          ServiceNamespace: 'ecs',
          ResourceId: `service/${r.cluster}/${r.service}`,
          ScalableDimension: DIMENSION,
          MinCapacity: kept.min,
          MaxCapacity: kept.max,
        }),
        write,
      );
      target = { min: kept.min, max: kept.max };
    }
    await this.#gateway.send(
      this.#gateway.client(ECSClient, r.region),
      new UpdateServiceCommand({ cluster: r.cluster, service: r.service, desiredCount: kept.desired }),
      write,
    );
    if (!dryRun) await this.#values.clear(r.name);
    return {
      resource: r.name,
      from: o.status,
      to: `${describeValues({ desired: kept.desired, ...(target ? { target } : {}) })}${dryRun ? ' (dry-run)' : ''}`,
      changed: true,
      pending: !dryRun,
      details: { dryRun, restored: kept },
    };
  }
}
