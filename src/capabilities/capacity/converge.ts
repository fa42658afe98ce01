// Capacity windows on the timer loop: the handler that converges a resource when its transitions fall due
// (kind `capacity.converge`, key: the resource), and the one that follows a new Aurora reader until it is
// available (kind `capacity.reader`, key: the instance). The loop (src/timers/) decides when and where they run
// and keeps a resource to one converge at a time across servers; this file decides what a converge is.
import { randomUUID } from 'node:crypto';
import type { CloudCall } from '../../aws/gateway.ts';
import type { EventBus } from '../../kernel/events.ts';
import type { Logger } from '../../kernel/logger.ts';
import type { Metrics } from '../../kernel/metrics.ts';
import { formatDuration } from '../../kernel/time.ts';
import type { DbTx } from '../../store/db.ts';
import { GroupCommit } from '../../store/group-commit.ts';
import {
  LostClaimError,
  type TimerHandler,
  type TimerRunContext,
  type TimerScheduler,
} from '../../timers/port.ts';
import type { ActionContext, CapacityAction, ReaderWatcher } from './actions/port.ts';
import type { AuroraResource, ConvergeOutcome, EcsResource, Resource, Target, Transition } from './model.ts';
import { targetAt } from './plan.ts';
import type { ProgressReport, ProgressSink } from './progress.ts';
import {
  type AuditEntry,
  cloudCallAudit,
  type ExecutionRecord,
  type ExecutionResult,
  type RecordedExecution,
  type Store,
  TimerKinds,
} from './store.ts';

export interface CapacityConvergerOptions {
  store: Store;
  timers: TimerScheduler;
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
  now?: () => Date;
}

/**
 * Asked before a window raises a resource, when office-hours power is on (the host wires it: capabilities do not
 * import each other): power turns the resource on first if its schedule has it off — a stopped Aurora cluster
 * cannot take readers. Not ready: the converge looks again after `retryAfterMs`, its transition still fired.
 */
export interface PowerFirst {
  beforeRaise(
    resource: string,
    ctx: { dryRun: boolean },
  ): Promise<{ ready: true } | { ready: false; retryAfterMs: number; reason: string }>;
}

/** How long a converge waits for power (a cluster starting) before it goes ahead anyway and fails in AWS' words. */
const POWER_WAIT_LIMIT_MS = 30 * 60_000;

/** What a reader-following row carries. */
export interface ReaderCheck {
  instanceId: string;
  resource: string;
}

/**
 * Carries out capacity transitions: "converge this resource now" to the plan as it stands at that instant. One
 * run carries out every fired transition of the resource due by the time it starts (they are covered by it).
 */
export class CapacityConverger {
  private readonly o: CapacityConvergerOptions;
  private readonly now: () => Date;
  /** Office-hours power, when the host runs it. */
  power: PowerFirst | undefined;
  /**
   * The chat threads' reporter, when the host runs one: each step's messages are queued in the transaction that
   * records the step, so that they reach the thread exactly once whatever moment the process dies at.
   */
  progress: ProgressSink | undefined;
  /** Audit records of the cloud calls of executions under way, written with the execution's end. */
  private readonly pendingCalls = new Map<string, AuditEntry[]>();
  /** Outcomes of executions finishing together share one commit: the disk flush per commit is the limit. */
  private readonly outcomes: GroupCommit<
    {
      e: ExecutionRecord;
      result: ExecutionResult;
      alsoInTx?: (tx: DbTx) => Promise<boolean>;
      thenInTx?: (tx: DbTx, recorded: RecordedExecution) => Promise<void>;
    },
    RecordedExecution
  >;

  constructor(options: CapacityConvergerOptions) {
    this.o = options;
    this.now = options.now ?? (() => new Date());
    // Small batches: on the embedded database a transaction holds the only connection while it runs.
    this.outcomes = new GroupCommit((items) => this.o.store.recordExecutions(items), { maxBatch: 16 });
  }

