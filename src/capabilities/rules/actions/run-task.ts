// Start a Fargate task for a rule, through the one AWS gateway (dry-run, throttling retried, every call audited).
//
// 1. Resolve the task definition: DescribeTaskDefinition of the family alone answers with its latest ACTIVE
//    revision; a pinned `family:N` is read as such. The revision actually run is recorded with the run, the
//    revision must still be ACTIVE (ECS refuses new tasks of an INACTIVE one), Fargate-compatible, of the family the
//    allow-list names, and every container an override names must be in it — refused here with a clear reason
//    rather than by RunTask with a generic one.
// 2. Look for a task this run already started: tasks are started with `startedBy: chronops` and the tag
//    `chronops:run = <run id>`, so ListTasks(startedBy) + DescribeTasks(TAGS) finds one a previous attempt
//    started (a redelivered event, a worker that died between RunTask and recording its answer). The same list
//    counts the entry's running tasks for its `maxRunning` cap. RunTask's clientToken (the run id) is a third guard.
// 3. RunTask. Its `failures[]` (no capacity, an ENI limit, a bad subnet) is an answer, not an error: the run failed.

import {
  DescribeTaskDefinitionCommand,
  type DescribeTaskDefinitionCommandOutput,
  DescribeTasksCommand,
  ECSClient,
  ListTasksCommand,
  RunTaskCommand,
  type RunTaskCommandInput,
  type Task,
} from '@aws-sdk/client-ecs';
import type { AwsGateway, SendOptions } from '../../../aws/gateway.ts';
import type { RunTaskSpec, TaskTarget } from '../model.ts';
import { renderDeep } from '../template.ts';

export const STARTED_BY = 'chronops';
export const RUN_TAG = 'chronops:run';
export const RULE_TAG = 'chronops:rule';
export const DELIVERY_TAG = 'chronops:delivery';

/** ECS allows 8192 characters of overrides, JSON included. */
const MAX_OVERRIDES_CHARS = 8192;
/** ListTasks pages read when looking for an earlier start (100 tasks a page). */
const MAX_LIST_PAGES = 10;

export interface RunTaskContext {
  /** Deterministic per (delivery, rule, action): the clientToken and the `chronops:run` tag. */
  runId: string;
  rule: string;
  deliveryKey: string;
  dryRun: boolean;
  /** A previous attempt of this run may have started a task: also look among recently STOPPED tasks. */
  retry: boolean;
  /** The event document the templates read. */
  document: unknown;
  /** Id the gateway files the cloud calls under (audit). */
  executionId: string;
}

export interface ContainerSummary {
  name: string;
  exitCode?: number;
  reason?: string;
  lastStatus?: string;
}

export type RunTaskOutcome =
  | {
      status: 'started';
      taskArn: string;
      taskDefinitionArn: string;
      cluster: string;
      region: string;
      input: RunTaskCommandInput;
      missing: string[];
    }
  | {
      /** A task of this run exists already (found by its tag): nothing was started. */
      status: 'found';
      taskArn: string;
      taskDefinitionArn: string;
      cluster: string;
      region: string;
      lastStatus?: string;
      task: Task;
    }
  | {
      status: 'dry-run';
      taskDefinitionArn: string;
      cluster: string;
      region: string;
      input: RunTaskCommandInput;
      missing: string[];
    }
  | {
      /** Refused before RunTask (cap reached, revision INACTIVE, unknown container …) or failed by RunTask. */
      status: 'failed';
      reason: string;
      failures?: Array<{ arn?: string; reason?: string; detail?: string }>;
      taskDefinitionArn?: string;
      cluster: string;
      region: string;
      input?: RunTaskCommandInput;
    };

export class RunTaskAction {
  readonly #gateway: AwsGateway;

  constructor(options: { gateway: AwsGateway }) {
    this.#gateway = options.gateway;
  }

