// The simulator's standalone ECS tasks (demo mode): task definitions with revisions, RunTask, ListTasks,
// DescribeTasks, and the "ECS Task State Change" events EventBridge would deliver as a task moves from
// PROVISIONING to RUNNING to STOPPED. What chronops relies on is kept true to ECS: the latest ACTIVE revision
// answers for a family, an INACTIVE revision is refused by RunTask, tasks are found by `startedBy`, carry their
// tags, and report each container's exit code when they stop.

import { z } from 'zod';

export interface SimulatedTaskDefinition {
  /** The latest revision, ACTIVE; the ones below `firstActive` are INACTIVE. Default 1. */
  revision?: number;
  /** The oldest ACTIVE revision. Default 1. */
  firstActive?: number;
  /** Containers and the exit code each ends with (default 0). */
  containers: Array<{ name: string; exitCode?: number }>;
  /** Seconds from RunTask to RUNNING. Default 20. */
  startSeconds?: number;
  /** Seconds RUNNING before the essential container exits. Default 60. */
  runSeconds?: number;
  /** Launch types it is compatible with. Default FARGATE. */
  compatibilities?: Array<'FARGATE' | 'EC2'>;
}

export const taskDefinitionsSpec = z.record(
  z.string().regex(/^[A-Za-z0-9_-]{1,255}$/, 'must be a task definition family'),
  z.strictObject({
    revision: z.number().int().positive().optional(),
    firstActive: z.number().int().positive().optional(),
    containers: z
      .array(z.strictObject({ name: z.string().min(1), exitCode: z.number().int().optional() }))
      .min(1),
    startSeconds: z.number().min(0).optional(),
    runSeconds: z.number().min(0).optional(),
    compatibilities: z.array(z.enum(['FARGATE', 'EC2'])).optional(),
  }),
);

type Input = Record<string, unknown>;
type Output = Record<string, unknown>;
type Tag = { key: string; value: string };

interface TaskState {
  arn: string;
  cluster: string;
  family: string;
  revision: number;
  startedBy?: string;
  group: string;
  tags: Tag[];
  containers: Array<{ name: string; exitCode: number }>;
  overrides?: unknown;
  createdAt: Date;
  runningAt: Date;
  stoppedAt: Date;
  /** Played for a RunTask withheld by dry-run (demo mode): it lives and stops like any other. */
  dryRun: boolean;
  /** Lifecycle events already handed out. */
  reported: Set<'RUNNING' | 'STOPPED'>;
}

export interface TasksContext {
  now: () => Date;
  region: string;
  account: string;
  /** Clusters RunTask accepts. */
  clusters: () => Set<string>;
  error: (name: string, message: string) => Error;
}

export class SimulatedTasks {
  readonly #ctx: TasksContext;
  readonly #definitions: Map<
    string,
    Required<Omit<SimulatedTaskDefinition, 'containers'>> & SimulatedTaskDefinition
  >;
  readonly #tasks: TaskState[] = [];
  readonly #byToken = new Map<string, TaskState>();
  #next = 0;