  /** The handlers to register on the timer loop. */
  handlers(): TimerHandler[] {
    const converge: TimerHandler = {
      kind: TimerKinds.converge,
      retry: { limit: 5, delaySeconds: 5, backoff: true, maxDelaySeconds: 120 },
      onFire: async (tx, timers) => {
        const { fired, missed } = await this.o.store.fireTransitions(tx, timers, this.o.node, this.o.graceMs);
        await this.report(
          missed.map((t) => ({ event: 'transition.missed', payload: { transition: t } })),
          tx,
        );
        return {
          skip: missed.map((t) => t.id),
          afterCommit: () => {
            if (missed.length > 0) this.progress?.wake();
            for (const t of [...fired, ...missed]) this.o.metrics.lateness.observe(t.latenessMs / 1000);
            for (const t of missed) {
              this.o.metrics.transitions.inc({ kind: t.kind, outcome: 'missed' });
              this.o.logger.warn(
                { transition: t.id, resource: t.resource, latenessMs: t.latenessMs },
                'transition missed',
              );
              this.o.events.emit('transition.missed', { transition: t });
            }
          },
        };
      },
      run: (_timers, ctx) => this.runResource(ctx.key, ctx),
    };
    const reader: TimerHandler<ReaderCheck> = {
      kind: TimerKinds.reader,
      retry: { limit: 10, delaySeconds: 10, backoff: false },
      run: (timers, ctx) => this.followReader(timers.at(-1)!.payload, ctx),
    };
    return [converge, reader as TimerHandler];
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

  /**
   * Carries out the fired transitions of one resource: converge it to the plan as it stands now. Safe to run
   * twice (a run taken over after its server died): finished transitions are skipped, and converging is
   * idempotent. Other transitions of the same resource already due are finished by the same converge (covered).
   */
  async runResource(resourceName: string, ctx: TimerRunContext): Promise<void> {
    const { store, metrics, events, logger } = this.o;
    const begun = await store.beginExecution(resourceName, this.o.dryRun);
    if (begun === null) return;
    const { transition, dryRun, startedAt } = begun;
    const executionId = randomUUID();
    const record: ExecutionRecord = {
      id: executionId,
      transition,
      node: this.o.node,
      dryRun,
      startedAt,
      calls: [],
    };
    const resource = this.o.resources[transition.resource];
    if (!resource) {
      // Removed from the config since the window was made: touch nothing, and say so.
      const error = `resource "${transition.resource}" is no longer in the configuration; nothing was changed`;
      const recorded = await this.outcomes.submit({
        e: record,
        result: { status: 'failed', target: null, error, final: true },
        alsoInTx: (tx) => settled(ctx, tx),
        thenInTx: (tx) =>
          this.report([{ event: 'transition.failed', payload: { transition, error, willRetry: false } }], tx),
      });
      if (recorded.lost) return;
      this.progress?.wake();
      for (const t of recorded.finished) metrics.transitions.inc({ kind: t.kind, outcome: 'failed' });
      events.emit('transition.failed', { transition, error, willRetry: false });
      return;
    }
    const target = targetAt(begun.holds, resource.name, startedAt);
    if (target !== null && this.power && (await this.waitForPower(resource.name, transition, dryRun, ctx))) {
      return;
    }
    // Reported before any AWS call (a run resumed after a crash reports it again: the same key, one message).
    const started = { transition, target, executionId };
    await this.report([{ event: 'transition.started', payload: started }]).catch((error) =>
      logger.error({ err: error, transition: transition.id }, 'chat progress: could not queue a report'),
    );
    events.emit('transition.started', started);
    const actionCtx: ActionContext = {
      executionId,
      transitionId: transition.id,
      dryRun,
      // What this transition's first attempt saw: a resumed converge reports the change from there.
      ...(dryRun ? {} : { seen: (state: string) => store.firstSeen(transition.id, state) }),
    };
    this.pendingCalls.set(executionId, record.calls);
    const begunAt = performance.now();
    let outcome: ConvergeOutcome;
    try {
      outcome = await this.converge(resource, target, actionCtx);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.pendingCalls.delete(executionId);
      await this.outcomes.submit({
        e: record,
        result: {
          status: 'failed',
          target: target?.amount ?? null,
          error: message,
          final: !ctx.willRetry,
        },
        thenInTx: (tx) =>
          this.report(
            [
              {
                event: 'transition.failed',
                payload: { transition, error: message, willRetry: ctx.willRetry },
              },
            ],
            tx,
          ),
      });
      this.progress?.wake();
      metrics.transitions.inc({ kind: transition.kind, outcome: 'failed' });
      metrics.actions.inc({ kind: resource.kind, outcome: 'failed', dry_run: String(dryRun) });
      logger.error(
        { transition: transition.id, resource: resource.name, err: error, willRetry: ctx.willRetry },
        'transition failed',
      );
      events.emit('transition.failed', { transition, error: message, willRetry: ctx.willRetry });
      throw error;
    }
    this.pendingCalls.delete(executionId);
    const durationMs = performance.now() - begunAt;
    const toFollow = dryRun ? [] : [...(outcome.createdReaders ?? []), ...(outcome.pendingReaders ?? [])];
    const recorded = await this.outcomes.submit({
      e: record,
      result: {
        status: 'done',
        target: target?.amount ?? null,
        from: outcome.from,
        to: outcome.to,
        changed: outcome.changed,
        details: { ...outcome.details, createdReaders: outcome.createdReaders ?? [] },
      },
      // The run's end, and the readers to follow with their first look, commit with the execution.
      alsoInTx: async (tx) => {
        if (!(await settled(ctx, tx))) return false;
        if (toFollow.length > 0) await this.followNewReaders(tx, resource, transition, target, toFollow);
        return true;
      },
      // The thread's "done" commits with the record: once, however many transitions the converge covered.
      thenInTx: (tx, { finished }) =>
        this.report(
          finished.map((t) => ({
            event: 'transition.done',
            payload: { transition: t, target, executionId, outcome, durationMs },
          })),
          tx,
        ),
    });
    if (recorded.lost) {
      logger.warn(
        { resource: resource.name },
        'converge taken over by another server; its outcome is dropped',
      );
      return;
    }
    this.progress?.wake();
    const { finished, remaining } = recorded;
    // Left over: transitions of the other dry-run mode. One more run, after this one (the key is free now).
    if (remaining > 0) {
      await this.o.timers.schedule([
        { kind: TimerKinds.converge, key: resource.name, dueAt: new Date(), dedupe: `more:${executionId}` },
      ]);
    }
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
  }

  /**
   * Before raising a resource office hours have turned off: power turns it on first. True when it is not on yet:
   * this run ends (its transition stays fired) and the resource is converged again a little later.
   */
  private async waitForPower(
    resource: string,
    transition: Transition,
    dryRun: boolean,
    ctx: TimerRunContext,
  ): Promise<boolean> {
    const waited = this.now().getTime() - transition.dueAt.getTime();
    if (!this.power || waited > POWER_WAIT_LIMIT_MS) return false;
    const answer = await this.power.beforeRaise(resource, { dryRun });
    if (answer.ready) return false;
    this.o.logger.info({ resource, transition: transition.id, reason: answer.reason }, 'waiting for power');
    const dueAt = new Date(this.now().getTime() + answer.retryAfterMs);
    return this.o.store.db.transaction(async (tx) => {
      if (!(await settled(ctx, tx))) return true;
      await this.o.timers.schedule(
        [
          {
            kind: TimerKinds.converge,
            key: resource,
            dueAt,
            dedupe: `power:${transition.id}:${dueAt.toISOString()}`,
          },
        ],
        { tx },
      );
      return true;
    });
  }

  /** Queues the thread's messages of `reports` (inside `tx`: they commit with the record they report). */
  private async report(reports: ProgressReport[], tx?: DbTx): Promise<void> {
    if (reports.length > 0 && this.progress) await this.progress.queue(reports, tx);
  }

  private converge(resource: Resource, target: Target | null, ctx: ActionContext) {
    return resource.kind === 'ecs'
      ? this.o.actions.ecs.converge(resource, target, ctx)
      : this.o.actions.aurora.converge(resource, target, ctx);
  }

  /** Records readers to follow and schedules the first look at each one not followed already. */
  private async followNewReaders(
    tx: DbTx,
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
      tx,
    );
    const dueAt = new Date(this.now().getTime() + this.o.readers.pollSeconds * 1000);
    await this.o.timers.schedule(
      added.map((instanceId) => ({
        kind: TimerKinds.reader,
        key: instanceId,
        dueAt,
        payload: { instanceId, resource: resource.name } satisfies ReaderCheck,
        dedupe: `${instanceId}#0`,
      })),
      { tx },
    );
  }

