import { randomUUID } from 'node:crypto';
import type { Db as BossDb, JobWithMetadata, PgBoss } from 'pg-boss';
import type { CloudCall } from '../aws/gateway.ts';
import type { ActionContext, CapacityAction, ReaderWatcher } from '../capabilities/capacity/actions/port.ts';
import type {
  AuroraResource,
  ConvergeOutcome,
  EcsResource,
  Resource,
  Target,
  Transition,
} from '../capabilities/capacity/model.ts';
import { targetAt } from '../capabilities/capacity/plan.ts';
import {
  type AuditEntry,
  cloudCallAudit,
  type ExecutionRecord,
  type ExecutionResult,
  type Store,
} from '../capabilities/capacity/store.ts';
import type { EventBus } from '../kernel/events.ts';
import type { Logger } from '../kernel/logger.ts';
import type { Metrics } from '../kernel/metrics.ts';
import { Signal } from '../kernel/signal.ts';
import { formatDuration } from '../kernel/time.ts';
import { GroupCommit } from '../store/group-commit.ts';
import { Queues } from './boss.ts';

export interface EngineOptions {
  store: Store;
  boss: PgBoss;
  /** This process' name in fired_by, executions and audit. */
  node: string;
  resources: Record<string, Resource>;
  actions: { ecs: CapacityAction<EcsResource>; aurora: CapacityAction<AuroraResource> & ReaderWatcher };
  events: EventBus;
  metrics: Metrics;
  logger: Logger;
  /** Global dry-run: every converge only records its calls. */
  dryRun: boolean;
  graceMs: number;
  readers: { pollSeconds: number; timeoutMinutes: number };
  /** How often the next due time is read again (other servers may have added windows). Default 1000. */
  pollMs?: number;
  /** Most transitions claimed in one go. */
  claimBatch?: number;
  /** pg-boss workers on the transition queue in this process (more only helps on a PostgreSQL server). */
  workers?: number;
  now?: () => Date;
}

/**
 * "Converge this resource now": one job carries out every fired transition of the resource due by the time it
 * starts. The queue is `stately` with the resource as key, so a resource has at most one job waiting and one
 * running, across all servers.
 */
interface TransitionJob {
  resource: string;
}
interface ReaderJob {
  instanceId: string;
  resource: string;
}

/**
 * The heart of the server: fires transitions at their minute and carries them out.
 *
 * Timing is chronops' own: each server reads the earliest pending due time, sleeps until exactly then, and
 * claims what is due with one UPDATE … SKIP LOCKED (so a transition is fired by one server only). Work is
 * pg-boss's: the claim inserts a job per transition in the same transaction, and a pg-boss worker runs it with
 * retries, expiry of jobs whose worker died, and one job at a time per resource across all servers.
 * pg-boss alone would start delayed jobs only at its next poll (≥ 0.5 s, 30 s with NOTIFY on).
 */
export class Engine {
  private readonly o: EngineOptions;
  private readonly now: () => Date;
  private timer: NodeJS.Timeout | undefined;
  private poller: NodeJS.Timeout | undefined;
  private armedFor: number | undefined;
  private claiming: Promise<void> | undefined;
  private claimAgain = false;
  private readonly workSignal = new Signal();
  /** Audit records of the cloud calls of executions under way, written with the execution's end. */
  private readonly pendingCalls = new Map<string, AuditEntry[]>();
  /** Outcomes of executions finishing together share one commit: the disk flush per commit is the limit. */
  private readonly outcomes: GroupCommit<
    { e: ExecutionRecord; result: ExecutionResult; alsoInTx?: (bossDb: BossDb) => Promise<unknown> },
    { finished: Transition[]; remaining: number }
  >;
  private workers: Promise<void>[] = [];
  private stopped = true;
  private lastSweep = 0;

  constructor(options: EngineOptions) {
    this.o = options;
    this.now = options.now ?? (() => new Date());
    // Small batches: on the embedded database a transaction holds the only connection while it runs.
    this.outcomes = new GroupCommit((items) => this.o.store.recordExecutions(items), { maxBatch: 16 });
  }

