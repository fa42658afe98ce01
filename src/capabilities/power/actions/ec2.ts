// Start and stop EC2 instances, many per call: DescribeInstances, StartInstances and StopInstances all take a list
// of instance ids, so a thousand instances changing at the same minute cost ten calls of each, not a thousand.
//
// What EC2 does that this action must live with:
// - one unknown id fails a whole DescribeInstances (InvalidInstanceID.NotFound names the ids): those are marked
//   missing and the others described again;
// - one instance in the wrong state fails a whole StartInstances/StopInstances (IncorrectInstanceState): the batch
//   is then tried instance by instance, and those still refused are waited for;
// - Hibernate on an instance not configured for it fails (UnsupportedHibernationConfiguration): it is stopped
//   normally instead, as Instance Scheduler does.

import {
  DescribeInstancesCommand,
  EC2Client,
  type InstanceStateChange,
  StartInstancesCommand,
  StopInstancesCommand,
} from '@aws-sdk/client-ec2';
import type { AwsGateway } from '../../../aws/gateway.ts';
import type { Ec2PowerResource, ObservedPower, PowerOutcome } from '../model.ts';
import {
  chunks,
  DEFAULT_RETRY_AFTER_MS,
  describeError,
  errorName,
  groupBy,
  type Observation,
  observedFor,
  type PowerAction,
  type PowerContext,
  type PowerItem,
  stepFor,
} from './port.ts';

export interface Ec2PowerActionOptions {
  gateway: AwsGateway;
  /** Instance ids per call. Default 100. */
  batchSize?: number;
  retryAfterMs?: number;
}

const STATES: Record<string, ObservedPower> = {
  pending: 'starting',
  running: 'running',
  stopping: 'stopping',
  stopped: 'stopped',
  'shutting-down': 'missing',
  terminated: 'missing',
};

/** Errors of one instance that fail a whole batch call: the batch is then tried instance by instance. */
const PER_INSTANCE_ERRORS = new Set([
  'IncorrectInstanceState',
  'UnsupportedHibernationConfiguration',
  'InvalidInstanceID.NotFound',
]);

export class Ec2PowerAction implements PowerAction<Ec2PowerResource> {
  readonly kind = 'ec2' as const;
  readonly #gateway: AwsGateway;
  readonly #batch: number;
  readonly #retryAfterMs: number;

  constructor(options: Ec2PowerActionOptions) {
    this.#gateway = options.gateway;
    this.#batch = options.batchSize ?? 100;
    this.#retryAfterMs = options.retryAfterMs ?? DEFAULT_RETRY_AFTER_MS;
  }

  async observe(
    resources: readonly Ec2PowerResource[],
    ctx: PowerContext,
  ): Promise<Map<string, Observation>> {
    const byId = new Map<string, Observation>();
    for (const [region, list] of groupBy(resources, (r) => r.region)) {
      for (const ids of chunks([...new Set(list.map((r) => r.instanceId))], this.#batch)) {
        for (const [id, seen] of await this.#describe(region, ids, ctx)) byId.set(id, seen);
      }
    }
    const out = new Map<string, Observation>();
    for (const r of resources) {
      out.set(r.name, byId.get(r.instanceId) ?? { state: 'missing', status: 'does not exist' });
    }
    return out;
  }

  async #describe(region: string, ids: string[], ctx: PowerContext): Promise<Map<string, Observation>> {
    const out = new Map<string, Observation>();
    let ask = ids;
    while (ask.length > 0) {
      try {
        let token: string | undefined;
        do {
          const page = await this.#gateway.send(
            this.#ec2(region),
            new DescribeInstancesCommand({ InstanceIds: ask, ...(token ? { NextToken: token } : {}) }),
            { mutating: false, dryRun: ctx.dryRun, executionId: ctx.executionId },
          );
          for (const reservation of page.Reservations ?? []) {
            for (const instance of reservation.Instances ?? []) {
              if (!instance.InstanceId) continue;
              const status = instance.State?.Name ?? 'unknown';
              out.set(instance.InstanceId, { state: STATES[status] ?? 'busy', status });
            }
          }
          token = page.NextToken;
        } while (token);
        return out;
      } catch (error) {
        const missing = errorName(error) === 'InvalidInstanceID.NotFound' ? missingIds(error, ask) : [];
        if (missing.length === 0) throw error;
        for (const id of missing) out.set(id, { state: 'missing', status: 'does not exist' });
        ask = ask.filter((id) => !missing.includes(id));
      }
    }
    return out;
  }

