// An in-process model of the few AWS APIs chronops calls, so that `npm start` shows windows carried out with no
// AWS account. It keeps the behaviours chronops' design depends on: a new Aurora reader is `creating` for minutes
// before it is `available`; identifiers are unique (DBInstanceAlreadyExistsFault); the writer cannot be deleted;
// an ECS service under Application Auto Scaling has its desired count held inside the scalable target's min/max;
// EC2 instances, RDS instances and Aurora clusters take time to start and stop (`pending`, `starting`,
// `stopping`) and refuse a start or stop in the wrong state; an Aurora member cannot be stopped alone; AWS starts a
// stopped RDS instance or Aurora cluster again after 7 days.
// It is a product feature (simulation mode), not a test double: keep it small and true to AWS.

import { z } from 'zod';
import { ConfigError } from '../kernel/errors.ts';
import { type SimulatedTaskDefinition, SimulatedTasks, taskDefinitionsSpec } from './simulated-tasks.ts';

export interface SimulatedEcsService {
  cluster: string;
  service: string;
  desiredCount: number;
  scalableTarget?: { min: number; max: number };
}

export interface SimulatedAuroraCluster {
  engine: string;
  writer: string;
  readers?: string[];
  /** Seconds a new reader stays `creating` before `available`. Default 700 (real readers take 10–20 min). */
  readySeconds?: number;
  /** Seconds a deleted reader stays `deleting` before it disappears. Default 300. */
  deleteSeconds?: number;
  /** `stopped`: the cluster starts stopped. Default available. */
  status?: 'available' | 'stopped';
  /** Seconds StartDBCluster / StopDBCluster take. Defaults 420 / 300. */
  startSeconds?: number;
  stopSeconds?: number;
}

export interface SimulatedEc2Instance {
  state: 'running' | 'stopped';
  /** Configured for hibernation (StopInstances with Hibernate fails otherwise). */
  hibernation?: boolean;
  /** Seconds an instance stays `pending` / `stopping`. Defaults 30 / 45. */
  startSeconds?: number;
  stopSeconds?: number;
}

export interface SimulatedRdsInstance {
  engine: string;
  status: 'available' | 'stopped';
  /** Seconds StartDBInstance / StopDBInstance take. Defaults 300 / 240. */
  startSeconds?: number;
  stopSeconds?: number;
}

export interface SimulatorSpec {
  /** Keyed by any name; the service is found by cluster and service name. */
  ecs?: Record<string, SimulatedEcsService>;
  /** Keyed by DB cluster identifier. */
  aurora?: Record<string, SimulatedAuroraCluster>;
  /** Keyed by instance id (i-…). */
  ec2?: Record<string, SimulatedEc2Instance>;
  /** Stand-alone RDS DB instances, keyed by DB instance identifier. */
  rds?: Record<string, SimulatedRdsInstance>;
  /** Standalone ECS tasks (RunTask), keyed by task definition family. */
  taskDefinitions?: Record<string, SimulatedTaskDefinition>;
  /** ECS clusters without a service that RunTask accepts (those of `ecs` services are accepted too). */
  clusters?: string[];
}

export interface SimulatorOptions {
  now?: () => Date;
}

