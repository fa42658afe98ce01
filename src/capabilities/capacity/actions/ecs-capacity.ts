// Converge an ECS service's capacity to the plan. Two cases, decided from AWS each time:
//
// - The service has an Application Auto Scaling scalable target. Then chronops raises MinCapacity (and
//   MaxCapacity when the target asks for more than it) instead of the desired count. Why: Application Auto
//   Scaling owns the desired count of such a service. A desired count set with UpdateService is overridden by the
//   next scaling activity (a scale-in policy brings it back down within minutes, and it is always clamped into
//   [min, max]), so a pre-scale done that way would quietly evaporate before the spike. A raised minimum is a
//   floor autoscaling itself enforces, while it can still scale out above it.
// - No scalable target: UpdateService desiredCount.
//
// The original values (the baseline) are read from AWS the first time a window needs the service, stored, and
// restored exactly when no window is left; then the stored baseline is cleared.

import {
  ApplicationAutoScalingClient,
  DescribeScalableTargetsCommand,
  RegisterScalableTargetCommand,
} from '@aws-sdk/client-application-auto-scaling';
import { DescribeServicesCommand, ECSClient, UpdateServiceCommand } from '@aws-sdk/client-ecs';
import type { AwsGateway } from '../../../aws/gateway.ts';
import { ChronopsError, CloudError } from '../../../kernel/errors.ts';
import type { ConvergeOutcome, EcsResource, Target } from '../model.ts';
import type { ActionContext, BaselineStore, CapacityAction } from './port.ts';

export type EcsBaseline = { mode: 'aas'; min: number; max: number } | { mode: 'desired'; desired: number };

export interface EcsCapacityActionOptions {
  gateway: AwsGateway;
  baselines: BaselineStore;
}

type Current =
  | { mode: 'aas'; min: number; max: number; resourceId: string }
  | { mode: 'desired'; desired: number };

export class EcsCapacityAction implements CapacityAction<EcsResource> {
  readonly kind = 'ecs' as const;
  readonly #gateway: AwsGateway;
  readonly #baselines: BaselineStore;

  constructor(options: EcsCapacityActionOptions) {
    this.#gateway = options.gateway;
    this.#baselines = options.baselines;
  }