  async run(spec: RunTaskSpec, target: TaskTarget, ctx: RunTaskContext): Promise<RunTaskOutcome> {
    const where = { cluster: target.cluster, region: target.region };
    const ecs = this.#gateway.client(ECSClient, target.region);
    const read = { mutating: false, dryRun: ctx.dryRun, executionId: ctx.executionId };

    // 1. The revision to run.
    const wanted = spec.revision === undefined ? spec.family : `${spec.family}:${spec.revision}`;
    const described = await this.#gateway
      .send(ecs, new DescribeTaskDefinitionCommand({ taskDefinition: wanted }), read)
      .catch((error: unknown) => {
        if (isClientException(error)) return undefined;
        throw error;
      });
    const definition = described?.taskDefinition;
    if (!definition?.taskDefinitionArn) {
      return {
        status: 'failed',
        reason: `task definition ${wanted} not found in ${target.region}`,
        ...where,
      };
    }
    const taskDefinitionArn = definition.taskDefinitionArn;
    const refusal = checkDefinition(definition, spec);
    if (refusal) return { status: 'failed', reason: refusal, taskDefinitionArn, ...where };

    // The input, with the event's values in the overrides.
    const missing: string[] = [];
    const input = runTaskInput(spec, target, ctx, taskDefinitionArn, missing);
    const overridesChars = JSON.stringify(input.overrides ?? {}).length;
    if (overridesChars > MAX_OVERRIDES_CHARS) {
      return {
        status: 'failed',
        reason: `container overrides are ${overridesChars} characters with the event's values; ECS allows ${MAX_OVERRIDES_CHARS}`,
        taskDefinitionArn,
        input,
        ...where,
      };
    }

    // 2. A task this run started already; the entry's running count.
    const running = await this.#listTasks(ecs, target, 'RUNNING', read);
    const stopped = ctx.retry ? await this.#listTasks(ecs, target, 'STOPPED', read) : [];
    const mine = [...running, ...stopped].find((t) =>
      t.tags?.some((tag) => tag.key === RUN_TAG && tag.value === ctx.runId),
    );
    if (mine?.taskArn) {
      return {
        status: 'found',
        taskArn: mine.taskArn,
        taskDefinitionArn: mine.taskDefinitionArn ?? taskDefinitionArn,
        ...(mine.lastStatus === undefined ? {} : { lastStatus: mine.lastStatus }),
        task: mine,
        ...where,
      };
    }
    if (target.maxRunning !== undefined) {
      const ofEntry = running.filter((t) => target.taskDefinitions.includes(familyOf(t.taskDefinitionArn)));
      if (ofEntry.length >= target.maxRunning) {
        return {
          status: 'failed',
          reason: `${ofEntry.length} task(s) chronops started are running on ${target.name} (maxRunning ${target.maxRunning}); not starting another`,
          taskDefinitionArn,
          input,
          ...where,
        };
      }
    }

    // 3. Start it.
    const answer = await this.#gateway.send(ecs, new RunTaskCommand(input), {
      mutating: true,
      dryRun: ctx.dryRun,
      executionId: ctx.executionId,
    });
    const task = answer.tasks?.[0];
    if (task?.taskArn) {
      return { status: 'started', taskArn: task.taskArn, taskDefinitionArn, input, missing, ...where };
    }
    if (answer.failures && answer.failures.length > 0) {
      const failures = answer.failures.map((f) => ({
        ...(f.arn === undefined ? {} : { arn: f.arn }),
        ...(f.reason === undefined ? {} : { reason: f.reason }),
        ...(f.detail === undefined ? {} : { detail: f.detail }),
      }));
      const reason = failures.map((f) => [f.reason, f.detail].filter(Boolean).join(': ')).join('; ');
      return {
        status: 'failed',
        reason: `RunTask failed: ${reason}`,
        failures,
        taskDefinitionArn,
        input,
        ...where,
      };
    }
    if (ctx.dryRun || this.#gateway.dryRun) {
      return { status: 'dry-run', taskDefinitionArn, input, missing, ...where };
    }
    return {
      status: 'failed',
      reason: 'RunTask returned neither a task nor a failure',
      taskDefinitionArn,
      input,
      ...where,
    };
  }

  /** Tasks chronops started on the entry's cluster, with their tags, in `status` (a bounded number of pages). */
  async #listTasks(
    ecs: ECSClient,
    target: TaskTarget,
    desiredStatus: 'RUNNING' | 'STOPPED',
    opts: SendOptions,
  ): Promise<Task[]> {
    const tasks: Task[] = [];
    let nextToken: string | undefined;
    for (let page = 0; page < MAX_LIST_PAGES; page++) {
      const listed = await this.#gateway.send(
        ecs,
        new ListTasksCommand({
          cluster: target.cluster,
          startedBy: STARTED_BY,
          desiredStatus,
          ...(nextToken === undefined ? {} : { nextToken }),
        }),
        opts,
      );
      const arns = listed.taskArns ?? [];
      if (arns.length > 0) {
        const described = await this.#gateway.send(
          ecs,
          new DescribeTasksCommand({ cluster: target.cluster, tasks: arns, include: ['TAGS'] }),
          opts,
        );
        tasks.push(...(described.tasks ?? []));
      }
      nextToken = listed.nextToken;
      if (!nextToken) break;
    }
    return tasks;
  }
}