const count = z.number().int().min(0);
const seconds = z.number().min(0);
const instanceId = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,62}$/, 'must be a DB instance identifier (a-z, 0-9, -)');
const specSchema = z.strictObject({
  ecs: z
    .record(
      z.string(),
      z
        .strictObject({
          cluster: z.string().min(1),
          service: z.string().min(1),
          desiredCount: count,
          scalableTarget: z.strictObject({ min: count, max: count }).optional(),
        })
        .refine((s) => !s.scalableTarget || s.scalableTarget.min <= s.scalableTarget.max, {
          message: 'scalableTarget.min must not exceed scalableTarget.max',
        }),
    )
    .optional(),
  aurora: z
    .record(
      z.string(),
      z.strictObject({
        engine: z.string().min(1),
        writer: instanceId,
        readers: z.array(instanceId).optional(),
        readySeconds: z.number().min(0).optional(),
        deleteSeconds: z.number().min(0).optional(),
        status: z.enum(['available', 'stopped']).optional(),
        startSeconds: seconds.optional(),
        stopSeconds: seconds.optional(),
      }),
    )
    .optional(),
  ec2: z
    .record(
      z.string().regex(/^i-[0-9a-f]{8,17}$/, 'must be an EC2 instance id such as i-0123456789abcdef0'),
      z.strictObject({
        state: z.enum(['running', 'stopped']),
        hibernation: z.boolean().optional(),
        startSeconds: seconds.optional(),
        stopSeconds: seconds.optional(),
      }),
    )
    .optional(),
  rds: z
    .record(
      instanceId,
      z.strictObject({
        engine: z.string().min(1),
        status: z.enum(['available', 'stopped']),
        startSeconds: seconds.optional(),
        stopSeconds: seconds.optional(),
      }),
    )
    .optional(),
  taskDefinitions: taskDefinitionsSpec.optional(),
  clusters: z.array(z.string().min(1)).optional(),
});

/**
 * Check a simulator description (it comes straight from the config file's `aws.simulate`); the error names
 * each bad field under `aws.simulate`.
 */
export function parseSimulatorSpec(value: unknown): SimulatorSpec {
  const result = specSchema.safeParse(value ?? {});
  if (result.success) return result.data;
  throw new ConfigError(
    result.error.issues.map((issue) => ({
      field: ['aws', 'simulate', ...issue.path.map(String)].join('.'),
      message: issue.message,
    })),
  );
}

type Input = Record<string, unknown>;
type Output = Record<string, unknown>;

interface EcsState {
  cluster: string;
  service: string;
  desiredCount: number;
  target?: { min: number; max: number; createdAt: Date };
}

interface InstanceState {
  id: string;
  clusterId: string;
  instanceClass: string;
  engine: string;
  createdAt: Date;
  /** When it becomes available; null for instances that exist from the start. */
  readyAt: Date | null;
  deletedAt: Date | null;
  promotionTier: number;
  tags: { Key: string; Value: string }[];
}

interface ClusterState {
  id: string;
  engine: string;
  writer: string;
  readySeconds: number;
  deleteSeconds: number;
  power: PowerClock;
}

/**
 * Start/stop of something that takes time: `on` is where it is going; `since` when the last change began. The
 * status seen at an instant follows from these, so nothing needs a timer. After 7 days stopped, RDS and Aurora
 * start by themselves (`autoStart`).
 */
interface PowerClock {
  on: boolean;
  since: Date | null;
  startSeconds: number;
  stopSeconds: number;
  autoStart: boolean;
}

const SEVEN_DAYS_MS = 7 * 24 * 3600 * 1000;

type PowerPhase = 'on' | 'off' | 'starting' | 'stopping';

function phaseOf(p: PowerClock, now: Date): PowerPhase {
  if (p.since === null) return p.on ? 'on' : 'off';
  const elapsed = now.getTime() - p.since.getTime();
  if (p.on) return elapsed < p.startSeconds * 1000 ? 'starting' : 'on';
  if (elapsed < p.stopSeconds * 1000) return 'stopping';
  if (p.autoStart && elapsed >= p.stopSeconds * 1000 + SEVEN_DAYS_MS) {
    // AWS starts it again: from then on it is starting, then on.
    const startedAt = new Date(p.since.getTime() + p.stopSeconds * 1000 + SEVEN_DAYS_MS);
    p.on = true;
    p.since = startedAt;
    return phaseOf(p, now);
  }
  return 'off';
}

interface Ec2State {
  id: string;
  hibernation: boolean;
  power: PowerClock;
  hibernated: boolean;
}

interface DbState {
  id: string;
  engine: string;
  power: PowerClock;
}

const ECS_DIMENSION = 'ecs:service:DesiredCount';
const ACCOUNT = '000000000000';
const REGION = 'us-east-1';

export class AwsSimulator {
  readonly #now: () => Date;
  readonly #services = new Map<string, EcsState>();
  readonly #clusters = new Map<string, ClusterState>();
  readonly #instances = new Map<string, InstanceState>();
  readonly #ec2 = new Map<string, Ec2State>();
  readonly #dbs = new Map<string, DbState>();
  readonly #tasks: SimulatedTasks;
  #requests = 0;