  constructor(definitions: Record<string, SimulatedTaskDefinition>, ctx: TasksContext) {
    this.#ctx = ctx;
    this.#definitions = new Map(
      Object.entries(definitions).map(([family, d]) => [
        family,
        {
          ...d,
          revision: d.revision ?? 1,
          firstActive: d.firstActive ?? 1,
          startSeconds: d.startSeconds ?? 20,
          runSeconds: d.runSeconds ?? 60,
          compatibilities: d.compatibilities ?? ['FARGATE'],
        },
      ]),
    );
  }

  describeTaskDefinition(input: Input): Output {
    const ref = String(input.taskDefinition ?? '');
    const m = /^(?:arn:aws:ecs:[^:]+:\d+:task-definition\/)?([A-Za-z0-9_-]+)(?::(\d+))?$/.exec(ref);
    const def = m ? this.#definitions.get(m[1]!) : undefined;
    const revision = m?.[2] === undefined ? def?.revision : Number(m[2]);
    if (!m || !def || revision === undefined || revision < 1 || revision > def.revision) {
      throw this.#ctx.error('ClientException', 'Unable to describe task definition.');
    }
    return { taskDefinition: this.#definitionView(m[1]!, revision), tags: [] };
  }

  runTask(input: Input, options: { dryRun: boolean }): Output {
    const cluster = lastSegment(String(input.cluster ?? 'default'));
    if (!this.#ctx.clusters().has(cluster))
      throw this.#ctx.error('ClusterNotFoundException', 'Cluster not found.');
    const token = typeof input.clientToken === 'string' ? input.clientToken : undefined;
    const earlier = token ? this.#byToken.get(`${cluster}/${token}`) : undefined;
    if (earlier) return { tasks: [this.#taskView(earlier, true)], failures: [] };
    const view = this.describeTaskDefinition({ taskDefinition: input.taskDefinition });
    const def = view.taskDefinition as {
      family: string;
      revision: number;
      status: string;
      requiresCompatibilities: string[];
    };
    if (def.status !== 'ACTIVE') {
      throw this.#ctx.error('ClientException', 'TaskDefinition is inactive');
    }
    const launchType = String(input.launchType ?? 'FARGATE');
    if (!def.requiresCompatibilities.includes(launchType)) {
      throw this.#ctx.error(
        'InvalidParameterException',
        `Task definition does not support launch_type ${launchType}.`,
      );
    }
    const spec = this.#definitions.get(def.family)!;
    const now = this.#ctx.now();
    const id = `${(++this.#next).toString(16).padStart(8, '0')}${now.getTime().toString(16).padStart(24, '0')}`;
    const task: TaskState = {
      arn: `arn:aws:ecs:${this.#ctx.region}:${this.#ctx.account}:task/${cluster}/${id}`,
      cluster,
      family: def.family,
      revision: def.revision,
      ...(typeof input.startedBy === 'string' ? { startedBy: input.startedBy } : {}),
      group: typeof input.group === 'string' ? input.group : `family:${def.family}`,
      tags: ((input.tags as Tag[] | undefined) ?? []).map((t) => ({ key: t.key, value: t.value })),
      containers: spec.containers.map((c) => ({ name: c.name, exitCode: c.exitCode ?? 0 })),
      overrides: input.overrides,
      createdAt: now,
      runningAt: new Date(now.getTime() + spec.startSeconds * 1000),
      stoppedAt: new Date(now.getTime() + (spec.startSeconds + spec.runSeconds) * 1000),
      dryRun: options.dryRun,
      reported: new Set(),
    };
    this.#tasks.push(task);
    if (token) this.#byToken.set(`${cluster}/${token}`, task);
    return { tasks: [this.#taskView(task, false)], failures: [] };
  }

  listTasks(input: Input): Output {
    const cluster = lastSegment(String(input.cluster ?? 'default'));
    if (!this.#ctx.clusters().has(cluster))
      throw this.#ctx.error('ClusterNotFoundException', 'Cluster not found.');
    const desired = String(input.desiredStatus ?? 'RUNNING');
    const now = this.#ctx.now().getTime();
    const arns = this.#tasks
      .filter((t) => t.cluster === cluster)
      .filter((t) => input.startedBy === undefined || t.startedBy === input.startedBy)
      .filter((t) => input.family === undefined || t.family === input.family)
      .filter((t) => (desired === 'STOPPED' ? now >= t.stoppedAt.getTime() : now < t.stoppedAt.getTime()))
      .map((t) => t.arn);
    return { taskArns: arns };
  }

  describeTasks(input: Input): Output {
    const includeTags = Array.isArray(input.include) && input.include.includes('TAGS');
    const tasks: Output[] = [];
    const failures: Output[] = [];
    for (const ref of (input.tasks as string[] | undefined) ?? []) {
      const task = this.#tasks.find((t) => t.arn === ref || t.arn.endsWith(`/${ref}`));
      if (task) tasks.push(this.#taskView(task, includeTags));
      else failures.push({ arn: ref, reason: 'MISSING' });
    }
    return { tasks, failures };
  }

  /**
   * The "ECS Task State Change" events of every change since the last call (RUNNING, STOPPED), oldest first,
   * as EventBridge delivers them.
   */
  takeEvents(): Array<Record<string, unknown>> {
    const now = this.#ctx.now().getTime();
    const due: Array<{ at: number; event: Record<string, unknown> }> = [];
    for (const task of this.#tasks) {
      for (const status of ['RUNNING', 'STOPPED'] as const) {
        const at = status === 'RUNNING' ? task.runningAt.getTime() : task.stoppedAt.getTime();
        if (at > now || task.reported.has(status)) continue;
        task.reported.add(status);
        due.push({ at, event: this.#event(task, status, at) });
      }
    }
    return due.sort((a, b) => a.at - b.at).map((d) => d.event);
  }

  #status(task: TaskState): string {
    const now = this.#ctx.now().getTime();
    if (now >= task.stoppedAt.getTime()) return 'STOPPED';
    if (now >= task.runningAt.getTime()) return 'RUNNING';
    return now >= (task.createdAt.getTime() + task.runningAt.getTime()) / 2 ? 'PENDING' : 'PROVISIONING';
  }

  #definitionView(family: string, revision: number): Output {
    const def = this.#definitions.get(family)!;
    return {
      taskDefinitionArn: this.#definitionArn(family, revision),
      family,
      revision,
      status: revision >= def.firstActive ? 'ACTIVE' : 'INACTIVE',
      networkMode: 'awsvpc',
      requiresCompatibilities: def.compatibilities,
      cpu: '256',
      memory: '512',
      containerDefinitions: def.containers.map((c) => ({
        name: c.name,
        image: `${family}/${c.name}:latest`,
        essential: true,
      })),
    };
  }

  #definitionArn(family: string, revision: number): string {
    return `arn:aws:ecs:${this.#ctx.region}:${this.#ctx.account}:task-definition/${family}:${revision}`;
  }

  #taskView(task: TaskState, includeTags: boolean): Output {
    const status = this.#status(task);
    const stopped = status === 'STOPPED';
    return {
      taskArn: task.arn,
      clusterArn: `arn:aws:ecs:${this.#ctx.region}:${this.#ctx.account}:cluster/${task.cluster}`,
      taskDefinitionArn: this.#definitionArn(task.family, task.revision),
      lastStatus: status,
      desiredStatus: stopped ? 'STOPPED' : 'RUNNING',
      launchType: 'FARGATE',
      group: task.group,
      ...(task.startedBy ? { startedBy: task.startedBy } : {}),
      createdAt: task.createdAt,
      ...(status === 'RUNNING' || stopped ? { startedAt: task.runningAt } : {}),
      ...(stopped
        ? {
            stoppedAt: task.stoppedAt,
            stopCode: 'EssentialContainerExited',
            stoppedReason: 'Essential container in task exited',
          }
        : {}),
      containers: task.containers.map((c) => ({
        name: c.name,
        lastStatus: status,
        ...(stopped ? { exitCode: c.exitCode } : {}),
      })),
      ...(includeTags ? { tags: task.tags.map((t) => ({ ...t })) } : {}),
    };
  }

  #event(task: TaskState, status: 'RUNNING' | 'STOPPED', at: number): Record<string, unknown> {
    const stopped = status === 'STOPPED';
    return {
      version: '0',
      id: `sim-${task.arn.slice(task.arn.lastIndexOf('/') + 1)}-${status.toLowerCase()}`,
      'detail-type': 'ECS Task State Change',
      source: 'aws.ecs',
      account: this.#ctx.account,
      time: new Date(at).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      region: this.#ctx.region,
      resources: [task.arn],
      detail: {
        clusterArn: `arn:aws:ecs:${this.#ctx.region}:${this.#ctx.account}:cluster/${task.cluster}`,
        taskArn: task.arn,
        taskDefinitionArn: this.#definitionArn(task.family, task.revision),
        lastStatus: status,
        desiredStatus: status,
        launchType: 'FARGATE',
        group: task.group,
        ...(task.startedBy ? { startedBy: task.startedBy } : {}),
        createdAt: task.createdAt.toISOString(),
        startedAt: task.runningAt.toISOString(),
        ...(stopped
          ? {
              stoppingAt: task.stoppedAt.toISOString(),
              stoppedAt: task.stoppedAt.toISOString(),
              stopCode: 'EssentialContainerExited',
              stoppedReason: 'Essential container in task exited',
            }
          : {}),
        containers: task.containers.map((c) => ({
          name: c.name,
          lastStatus: status,
          ...(stopped ? { exitCode: c.exitCode } : {}),
        })),
      },
    };
  }
}

function lastSegment(nameOrArn: string): string {
  return nameOrArn.slice(nameOrArn.lastIndexOf('/') + 1);
}
