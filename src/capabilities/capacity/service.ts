import { randomInt } from 'node:crypto';
import type { Config } from '../../kernel/config.ts';
import { ChronopsError } from '../../kernel/errors.ts';
import type { EventBus } from '../../kernel/events.ts';
import type { Metrics } from '../../kernel/metrics.ts';
import { GroupCommit } from '../../store/group-commit.ts';
import type { CapacityWindow, Transition, WindowStatus } from './model.ts';
import { transitionPoints } from './plan.ts';
import type { ProgressSink } from './progress.ts';
import type { AuditEntry, NewTransition, Store } from './store.ts';
import { buildHolds, type WindowRequest } from './windows.ts';

/** Who asked: the person (or system) and the door they came through (cli, api, slack, console). */
export interface Actor {
  id: string;
  source: string;
}

export interface CreatedWindow {
  window: CapacityWindow;
  transitions: Transition[];
  warnings: string[];
}

const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';

/**
 * Window ids are short enough to type in chat (`delete k3f9x2ab`) and valid inside an RDS instance identifier
 * (`hot-k3f9x2ab-1`): a letter then seven letters or digits.
 */
export function newWindowId(): string {
  let id = alphabet[randomInt(26)]!;
  for (let i = 0; i < 7; i++) id += alphabet[randomInt(alphabet.length)];
  return id;
}

/**
 * The use cases of capacity windows, the same for every door (HTTP API, CLI through the API, chat, console):
 * validate, store with an audit record, tell the scheduler, report.
 */
export class CapacityService {
  private readonly store: Store;
  private readonly config: Config;
  private readonly events: EventBus;
  private readonly metrics: Metrics;
  private readonly onScheduleChanged: (earliestDue: Date | null) => void;
  private readonly now: () => Date;
  /** Where a cancel queues its chat messages, in its transaction (set by the host when chat is on). */
  progress: ProgressSink | undefined = undefined;
  private readonly writes: GroupCommit<
    { window: CapacityWindow; transitions: NewTransition[]; audit: AuditEntry },
    Transition[]
  >;

  constructor(options: {
    store: Store;
    config: Config;
    events: EventBus;
    metrics: Metrics;
    /** Told when transitions were added (with the earliest due time) or changed (null: look again now). */
    onScheduleChanged?: (earliestDue: Date | null) => void;
    now?: () => Date;
  }) {
    this.store = options.store;
    this.config = options.config;
    this.events = options.events;
    this.metrics = options.metrics;
    this.onScheduleChanged = options.onScheduleChanged ?? (() => {});
    this.now = options.now ?? (() => new Date());
    this.writes = new GroupCommit((items) => this.store.createWindows(items));
  }

  async create(
    request: WindowRequest,
    actor: Actor,
    origin?: Record<string, unknown>,
  ): Promise<CreatedWindow> {
    const now = this.now();
    const built = await this.refusedIsAudited('window.create', actor, { request }, async () =>
      buildHolds(request, this.config, now),
    );
    const { holds, warnings, name, dryRun } = built;
    const window: CapacityWindow = {
      id: newWindowId(),
      name,
      holds,
      dryRun,
      status: 'scheduled',
      createdBy: actor.id,
      createdAt: now,
      origin: { source: actor.source, ...origin },
    };
    const transitions = await this.writes.submit({
      window,
      transitions: transitionPoints(holds).map((p) => ({ resource: p.resource, kind: p.kind, dueAt: p.at })),
      audit: {
        actor: actor.id,
        source: actor.source,
        action: 'window.create',
        outcome: 'ok',
        details: { request: request as unknown as Record<string, unknown>, warnings },
      },
    });
    this.metrics.windowsCreated.inc({ source: actor.source });
    this.onScheduleChanged(new Date(Math.min(...transitions.map((t) => t.dueAt.getTime()))));
    this.events.emit('window.created', { window, transitions, warnings });
    return { window, transitions, warnings };
  }

  async cancel(id: string, actor: Actor): Promise<CapacityWindow> {
    const progress = this.progress;
    const { window } = await this.refusedIsAudited('window.cancel', actor, { window: id }, () =>
      this.store.cancelWindow(
        id,
        { actor: actor.id, source: actor.source, action: 'window.cancel', outcome: 'ok' },
        // The plan message's update commits with the cancel: a crash right after it loses neither.
        progress ? (tx, cancelled) => progress.cancelled(cancelled, actor.id, tx) : undefined,
      ),
    );
    progress?.wake();
    this.metrics.windowsCancelled.inc();
    this.onScheduleChanged(null);
    this.events.emit('window.cancelled', { window, actor: actor.id });
    return window;
  }

  /** Runs a command; if it is refused (bad input, unknown or finished window), the refusal is audited too. */
  private async refusedIsAudited<T>(
    action: string,
    actor: Actor,
    details: Record<string, unknown>,
    fn: () => Promise<T>,
  ): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      if (error instanceof ChronopsError && error.status < 500) {
        await this.auditRefusal(action, actor, error.message, details).catch(() => {});
      }
      throw error;
    }
  }

  /** Records a refused or failed command, so that every command leaves an audit record. */
  async auditRefusal(
    action: string,
    actor: Actor,
    reason: string,
    details?: Record<string, unknown>,
  ): Promise<void> {
    await this.store.audit({
      actor: actor.id,
      source: actor.source,
      action,
      outcome: 'refused',
      details: { reason, ...details },
    });
  }

  get(id: string): Promise<CapacityWindow> {
    return this.store.getWindow(id);
  }

  list(statuses?: WindowStatus[], limit?: number): Promise<CapacityWindow[]> {
    return this.store.listWindows({ statuses, limit });
  }

  async details(id: string) {
    const window = await this.store.getWindow(id);
    const transitions = await this.store.listTransitions({ windowId: id });
    const executions = await this.store.listExecutions({ transitionIds: transitions.map((t) => t.id) });
    const coveringIds = transitions.map((t) => t.coveredBy).filter((id): id is string => Boolean(id));
    if (coveringIds.length > 0) {
      const known = new Set(executions.map((e) => e.id));
      const covering = await this.store.listExecutions({ ids: coveringIds.filter((id) => !known.has(id)) });
      executions.push(...covering);
    }
    const calls = executions.length
      ? await this.store.listAudit({ executionIds: executions.map((e) => e.id), limit: 1000 })
      : [];
    return { window, transitions, executions, calls };
  }
}