  constructor(description: SimulatorSpec, options: SimulatorOptions = {}) {
    const spec = parseSimulatorSpec(description);
    this.#now = options.now ?? (() => new Date());
    const start = this.#now();
    const clusters = new Set(spec.clusters ?? []);
    this.#tasks = new SimulatedTasks(spec.taskDefinitions ?? {}, {
      now: this.#now,
      region: REGION,
      account: ACCOUNT,
      clusters: () => new Set([...clusters, ...[...this.#services.values()].map((s) => s.cluster)]),
      error: awsError,
    });
    for (const s of Object.values(spec.ecs ?? {})) {
      const state: EcsState = { cluster: s.cluster, service: s.service, desiredCount: s.desiredCount };
      if (s.scalableTarget) state.target = { ...s.scalableTarget, createdAt: start };
      state.desiredCount = heldByTarget(state);
      this.#services.set(`${s.cluster}/${s.service}`, state);
    }
    for (const [id, c] of Object.entries(spec.aurora ?? {})) {
      this.#clusters.set(id, {
        id,
        engine: c.engine,
        writer: c.writer,
        readySeconds: c.readySeconds ?? 700,
        deleteSeconds: c.deleteSeconds ?? 300,
        power: {
          on: c.status !== 'stopped',
          since: null,
          startSeconds: c.startSeconds ?? 420,
          stopSeconds: c.stopSeconds ?? 300,
          autoStart: true,
        },
      });
      for (const instanceId of [c.writer, ...(c.readers ?? [])]) {
        this.#instances.set(instanceId, {
          id: instanceId,
          clusterId: id,
          instanceClass: 'db.r6g.large',
          engine: c.engine,
          createdAt: start,
          readyAt: null,
          deletedAt: null,
          promotionTier: 1,
          tags: [],
        });
      }
    }
    for (const [id, e] of Object.entries(spec.ec2 ?? {})) {
      this.#ec2.set(id, {
        id,
        hibernation: e.hibernation ?? false,
        hibernated: false,
        power: {
          on: e.state === 'running',
          since: null,
          startSeconds: e.startSeconds ?? 30,
          stopSeconds: e.stopSeconds ?? 45,
          autoStart: false,
        },
      });
    }
    for (const [id, d] of Object.entries(spec.rds ?? {})) {
      if (this.#instances.has(id)) {
        throw new ConfigError([
          {
            field: `aws.simulate.rds.${id}`,
            message: 'is already an instance of a simulated Aurora cluster',
          },
        ]);
      }
      this.#dbs.set(id, {
        id,
        engine: d.engine,
        power: {
          on: d.status === 'available',
          since: null,
          startSeconds: d.startSeconds ?? 300,
          stopSeconds: d.stopSeconds ?? 240,
          autoStart: true,
        },
      });
    }
  }

  /** Answer one command as AWS would; `service` is the SDK's serviceId (e.g. `ECS`, `RDS`). */
  async send(service: string, command: string, input: Input): Promise<Output> {
    const output = this.#dispatch(service, command, input ?? {});
    this.#requests += 1;
    return { ...output, $metadata: { httpStatusCode: 200, requestId: `sim-${this.#requests}` } };
  }

  /**
   * The answer to a command dry-run withheld from AWS, or undefined (then it is only recorded). A RunTask is played
   * as a task that starts and stops like any other, so that demo mode shows a rule's whole loop (the task, its
   * STOPPED event, the report) while nothing changes anywhere; no other command is played.
   */
  async dryRunAnswer(service: string, command: string, input: Input): Promise<Output | undefined> {
    if (`${service}:${command}` !== 'ECS:RunTask') return undefined;
    const output = this.#tasks.runTask(input ?? {}, { dryRun: true });
    this.#requests += 1;
    return { ...output, $metadata: { httpStatusCode: 200, requestId: `sim-${this.#requests}` } };
  }

  /** The ECS task state change events since the last call, as EventBridge would deliver them (demo mode). */
  takeEvents(): Array<Record<string, unknown>> {
    return this.#tasks.takeEvents();
  }

  #dispatch(service: string, command: string, input: Input): Output {
    switch (`${service}:${command}`) {
      case 'ECS:DescribeTaskDefinition':
        return this.#tasks.describeTaskDefinition(input);
      case 'ECS:RunTask':
        return this.#tasks.runTask(input, { dryRun: false });
      case 'ECS:ListTasks':
        return this.#tasks.listTasks(input);
      case 'ECS:DescribeTasks':
        return this.#tasks.describeTasks(input);
      case 'ECS:DescribeServices':
        return this.#describeServices(input);
      case 'ECS:UpdateService':
        return this.#updateService(input);
      case 'Application Auto Scaling:DescribeScalableTargets':
        return this.#describeScalableTargets(input);
      case 'Application Auto Scaling:RegisterScalableTarget':
        return this.#registerScalableTarget(input);
      case 'RDS:DescribeDBClusters':
        return this.#describeDBClusters(input);
      case 'RDS:DescribeDBInstances':
        return this.#describeDBInstances(input);
      case 'RDS:CreateDBInstance':
        return this.#createDBInstance(input);
      case 'RDS:DeleteDBInstance':
        return this.#deleteDBInstance(input);
      case 'RDS:StartDBInstance':
        return this.#powerDBInstance(input, true);
      case 'RDS:StopDBInstance':
        return this.#powerDBInstance(input, false);
      case 'RDS:StartDBCluster':
        return this.#powerDBCluster(input, true);
      case 'RDS:StopDBCluster':
        return this.#powerDBCluster(input, false);
      case 'EC2:DescribeInstances':
        return this.#describeInstances(input);
      case 'EC2:StartInstances':
        return this.#powerInstances(input, true);
      case 'EC2:StopInstances':
        return this.#powerInstances(input, false);
      default:
        throw awsError('UnsupportedOperation', `The simulator does not model ${service} ${command}`);
    }
  }

  // ---- ECS -------------------------------------------------------------------------------------------------

  #describeServices(input: Input): Output {
    const cluster = lastSegment(str(input.cluster) ?? 'default');
    if (![...this.#services.values()].some((s) => s.cluster === cluster)) {
      throw awsError('ClusterNotFoundException', 'Cluster not found.');
    }
    const services: Output[] = [];
    const failures: Output[] = [];
    for (const name of (input.services as string[] | undefined) ?? []) {
      const state = this.#services.get(`${cluster}/${lastSegment(name)}`);
      if (state) services.push(this.#serviceView(state));
      else failures.push({ arn: serviceArn(cluster, lastSegment(name)), reason: 'MISSING' });
    }
    return { services, failures };
  }

  #updateService(input: Input): Output {
    const cluster = lastSegment(str(input.cluster) ?? 'default');
    const state = this.#services.get(`${cluster}/${lastSegment(str(input.service) ?? '')}`);
    if (!state) throw awsError('ServiceNotFoundException', 'Service not found.');
    if (typeof input.desiredCount === 'number') {
      if (input.desiredCount < 0) throw awsError('InvalidParameterException', 'desiredCount must be >= 0.');
      state.desiredCount = input.desiredCount;
      state.desiredCount = heldByTarget(state);
    }
    return { service: this.#serviceView(state) };
  }

  #serviceView(state: EcsState): Output {
    const desired = state.desiredCount;
    return {
      serviceName: state.service,
      serviceArn: serviceArn(state.cluster, state.service),
      clusterArn: `arn:aws:ecs:${REGION}:${ACCOUNT}:cluster/${state.cluster}`,
      status: 'ACTIVE',
      desiredCount: desired,
      runningCount: desired,
      pendingCount: 0,
      launchType: 'FARGATE',
    };
  }

  // ---- Application Auto Scaling -----------------------------------------------------------------------------

  #describeScalableTargets(input: Input): Output {
    if (input.ServiceNamespace !== 'ecs') return { ScalableTargets: [] };
    const ids = input.ResourceIds as string[] | undefined;
    const dimension = str(input.ScalableDimension);
    if (dimension && dimension !== ECS_DIMENSION) return { ScalableTargets: [] };
    const targets: Output[] = [];
    for (const state of this.#services.values()) {
      const resourceId = `service/${state.cluster}/${state.service}`;
      if (!state.target || (ids && !ids.includes(resourceId))) continue;
      targets.push({
        ServiceNamespace: 'ecs',
        ResourceId: resourceId,
        ScalableDimension: ECS_DIMENSION,
        MinCapacity: state.target.min,
        MaxCapacity: state.target.max,
        RoleARN: `arn:aws:iam::${ACCOUNT}:role/aws-service-role/ecs.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_ECSService`,
        CreationTime: state.target.createdAt,
        SuspendedState: {
          DynamicScalingInSuspended: false,
          DynamicScalingOutSuspended: false,
          ScheduledScalingSuspended: false,
        },
      });
    }
    return { ScalableTargets: targets };
  }

  #registerScalableTarget(input: Input): Output {
    if (input.ServiceNamespace !== 'ecs' || input.ScalableDimension !== ECS_DIMENSION) {
      throw awsError('ValidationException', 'The simulator models only ECS service desired counts.');
    }
    const match = /^service\/([^/]+)\/([^/]+)$/.exec(str(input.ResourceId) ?? '');
    const state = match ? this.#services.get(`${match[1]}/${match[2]}`) : undefined;
    if (!state)
      throw awsError('ValidationException', `ECS service doesn't exist: ${String(input.ResourceId)}`);
    const min = num(input.MinCapacity) ?? state.target?.min;
    const max = num(input.MaxCapacity) ?? state.target?.max;
    if (min === undefined || max === undefined) {
      throw awsError(
        'ValidationException',
        'MinCapacity and MaxCapacity are required for a new scalable target.',
      );
    }
    if (min < 0 || max < min) {
      throw awsError('ValidationException', 'Minimum capacity cannot be greater than maximum capacity.');
    }
    state.target = { min, max, createdAt: state.target?.createdAt ?? this.#now() };
    state.desiredCount = heldByTarget(state);
    return {
      ScalableTargetARN: `arn:aws:application-autoscaling:${REGION}:${ACCOUNT}:scalable-target/${state.cluster}-${state.service}`,
    };
  }

  // ---- RDS / Aurora -----------------------------------------------------------------------------------------

  #describeDBClusters(input: Input): Output {
    const id = str(input.DBClusterIdentifier);
    let clusters = id ? [this.#clusters.get(id)] : [...this.#clusters.values()];
    if (id && !clusters[0]) throw awsError('DBClusterNotFoundFault', `DBCluster ${id} not found.`);
    for (const filter of (input.Filters as { Name?: string; Values?: string[] }[] | undefined) ?? []) {
      if (filter.Name !== 'db-cluster-id') {
        throw awsError('InvalidParameterValue', `Unrecognized filter name: ${String(filter.Name)}`);
      }
      clusters = clusters.filter((c) => c && filter.Values?.includes(c.id));
    }
    return { DBClusters: clusters.filter((c) => c !== undefined).map((c) => this.#clusterView(c)) };
  }

  #powerDBCluster(input: Input, start: boolean): Output {
    const id = str(input.DBClusterIdentifier) ?? '';
    const cluster = this.#clusters.get(id);
    if (!cluster) throw awsError('DBClusterNotFoundFault', `DBCluster ${id} not found.`);
    const phase = phaseOf(cluster.power, this.#now());
    if (phase !== (start ? 'off' : 'on')) {
      throw awsError('InvalidDBClusterStateFault', `DbCluster ${id} is in ${clusterStatus(phase)} state.`);
    }
    cluster.power.on = start;
    cluster.power.since = this.#now();
    return { DBCluster: this.#clusterView(cluster) };
  }

  #powerDBInstance(input: Input, start: boolean): Output {
    const id = (str(input.DBInstanceIdentifier) ?? '').toLowerCase();
    const member = this.#visibleInstances().find((i) => i.id === id);
    if (member) {
      throw awsError(
        'InvalidParameterCombination',
        `${member.engine} DB instances are not eligible for stopping and starting.`,
      );
    }
    const db = this.#dbs.get(id);
    if (!db) throw awsError('DBInstanceNotFoundFault', `DBInstance ${id} not found.`);
    const phase = phaseOf(db.power, this.#now());
    if (phase !== (start ? 'off' : 'on')) {
      throw awsError(
        'InvalidDBInstanceStateFault',
        `Instance ${id} is not in ${start ? 'stopped' : 'available'} state.`,
      );
    }
    db.power.on = start;
    db.power.since = this.#now();
    return { DBInstance: this.#dbView(db) };
  }

  #dbView(db: DbState): Output {
    const status = clusterStatus(phaseOf(db.power, this.#now()));
    return {
      DBInstanceIdentifier: db.id,
      DBInstanceArn: `arn:aws:rds:${REGION}:${ACCOUNT}:db:${db.id}`,
      DBInstanceClass: 'db.t4g.medium',
      Engine: db.engine,
      DBInstanceStatus: status,
      PubliclyAccessible: false,
      TagList: [],
    };
  }

  // ---- EC2 --------------------------------------------------------------------------------------------------

  #describeInstances(input: Input): Output {
    const ids = (input.InstanceIds as string[] | undefined) ?? [...this.#ec2.keys()];
    const unknown = ids.filter((id) => !this.#ec2.has(id));
    if (unknown.length > 0) {
      throw awsError(
        'InvalidInstanceID.NotFound',
        unknown.length === 1
          ? `The instance ID '${unknown[0]}' does not exist`
          : `The instance IDs '${unknown.join(', ')}' do not exist`,
      );
    }
    return {
      Reservations: [
        {
          ReservationId: 'r-0sim',
          OwnerId: ACCOUNT,
          Instances: ids.map((id) => this.#ec2View(this.#ec2.get(id)!)),
        },
      ],
    };
  }

  #ec2View(e: Ec2State): Output {
    const name = ec2StateName(phaseOf(e.power, this.#now()));
    return {
      InstanceId: e.id,
      InstanceType: 't3.medium',
      State: { Name: name, Code: EC2_STATE_CODES[name] },
      HibernationOptions: { Configured: e.hibernation },
    };
  }

  /** EC2 changes the whole list or nothing: one instance in the wrong state fails the call. */
  #powerInstances(input: Input, start: boolean): Output {
    const ids = (input.InstanceIds as string[] | undefined) ?? [];
    const unknown = ids.filter((id) => !this.#ec2.has(id));
    if (unknown.length > 0) {
      throw awsError('InvalidInstanceID.NotFound', `The instance IDs '${unknown.join(', ')}' do not exist`);
    }
    const now = this.#now();
    const list = ids.map((id) => this.#ec2.get(id)!);
    for (const e of list) {
      const phase = phaseOf(e.power, now);
      if (phase === 'starting' || phase === 'stopping') {
        throw awsError(
          'IncorrectInstanceState',
          `The instance '${e.id}' is not in a state from which it can be ${start ? 'started' : 'stopped'}.`,
        );
      }
    }
    const hibernate = !start && input.Hibernate === true;
    const unable = hibernate ? list.find((e) => !e.hibernation) : undefined;
    if (unable) {
      throw awsError(
        'UnsupportedHibernationConfiguration',
        `The instance ${unable.id} is not enabled for hibernation.`,
      );
    }
    const changes = list.map((e) => {
      const previous = ec2StateName(phaseOf(e.power, now));
      if (e.power.on !== start) {
        e.power.on = start;
        e.power.since = now;
        e.hibernated = hibernate;
      }
      const current = ec2StateName(phaseOf(e.power, now));
      return {
        InstanceId: e.id,
        PreviousState: { Name: previous, Code: EC2_STATE_CODES[previous] },
        CurrentState: { Name: current, Code: EC2_STATE_CODES[current] },
      };
    });
    return start ? { StartingInstances: changes } : { StoppingInstances: changes };
  }

  #clusterView(cluster: ClusterState): Output {
    const members = this.#visibleInstances()
      .filter((i) => i.clusterId === cluster.id)
      .map((i) => ({
        DBInstanceIdentifier: i.id,
        IsClusterWriter: i.id === cluster.writer,
        DBClusterParameterGroupStatus: 'in-sync',
        PromotionTier: i.promotionTier,
      }));
    return {
      DBClusterIdentifier: cluster.id,
      DBClusterArn: `arn:aws:rds:${REGION}:${ACCOUNT}:cluster:${cluster.id}`,
      Engine: cluster.engine,
      Status: clusterStatus(phaseOf(cluster.power, this.#now())),
      MultiAZ: members.length > 1,
      DBClusterMembers: members,
    };
  }

  #describeDBInstances(input: Input): Output {
    const id = str(input.DBInstanceIdentifier)?.toLowerCase();
    let instances = this.#visibleInstances();
    if (id) {
      instances = instances.filter((i) => i.id === id);
      if (instances.length === 0 && !this.#dbs.has(id)) {
        throw awsError('DBInstanceNotFoundFault', `DBInstance ${id} not found.`);
      }
    }
    for (const filter of (input.Filters as { Name?: string; Values?: string[] }[] | undefined) ?? []) {
      if (filter.Name === 'db-cluster-id') {
        instances = instances.filter((i) => filter.Values?.includes(i.clusterId));
      } else if (filter.Name === 'db-instance-id') {
        instances = instances.filter((i) => filter.Values?.includes(i.id));
      } else {
        throw awsError('InvalidParameterValue', `Unrecognized filter name: ${String(filter.Name)}`);
      }
    }
    const members = instances.map((i) => this.#instanceView(i));
    let dbs = [...this.#dbs.values()];
    if (id) dbs = dbs.filter((d) => d.id === id);
    for (const filter of (input.Filters as { Name?: string; Values?: string[] }[] | undefined) ?? []) {
      if (filter.Name === 'db-cluster-id') dbs = [];
      else if (filter.Name === 'db-instance-id') dbs = dbs.filter((d) => filter.Values?.includes(d.id));
    }
    return { DBInstances: [...members, ...dbs.map((d) => this.#dbView(d))] };
  }

  #createDBInstance(input: Input): Output {
    const id = (str(input.DBInstanceIdentifier) ?? '').toLowerCase();
    if (!/^[a-z](?!.*--)[a-z0-9-]{0,62}$/.test(id) || id.endsWith('-')) {
      throw awsError('InvalidParameterValue', `Invalid DB instance identifier: ${id}`);
    }
    const clusterId = str(input.DBClusterIdentifier);
    const cluster = clusterId ? this.#clusters.get(clusterId) : undefined;
    if (!cluster) throw awsError('DBClusterNotFoundFault', `DBCluster ${String(clusterId)} not found.`);
    this.#requireClusterAvailable(cluster);
    if (this.#visibleInstances().some((i) => i.id === id) || this.#dbs.has(id)) {
      throw awsError('DBInstanceAlreadyExistsFault', 'DB instance already exists');
    }
    if (input.Engine !== cluster.engine) {
      throw awsError(
        'InvalidParameterCombination',
        `The engine name requested for your DB instance (${String(input.Engine)}) doesn't match the engine name of your DB cluster (${cluster.engine}).`,
      );
    }
    const now = this.#now();
    const instance: InstanceState = {
      id,
      clusterId: cluster.id,
      instanceClass: str(input.DBInstanceClass) ?? 'db.r6g.large',
      engine: cluster.engine,
      createdAt: now,
      readyAt: new Date(now.getTime() + cluster.readySeconds * 1000),
      deletedAt: null,
      promotionTier: num(input.PromotionTier) ?? 1,
      tags: ((input.Tags as { Key?: string; Value?: string }[] | undefined) ?? []).map((t) => ({
        Key: t.Key ?? '',
        Value: t.Value ?? '',
      })),
    };
    this.#instances.set(id, instance);
    return { DBInstance: this.#instanceView(instance) };
  }

  #deleteDBInstance(input: Input): Output {
    const id = (str(input.DBInstanceIdentifier) ?? '').toLowerCase();
    const instance = this.#visibleInstances().find((i) => i.id === id);
    if (!instance) throw awsError('DBInstanceNotFoundFault', `DBInstance ${id} not found.`);
    const cluster = this.#clusters.get(instance.clusterId);
    if (cluster) this.#requireClusterAvailable(cluster);
    if (cluster?.writer === id) {
      throw awsError(
        'InvalidDBClusterStateFault',
        `Cannot delete the writer instance ${id} of cluster ${cluster.id} in this simulation.`,
      );
    }
    if (instance.deletedAt)
      throw awsError('InvalidDBInstanceStateFault', `Instance ${id} is already being deleted.`);
    instance.deletedAt = this.#now();
    return { DBInstance: this.#instanceView(instance) };
  }

  /** A stopped (or starting, stopping) cluster accepts no new reader and deletes none. */
  #requireClusterAvailable(cluster: ClusterState): void {
    const phase = phaseOf(cluster.power, this.#now());
    if (phase !== 'on') {
      throw awsError(
        'InvalidDBClusterStateFault',
        `DbCluster ${cluster.id} is in ${clusterStatus(phase)} state.`,
      );
    }
  }

  /** Instances that still exist: a deleted one lingers in `deleting` for the cluster's deleteSeconds. */
  #visibleInstances(): InstanceState[] {
    const now = this.#now().getTime();
    return [...this.#instances.values()].filter((i) => {
      if (!i.deletedAt) return true;
      const deleteSeconds = this.#clusters.get(i.clusterId)?.deleteSeconds ?? 0;
      return now < i.deletedAt.getTime() + deleteSeconds * 1000;
    });
  }

  #instanceView(i: InstanceState): Output {
    const now = this.#now().getTime();
    const cluster = this.#clusters.get(i.clusterId);
    const phase = cluster ? phaseOf(cluster.power, this.#now()) : 'on';
    const status = i.deletedAt
      ? 'deleting'
      : i.readyAt && now < i.readyAt.getTime()
        ? 'creating'
        : clusterStatus(phase);
    const view: Output = {
      DBInstanceIdentifier: i.id,
      DBInstanceArn: `arn:aws:rds:${REGION}:${ACCOUNT}:db:${i.id}`,
      DBInstanceClass: i.instanceClass,
      Engine: i.engine,
      DBInstanceStatus: status,
      DBClusterIdentifier: i.clusterId,
      PubliclyAccessible: false,
      PromotionTier: i.promotionTier,
      TagList: i.tags.map((t) => ({ ...t })),
    };
    // Like RDS, the creation time appears once the instance has actually been created.
    if (status !== 'creating') view.InstanceCreateTime = i.readyAt ?? i.createdAt;
    return view;
  }
}

/**
 * Application Auto Scaling keeps a service's desired count inside its scalable target's [min, max]: a desired
 * count set directly outside that range is overridden (here at once, on AWS within moments). This is why chronops
 * raises MinCapacity rather than the desired count of such services.
 */
function heldByTarget(state: EcsState): number {
  if (!state.target) return state.desiredCount;
  return Math.min(state.target.max, Math.max(state.target.min, state.desiredCount));
}

/** RDS' word for a phase (instances and clusters alike). */
function clusterStatus(phase: PowerPhase): string {
  return phase === 'on' ? 'available' : phase === 'off' ? 'stopped' : phase;
}

function ec2StateName(phase: PowerPhase): 'running' | 'stopped' | 'pending' | 'stopping' {
  return phase === 'on'
    ? 'running'
    : phase === 'off'
      ? 'stopped'
      : phase === 'starting'
        ? 'pending'
        : 'stopping';
}

const EC2_STATE_CODES = { pending: 0, running: 16, stopping: 64, stopped: 80 } as const;

function awsError(name: string, message: string): Error {
  const error = new Error(message);
  error.name = name;
  Object.assign(error, { $fault: 'client', $metadata: { httpStatusCode: 400 } });
  return error;
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function lastSegment(nameOrArn: string): string {
  return nameOrArn.slice(nameOrArn.lastIndexOf('/') + 1);
}

function serviceArn(cluster: string, service: string): string {
  return `arn:aws:ecs:${REGION}:${ACCOUNT}:service/${cluster}/${service}`;
}