  async converge(resource: EcsResource, target: Target | null, ctx: ActionContext): Promise<ConvergeOutcome> {
    const dryRun = ctx.dryRun || this.#gateway.dryRun;
    const label = `ECS ${resource.cluster}/${resource.service}`;
    try {
      const current = await this.#readCurrent(resource, ctx);
      const now = describe(current);
      const from = (await ctx.seen?.(now)) ?? now;
      const stored = parseBaseline(await this.#baselines.get(resource.name));
      const details: Record<string, unknown> = { mode: current.mode, dryRun };

      if (target === null) {
        if (!stored) {
          details.baseline = null;
          return { from, to: now, changed: from !== now, details };
        }
        details.baseline = stored;
        if (stored.mode !== current.mode) {
          // Autoscaling was added or removed while a window held the service: the stored values do not apply
          // to what the service is now, so leave it as it is rather than guess.
          details.skipped = `stored baseline is for mode '${stored.mode}', service is now in mode '${current.mode}'`;
          if (!dryRun) await this.#baselines.clear(resource.name);
          return { from, to: now, changed: from !== now, details };
        }
        const to = await this.#apply(resource, current, stored, ctx);
        if (!dryRun) await this.#baselines.clear(resource.name);
        return { from, to: describe(to), changed: describe(to) !== from, details };
      }

      let baseline = stored;
      if (!baseline || baseline.mode !== current.mode) {
        if (baseline) details.replacedBaseline = baseline;
        baseline = baselineOf(current);
        // In dry-run nothing is changed, so nothing must be remembered: the value just read is used once.
        if (!dryRun) await this.#baselines.put(resource.name, baseline);
      }
      details.baseline = baseline;

      const amount = Math.max(0, Math.min(target.amount, resource.maxTasks));
      if (amount !== target.amount) {
        details.clamped = { requested: target.amount, applied: amount, maxTasks: resource.maxTasks };
      }
      details.windowIds = target.windowIds;
      const wanted: EcsBaseline =
        baseline.mode === 'aas'
          ? { mode: 'aas', min: Math.max(baseline.min, amount), max: Math.max(baseline.max, amount) }
          : { mode: 'desired', desired: Math.max(baseline.desired, amount) };
      const to = await this.#apply(resource, current, wanted, ctx);
      return { from, to: describe(to), changed: describe(to) !== from, details };
    } catch (error) {
      if (error instanceof ChronopsError) throw error;
      throw new CloudError(`${label}: ${describeError(error)}`, { cause: error });
    }
  }

  /** Send the one call that moves `current` to `wanted`, or none when they already agree. */
  async #apply(
    resource: EcsResource,
    current: Current,
    wanted: EcsBaseline,
    ctx: ActionContext,
  ): Promise<Current | EcsBaseline> {
    if (current.mode === 'aas' && wanted.mode === 'aas') {
      if (current.min !== wanted.min || current.max !== wanted.max) {
        const client = this.#gateway.client(ApplicationAutoScalingClient, resource.region);
        await this.#gateway.send(
          client,
          new RegisterScalableTargetCommand({
            ServiceNamespace: 'ecs',
            ResourceId: current.resourceId,
            ScalableDimension: 'ecs:service:DesiredCount',
            MinCapacity: wanted.min,
            MaxCapacity: wanted.max,
          }),
          { mutating: true, dryRun: ctx.dryRun, executionId: ctx.executionId },
        );
      }
      return wanted;
    }
    if (current.mode === 'desired' && wanted.mode === 'desired') {
      if (current.desired !== wanted.desired) {
        const client = this.#gateway.client(ECSClient, resource.region);
        await this.#gateway.send(
          client,
          new UpdateServiceCommand({
            cluster: resource.cluster,
            service: resource.service,
            desiredCount: wanted.desired,
          }),
          { mutating: true, dryRun: ctx.dryRun, executionId: ctx.executionId },
        );
      }
      return wanted;
    }
    return current;
  }

  async #readCurrent(resource: EcsResource, ctx: ActionContext): Promise<Current> {
    const resourceId = `service/${resource.cluster}/${resource.service}`;
    const aas = this.#gateway.client(ApplicationAutoScalingClient, resource.region);
    const targets = await this.#gateway.send(
      aas,
      new DescribeScalableTargetsCommand({
        ServiceNamespace: 'ecs',
        ResourceIds: [resourceId],
        ScalableDimension: 'ecs:service:DesiredCount',
      }),
      { mutating: false, dryRun: ctx.dryRun, executionId: ctx.executionId },
    );
    const scalable = targets.ScalableTargets?.find((t) => t.ResourceId === resourceId);
    if (scalable && typeof scalable.MinCapacity === 'number' && typeof scalable.MaxCapacity === 'number') {
      return { mode: 'aas', min: scalable.MinCapacity, max: scalable.MaxCapacity, resourceId };
    }

    const ecs = this.#gateway.client(ECSClient, resource.region);
    const answer = await this.#gateway
      .send(ecs, new DescribeServicesCommand({ cluster: resource.cluster, services: [resource.service] }), {
        mutating: false,
        dryRun: ctx.dryRun,
        executionId: ctx.executionId,
      })
      .catch((error: unknown) => {
        const name = (error as { name?: string }).name;
        if (name === 'ServiceNotFoundException' || name === 'ClusterNotFoundException') {
          throw notFound(resource, describeError(error), error);
        }
        throw error;
      });
    const service = answer.services?.find((s) => s.serviceName === resource.service) ?? answer.services?.[0];
    if (!service || service.status === 'INACTIVE' || typeof service.desiredCount !== 'number') {
      const reason = answer.failures?.[0]?.reason ?? (service ? `status ${service.status}` : 'not returned');
      throw notFound(resource, reason);
    }
    return { mode: 'desired', desired: service.desiredCount };
  }
}

function notFound(resource: EcsResource, reason: string, cause?: unknown): CloudError {
  return new CloudError(
    `ECS service ${resource.service} not found in cluster ${resource.cluster} (${resource.region}): ${reason}`,
    { cause },
  );
}

function baselineOf(current: Current): EcsBaseline {
  return current.mode === 'aas'
    ? { mode: 'aas', min: current.min, max: current.max }
    : { mode: 'desired', desired: current.desired };
}

/** A stored baseline, or null when there is none or it is not one this action wrote. */
export function parseBaseline(value: Record<string, unknown> | null): EcsBaseline | null {
  if (!value) return null;
  const isCount = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 0;
  if (value.mode === 'aas' && isCount(value.min) && isCount(value.max)) {
    return { mode: 'aas', min: value.min, max: value.max };
  }
  if (value.mode === 'desired' && isCount(value.desired)) return { mode: 'desired', desired: value.desired };
  return null;
}

function describe(state: Current | EcsBaseline): string {
  return state.mode === 'aas' ? `min ${state.min} max ${state.max}` : `desired ${state.desired}`;
}

function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