  /**
   * One look at a new reader. Still creating → look again in `pollSeconds`, until `timeoutMinutes` after it
   * was requested (bounded polling). Available → its time-to-ready is recorded and reported. What it found and
   * the next look commit together with the run's end.
   */
  async followReader(job: ReaderCheck, ctx: TimerRunContext): Promise<void> {
    const { store, events, metrics } = this.o;
    const resource = this.o.resources[job.resource];
    const reader = await store.getReader(job.instanceId);
    if (resource?.kind !== 'aurora' || !reader || reader.status !== 'creating') return;
    const state = await this.o.actions.aurora.readerState(resource, job.instanceId, {
      executionId: '00000000-0000-0000-0000-000000000000',
      transitionId: reader.transitionId ?? '00000000-0000-0000-0000-000000000000',
      dryRun: false,
    });
    const report = await store.db.transaction(async (tx) => {
      await ctx.settle(tx);
      if (state === 'available') {
        const updated = await store.updateReader(job.instanceId, 'available', true, tx);
        const timeToReadyMs = updated.availableAt!.getTime() - updated.requestedAt.getTime();
        await this.report([{ event: 'reader.available', payload: { reader: updated, timeToReadyMs } }], tx);
        return () => {
          metrics.readerReadySeconds.observe(timeToReadyMs / 1000);
          this.o.logger.info(
            { reader: job.instanceId, timeToReady: formatDuration(timeToReadyMs) },
            'reader available',
          );
          events.emit('reader.available', { reader: updated, timeToReadyMs });
        };
      }
      if (state === 'creating') {
        const elapsedMs = this.now().getTime() - reader.requestedAt.getTime();
        if (elapsedMs > this.o.readers.timeoutMinutes * 60_000) {
          const updated = await store.updateReader(job.instanceId, 'timed-out', false, tx);
          const failed = {
            reader: updated,
            reason: `still not available after ${formatDuration(elapsedMs)}; chronops stopped watching it`,
          };
          await this.report([{ event: 'reader.failed', payload: failed }], tx);
          return () => events.emit('reader.failed', failed);
        }
        const updated = await store.updateReader(job.instanceId, 'creating', false, tx);
        await this.o.timers.schedule(
          [
            {
              kind: TimerKinds.reader,
              key: job.instanceId,
              dueAt: new Date(this.now().getTime() + this.o.readers.pollSeconds * 1000),
              payload: job,
              dedupe: `${job.instanceId}#${updated.checks}`,
            },
          ],
          { tx },
        );
        return undefined;
      }
      const updated = await store.updateReader(job.instanceId, state, false, tx);
      const failed = {
        reader: updated,
        reason: state === 'gone' ? 'the instance no longer exists' : 'the instance failed',
      };
      await this.report([{ event: 'reader.failed', payload: failed }], tx);
      return () => events.emit('reader.failed', failed);
    });
    if (report) {
      this.progress?.wake();
      report();
    }
  }
}

/** Settles the run in `tx`; false when another server has taken it over (record nothing then). */
async function settled(ctx: TimerRunContext, tx: DbTx): Promise<boolean> {
  try {
    await ctx.settle(tx);
    return true;
  } catch (error) {
    if (error instanceof LostClaimError) return false;
    throw error;
  }
}