  async start(): Promise<void> {
    this.stopped = false;
    this.workers = Array.from({ length: this.o.workers ?? 1 }, () => this.workLoop());
    await this.o.boss.work(
      Queues.reader,
      { batchSize: 10, pollingIntervalSeconds: 1 },
      async (jobs: { data: ReaderJob }[]) => {
        for (const job of jobs) await this.followReader(job.data);
      },
    );
    const pollMs = this.o.pollMs ?? 1000;
    this.poller = setInterval(() => this.wake(), pollMs);
    this.poller.unref();
    this.wake();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.poller) clearInterval(this.poller);
    if (this.timer) clearTimeout(this.timer);
    this.workSignal.notify();
    await this.claiming?.catch(() => {});
    await Promise.all(this.workers);
  }

  /**
   * A transition worker: fetches jobs while there are any (one per resource at a time, across all servers),
   * and sleeps only when the queue is empty, until this process fires something or the poll interval passes
   * (for jobs fired elsewhere, retried, or left by a server that died). pg-boss' own \`work()\` sleeps a full
   * polling interval after a short batch, which leaves fired transitions waiting.
   */
  private async workLoop(): Promise<void> {
    const pollMs = this.o.pollMs ?? 1000;
    while (!this.stopped) {
      let jobs: JobWithMetadata<TransitionJob>[] = [];
      try {
        jobs = await this.o.boss.fetch<TransitionJob>(Queues.transition, {
          batchSize: 25,
          includeMetadata: true,
        });
      } catch (error) {
        this.o.logger.error({ err: error }, 'scheduler: fetch failed');
      }
      if (jobs.length === 0) {
        await this.workSignal.wait(pollMs);
        continue;
      }
      await Promise.all(jobs.map((job) => this.runJob(job)));
    }
  }

  /**
   * A transition was added here that falls due at `dueAt`: arm the timer for it if it is sooner than what the
   * timer waits for. No database round trip, so creating windows in bulk stays cheap.
   */
  noteDue(dueAt: Date): void {
    if (this.stopped) return;
    const at = dueAt.getTime();
    if (at <= this.now().getTime()) {
      this.wake();
      return;
    }
    if (this.armedFor !== undefined && this.armedFor <= at) return;
    this.arm(dueAt);
  }

  /**
   * The audit record of a cloud call. A call that changed something in the cloud is written at once (if the
   * process dies next, the record is there); reads and dry-run records of an execution under way are written
   * with the execution's end, in the same statement, so that a converge costs a few statements, not one per call.
   */
  async recordCloudCall(call: CloudCall, executionId?: string): Promise<void> {
    const pending = executionId ? this.pendingCalls.get(executionId) : undefined;
    const changesSomething = call.ok && !call.dryRun && !/^(Describe|List|Get)/.test(call.command);
    if (pending && !changesSomething) {
      pending.push(cloudCallAudit(call, executionId));
      return;
    }
    await this.o.store.auditCloudCall(call, executionId);
  }

  /** Look at the schedule again now (a window was cancelled here, or the periodic check). */
  wake(): void {
    if (this.stopped) return;
    if (this.claiming !== undefined) {
      this.claimAgain = true;
      return;
    }
    this.claiming = this.claimAndArm()
      .catch((error) => this.o.logger.error({ err: error }, 'scheduler: claim failed'))
      .finally(() => {
        this.claiming = undefined;
        if (this.claimAgain) {
          this.claimAgain = false;
          this.wake();
        }
      });
  }

  private async claimAndArm(): Promise<void> {
    const limit = this.o.claimBatch ?? 500;
    await this.sweep();
    for (;;) {
      const { fired, missed } = await this.o.store.claimDue(this.o.node, this.o.graceMs, limit, (tx, due) =>
        this.enqueue(
          tx.bossDb,
          due.map((t) => t.resource),
        ),
      );
      for (const t of [...fired, ...missed]) this.o.metrics.lateness.observe(t.latenessMs / 1000);
      for (const t of missed) {
        this.o.metrics.transitions.inc({ kind: t.kind, outcome: 'missed' });
        this.o.logger.warn(
          { transition: t.id, resource: t.resource, latenessMs: t.latenessMs },
          'transition missed',
        );
        this.o.events.emit('transition.missed', { transition: t });
      }
      if (fired.length > 0) this.workSignal.notify();
      if (fired.length + missed.length >= limit) continue;
      const next = await this.o.store.nextDueAt();
      // Already due again (a burst): claim at once rather than through a timer. Under load the embedded
      // database resolves its queries in one long chain of promise callbacks, and a timer waits for it to end.
      if (next !== null && next.getTime() <= this.now().getTime()) continue;
      this.arm(next);
      return;
    }
  }

  /** A safety net: a fired transition whose job was lost (it should not happen) gets a new one. */
  private async sweep(): Promise<void> {
    if (this.now().getTime() - this.lastSweep < 5000) return;
    this.lastSweep = this.now().getTime();
    const stuck = await this.o.store.stragglers(30_000);
    if (stuck.length > 0) {
      this.o.logger.warn({ resources: stuck }, 'scheduler: re-enqueueing fired transitions without progress');
      await this.enqueue(undefined, stuck);
    }
  }

  private async enqueue(bossDb: BossDb | undefined, resources: Iterable<string>): Promise<void> {
    const jobs = [...new Set(resources)].map((resource) => ({
      data: { resource } satisfies TransitionJob,
      singletonKey: resource,
    }));
    if (jobs.length > 0)
      await this.o.boss.insert(Queues.transition, jobs, bossDb ? { db: bossDb } : undefined);
  }

  private arm(next: Date | null): void {
    if (this.stopped || next === null) return;
    const at = next.getTime();
    if (this.armedFor === at && this.timer) return;
    if (this.timer) clearTimeout(this.timer);
    const delay = Math.max(0, at - this.now().getTime());
    // Long sleeps are cut by the periodic poll anyway; a timer is only needed for the next poll interval.
    if (delay > 2 * (this.o.pollMs ?? 1000)) {
      this.armedFor = undefined;
      this.timer = undefined;
      return;
    }
    this.armedFor = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.armedFor = undefined;
      this.wake();
    }, delay);
    this.timer.unref();
  }

  private async runJob(job: JobWithMetadata<TransitionJob>): Promise<void> {
    const willRetry = job.retryCount < job.retryLimit;
    const attempt = { id: job.id, retryCount: job.retryCount };
    try {
      const settled = await this.runResource(job.data.resource, willRetry, (bossDb) =>
        this.o.boss.complete(Queues.transition, attempt, null, { db: bossDb }),
      );
      if (!settled) await this.o.boss.complete(Queues.transition, attempt);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      await this.o.boss
        .fail(Queues.transition, attempt, { message })
        .catch((e) => this.o.logger.error({ err: e }, 'scheduler: could not record a failed job'));
    }
  }

  /**
   * Carries out transitions of one resource: converge it to the plan as it stands now. Safe to run twice (a job
   * retried after its worker died): finished transitions are skipped, and converging is idempotent. Other
   * transitions of the same resource already due are finished by the same converge (covered). `settle` runs in
   * the transaction that records the outcome (the job's completion); returns whether it ran.
   */
  async runResource(
    resourceName: string,
    willRetry = false,
    settle?: (bossDb: BossDb) => Promise<unknown>,
  ): Promise<boolean> {
    const { store, metrics, events, logger } = this.o;
    const begun = await store.beginExecution(resourceName, this.o.dryRun);
    if (begun === null) return false;
    const { transition, dryRun, startedAt } = begun;
    const executionId = randomUUID();
    const record = {
      id: executionId,
      transition,
      node: this.o.node,
      dryRun,
      startedAt,
      calls: [] as AuditEntry[],
    };
    const resource = this.o.resources[transition.resource];
    if (!resource) {
      const error = `resource "${transition.resource}" is no longer in the configuration; nothing was changed`;
      await this.outcomes.submit({
        e: record,
        result: { status: 'failed', target: null, error },
        alsoInTx: settle,
      });
      metrics.transitions.inc({ kind: transition.kind, outcome: 'failed' });
      events.emit('transition.failed', { transition, error, willRetry: false });
      return true;
    }
    const target = targetAt(begun.holds, resource.name, startedAt);
    events.emit('transition.started', { transition, target, executionId });
    const ctx: ActionContext = { executionId, transitionId: transition.id, dryRun };
    this.pendingCalls.set(executionId, record.calls);
    const started = performance.now();
    let outcome: ConvergeOutcome;
    try {
      outcome = await this.converge(resource, target, ctx);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.pendingCalls.delete(executionId);
      await this.outcomes.submit({
        e: record,
        result: { status: 'failed', target: target?.amount ?? null, error: message },
      });
      metrics.transitions.inc({ kind: transition.kind, outcome: 'failed' });
      metrics.actions.inc({ kind: resource.kind, outcome: 'failed', dry_run: String(dryRun) });
      logger.error(
        { transition: transition.id, resource: resource.name, err: error, willRetry },
        'transition failed',
      );
      events.emit('transition.failed', { transition, error: message, willRetry });
      throw error;
    }
    this.pendingCalls.delete(executionId);
    const durationMs = performance.now() - started;
    const toFollow = [...(outcome.createdReaders ?? []), ...(outcome.pendingReaders ?? [])];
    if (toFollow.length > 0 && !dryRun) {
      await this.followNewReaders(resource, transition, target, toFollow);
    }
    const { finished, remaining } = await this.outcomes.submit({
      e: record,
      result: {
        status: 'done',
        target: target?.amount ?? null,
        from: outcome.from,
        to: outcome.to,
        changed: outcome.changed,
        details: { ...outcome.details, createdReaders: outcome.createdReaders ?? [] },
      },
      alsoInTx: settle,
    });
    // Left over: transitions of the other dry-run mode, or fired after this converge began. One more job.
    if (remaining > 0) await this.enqueue(undefined, [resource.name]);
    for (const t of finished) metrics.transitions.inc({ kind: t.kind, outcome: 'done' });
    metrics.actions.inc({
      kind: resource.kind,
      outcome: outcome.changed ? 'changed' : 'unchanged',
      dry_run: String(dryRun),
    });
    metrics.actionDuration.observe({ kind: resource.kind }, durationMs / 1000);
    logger.info(
      {
        transition: transition.id,
        covered: finished.length - 1,
        resource: resource.name,
        from: outcome.from,
        to: outcome.to,
        dryRun,
        durationMs: Math.round(durationMs),
      },
      'transition done',
    );
    for (const t of finished)
      events.emit('transition.done', { transition: t, target, executionId, outcome, durationMs });
    return true;
  }

  private converge(resource: Resource, target: Target | null, ctx: ActionContext) {
    return resource.kind === 'ecs'
      ? this.o.actions.ecs.converge(resource, target, ctx)
      : this.o.actions.aurora.converge(resource, target, ctx);
  }

  private async followNewReaders(
    resource: Resource,
    transition: Transition,
    target: Target | null,
    ids: string[],
  ): Promise<void> {
    // Only readers not followed already (a reader still on its way is found again by every converge).
    const added = await this.o.store.recordReaders(
      ids.map((instanceId) => ({
        instanceId,
        resource: resource.name,
        windowId: target?.windowIds[0] ?? transition.windowId,
        transitionId: transition.id,
      })),
    );
    for (const instanceId of added) {
      await this.o.boss.send(
        Queues.reader,
        { instanceId, resource: resource.name },
        { startAfter: this.o.readers.pollSeconds },
      );
    }
  }

  /**
   * One look at a new reader. Still creating → look again in `pollSeconds`, until `timeoutMinutes` after it
   * was requested (bounded polling). Available → its time-to-ready is recorded and reported.
   */
  async followReader(job: ReaderJob): Promise<void> {
    const { store, events, metrics } = this.o;
    const resource = this.o.resources[job.resource];
    const reader = await store.getReader(job.instanceId);
    if (resource?.kind !== 'aurora' || !reader || reader.status !== 'creating') return;
    const state = await this.o.actions.aurora.readerState(resource, job.instanceId, {
      executionId: '00000000-0000-0000-0000-000000000000',
      transitionId: reader.transitionId ?? '00000000-0000-0000-0000-000000000000',
      dryRun: false,
    });
    if (state === 'available') {
      const updated = await store.updateReader(job.instanceId, 'available', true);
      const timeToReadyMs = updated.availableAt!.getTime() - updated.requestedAt.getTime();
      metrics.readerReadySeconds.observe(timeToReadyMs / 1000);
      this.o.logger.info(
        { reader: job.instanceId, timeToReady: formatDuration(timeToReadyMs) },
        'reader available',
      );
      events.emit('reader.available', { reader: updated, timeToReadyMs });
      return;
    }
    if (state === 'creating') {
      const elapsedMs = this.now().getTime() - reader.requestedAt.getTime();
      if (elapsedMs > this.o.readers.timeoutMinutes * 60_000) {
        const updated = await store.updateReader(job.instanceId, 'timed-out', false);
        events.emit('reader.failed', {
          reader: updated,
          reason: `still not available after ${formatDuration(elapsedMs)}; chronops stopped watching it`,
        });
        return;
      }
      await store.updateReader(job.instanceId, 'creating', false);
      await this.o.boss.send(Queues.reader, job, { startAfter: this.o.readers.pollSeconds });
      return;
    }
    const updated = await store.updateReader(job.instanceId, state, false);
    events.emit('reader.failed', {
      reader: updated,
      reason: state === 'gone' ? 'the instance no longer exists' : 'the instance failed',
    });
  }
}