  async converge(
    items: readonly PowerItem<Ec2PowerResource>[],
    ctx: PowerContext,
    observed?: ReadonlyMap<string, Observation>,
  ): Promise<PowerOutcome[]> {
    const dryRun = ctx.dryRun || this.#gateway.dryRun;
    const seen = await observedFor(items, observed, (missing) => this.observe(missing, ctx));
    const outcomes = new Map<string, PowerOutcome>();
    const toStart: PowerItem<Ec2PowerResource>[] = [];
    const toStop: PowerItem<Ec2PowerResource>[] = [];
    for (const item of items) {
      const observation = seen.get(item.resource.name)!;
      const step = stepFor(item.want, observation);
      const base = { resource: item.resource.name, from: observation.status };
      if (step.do === 'none') {
        outcomes.set(item.resource.name, {
          ...base,
          to: observation.status,
          changed: false,
          pending: step.pending,
        });
      } else if (step.do === 'wait') {
        outcomes.set(item.resource.name, {
          ...base,
          to: observation.status,
          changed: false,
          retryAfterMs: this.#retryAfterMs,
          details: { waiting: step.reason },
        });
      } else if (step.do === 'fail') {
        outcomes.set(item.resource.name, {
          ...base,
          to: observation.status,
          changed: false,
          error: `EC2 instance ${item.resource.instanceId}: ${step.reason}`,
        });
      } else if (step.do === 'start') {
        toStart.push(item);
      } else {
        toStop.push(item);
      }
    }
    for (const [region, list] of groupBy(toStart, (i) => i.resource.region)) {
      for (const batch of chunks(list, this.#batch)) {
        await this.#change('start', region, batch, false, ctx, dryRun, seen, outcomes);
      }
    }
    for (const [key, list] of groupBy(toStop, (i) => `${i.resource.region} ${i.hibernate === true}`)) {
      const [region, hibernate] = key.split(' ');
      for (const batch of chunks(list, this.#batch)) {
        await this.#change('stop', region!, batch, hibernate === 'true', ctx, dryRun, seen, outcomes);
      }
    }
    return items.map((i) => outcomes.get(i.resource.name)!);
  }

  /** One StartInstances/StopInstances for a batch; on a refusal of the whole batch, one call per instance. */
  async #change(
    what: 'start' | 'stop',
    region: string,
    batch: PowerItem<Ec2PowerResource>[],
    hibernate: boolean,
    ctx: PowerContext,
    dryRun: boolean,
    seen: Map<string, Observation>,
    outcomes: Map<string, PowerOutcome>,
  ): Promise<void> {
    try {
      const changes = await this.#send(what, region, batch, hibernate, ctx);
      this.#record(batch, changes, what, dryRun, seen, outcomes, hibernate);
      return;
    } catch (error) {
      if (batch.length === 1) {
        const item = batch[0]!;
        const name = errorName(error);
        if (hibernate && name === 'UnsupportedHibernationConfiguration') {
          // Not configured for hibernation: stop it the ordinary way.
          await this.#change('stop', region, batch, false, ctx, dryRun, seen, outcomes);
          const outcome = outcomes.get(item.resource.name)!;
          outcome.details = {
            ...outcome.details,
            hibernate: 'not supported by this instance; stopped instead',
          };
          return;
        }
        const from = seen.get(item.resource.name)?.status ?? 'unknown';
        if (name === 'IncorrectInstanceState') {
          outcomes.set(item.resource.name, {
            resource: item.resource.name,
            from,
            to: from,
            changed: false,
            retryAfterMs: this.#retryAfterMs,
            details: { waiting: describeError(error) },
          });
          return;
        }
        outcomes.set(item.resource.name, {
          resource: item.resource.name,
          from,
          to: from,
          changed: false,
          error: `EC2 ${what} ${item.resource.instanceId}: ${describeError(error)}`,
        });
        return;
      }
      if (!PER_INSTANCE_ERRORS.has(errorName(error))) {
        for (const item of batch) {
          const from = seen.get(item.resource.name)?.status ?? 'unknown';
          outcomes.set(item.resource.name, {
            resource: item.resource.name,
            from,
            to: from,
            changed: false,
            error: `EC2 ${what} ${item.resource.instanceId}: ${describeError(error)}`,
          });
        }
        return;
      }
      // One instance spoils the whole call: find it by trying each alone.
      for (const item of batch)
        await this.#change(what, region, [item], hibernate, ctx, dryRun, seen, outcomes);
    }
  }

  async #send(
    what: 'start' | 'stop',
    region: string,
    batch: PowerItem<Ec2PowerResource>[],
    hibernate: boolean,
    ctx: PowerContext,
  ): Promise<InstanceStateChange[] | undefined> {
    const ids = batch.map((i) => i.resource.instanceId);
    const opts = { mutating: true, dryRun: ctx.dryRun, executionId: ctx.executionId };
    if (what === 'start') {
      const answer = await this.#gateway.send(
        this.#ec2(region),
        new StartInstancesCommand({ InstanceIds: ids }),
        opts,
      );
      return answer.StartingInstances;
    }
    const answer = await this.#gateway.send(
      this.#ec2(region),
      new StopInstancesCommand({ InstanceIds: ids, ...(hibernate ? { Hibernate: true } : {}) }),
      opts,
    );
    return answer.StoppingInstances;
  }

  #record(
    batch: PowerItem<Ec2PowerResource>[],
    changes: InstanceStateChange[] | undefined,
    what: 'start' | 'stop',
    dryRun: boolean,
    seen: Map<string, Observation>,
    outcomes: Map<string, PowerOutcome>,
    hibernate: boolean,
  ): void {
    const byId = new Map((changes ?? []).map((c) => [c.InstanceId, c]));
    for (const item of batch) {
      const change = byId.get(item.resource.instanceId);
      const from = change?.PreviousState?.Name ?? seen.get(item.resource.name)?.status ?? 'unknown';
      const to = dryRun
        ? `${what === 'start' ? 'running' : 'stopped'} (dry-run)`
        : (change?.CurrentState?.Name ?? (what === 'start' ? 'pending' : 'stopping'));
      outcomes.set(item.resource.name, {
        resource: item.resource.name,
        from,
        to,
        changed: true,
        pending: !dryRun,
        details: { dryRun, ...(hibernate ? { hibernate: true } : {}) },
      });
    }
  }

  #ec2(region: string): EC2Client {
    return this.#gateway.client(EC2Client, region);
  }
}

/** The ids EC2 names in "The instance IDs 'i-1, i-2' do not exist" (only those that were asked for). */
function missingIds(error: unknown, asked: string[]): string[] {
  const message = error instanceof Error ? error.message : String(error);
  const found: string[] = message.match(/i-[0-9a-f]+/g) ?? [];
  return asked.filter((id) => found.includes(id));
}