/** Why this revision must not be run, or undefined. */
function checkDefinition(
  definition: NonNullable<DescribeTaskDefinitionCommandOutput['taskDefinition']>,
  spec: RunTaskSpec,
): string | undefined {
  const arn = definition.taskDefinitionArn ?? '';
  if (definition.family !== spec.family) {
    return `${arn} is of family ${definition.family}, not ${spec.family} (the allow-list names ${spec.family})`;
  }
  if (definition.status !== 'ACTIVE') {
    return `${arn} is ${definition.status}; ECS starts no new task of an inactive revision (pin an ACTIVE one, or drop the pin to use the latest)`;
  }
  if (!definition.requiresCompatibilities?.includes('FARGATE')) {
    return `${arn} is not compatible with FARGATE (requiresCompatibilities: ${definition.requiresCompatibilities?.join(', ') || 'none'})`;
  }
  const containers = new Set((definition.containerDefinitions ?? []).map((c) => c.name));
  const unknown = spec.containerOverrides.filter((o) => !containers.has(o.name)).map((o) => o.name);
  if (unknown.length > 0) {
    return `container ${unknown.join(', ')} is not in ${arn} (its containers: ${[...containers].join(', ')})`;
  }
  return undefined;
}

/** The exact RunTask input: FARGATE, the network, the overrides with the event's values, startedBy, tags, token. */
export function runTaskInput(
  spec: RunTaskSpec,
  target: TaskTarget,
  ctx: Pick<RunTaskContext, 'runId' | 'rule' | 'deliveryKey' | 'document'>,
  taskDefinitionArn: string,
  missing: string[] = [],
): RunTaskCommandInput {
  const containerOverrides = spec.containerOverrides.map((o) => {
    const command =
      o.command === undefined ? undefined : (renderDeep(o.command, ctx.document, missing) as string[]);
    const environment =
      o.environment === undefined
        ? undefined
        : Object.entries(o.environment).map(([name, value]) => ({
            name,
            value: renderDeep(value, ctx.document, missing) as string,
          }));
    return {
      name: o.name,
      ...(command === undefined ? {} : { command }),
      ...(environment === undefined ? {} : { environment }),
    };
  });
  return {
    cluster: target.cluster,
    taskDefinition: taskDefinitionArn,
    launchType: 'FARGATE',
    count: 1,
    ...(spec.platformVersion === undefined ? {} : { platformVersion: spec.platformVersion }),
    networkConfiguration: {
      awsvpcConfiguration: {
        subnets: spec.subnets,
        securityGroups: spec.securityGroups,
        assignPublicIp: spec.assignPublicIp ? 'ENABLED' : 'DISABLED',
      },
    },
    ...(containerOverrides.length > 0 ? { overrides: { containerOverrides } } : {}),
    startedBy: STARTED_BY,
    tags: [
      { key: RULE_TAG, value: ctx.rule },
      { key: RUN_TAG, value: ctx.runId },
      { key: DELIVERY_TAG, value: tagValue(ctx.deliveryKey) },
    ],
    clientToken: ctx.runId,
  };
}

/** A tag value holds letters, digits, spaces and `+ - = . _ : / @`, 256 characters at most. */
export function tagValue(text: string): string {
  return text.replace(/[^\p{L}\p{N} +\-=._:/@]/gu, '_').slice(0, 256);
}

/** `arn:aws:ecs:us-east-1:1:task-definition/pricechecker:7` → `pricechecker`. */
export function familyOf(taskDefinitionArn: string | undefined): string {
  const m = /task-definition\/([^:]+)(?::\d+)?$/.exec(taskDefinitionArn ?? '');
  return m?.[1] ?? '';
}

/** The ECS console page of a task. */
export function consoleLink(taskArn: string, region: string): string {
  const m = /:task\/([^/]+)\/([^/]+)$/.exec(taskArn);
  if (!m) return `https://${region}.console.aws.amazon.com/ecs/v2/home?region=${region}`;
  return `https://${region}.console.aws.amazon.com/ecs/v2/clusters/${encodeURIComponent(m[1]!)}/tasks/${encodeURIComponent(m[2]!)}/configuration?region=${region}`;
}

/** DescribeTaskDefinition answers a family it does not know with ClientException. */
function isClientException(error: unknown): boolean {
  return (error as { name?: string } | null)?.name === 'ClientException';
}
