// Office-hours power as it runs: the timer handler that carries out transitions (kind `power.check`), the use
// cases the doors call (status, info, exceptions, forced states), and the gate capacity windows ask before they
// raise a resource.
//
// Timing. Each resource has one due row on the one timer loop, at its next change (its schedule, an exception, a
// forced state, a capacity window), or sooner when it must be looked at again (a start under way, a retry, an
// enforced check). Rows are keyed by AWS kind and region (`ec2:eu-west-1`), not by resource: every row of a key
// that falls due in the same minute is handed to ONE run, which describes and starts/stops them in batches (EC2
// takes 100 instance ids per call, RDS describes 100 per page). The key also keeps one run per kind and region at
// a time across servers.
//
// What a run does is decided from state, not from the row: a transition is "the desired state differs from the
// one last carried out" (`power_state.applied`), so a row that fires late, twice, or after its exception moved is
// harmless, and a server that was down catches up at its first run.
import { randomUUID } from 'node:crypto';
import { ConflictError, NotFoundError, ValidationError } from '../../kernel/errors.ts';
import type { Logger } from '../../kernel/logger.ts';
import type { DbTx } from '../../store/db.ts';
import {
  type FiredTimer,
  LostClaimError,
  type TimerHandler,
  type TimerRunContext,
  type TimerScheduler,
  type TimerSpec,
} from '../../timers/port.ts';
import type { Observation, PowerAction, PowerContext, PowerItem } from './actions/port.ts';
import type { PowerConfig } from './config.ts';
import { decide } from './decide.ts';
import type {
  DayException,
  ForcedState,
  PowerOutcome,
  PowerResource,
  PowerSegment,
  PowerState,
  Schedule,
} from './model.ts';
import type { CapacityView, GateAnswer, PowerGate, ResourceHold } from './ports.ts';
import {
  dayIntervals,
  desiredStateAt,
  forcedUntil,
  isLocalDate,
  type LocalDate,
  localDateOf,
  nextChange,
  type PowerPlanInput,
  periodIntervalsOn,
  powerPlan,
} from './schedule.ts';
import {
  freshState,
  type PowerActionRecord,
  type PowerStore,
  type ResourceState,
  type StoredForce,
} from './store.ts';

export const PowerTimerKinds = { check: 'power.check' } as const;

/** What a due row carries. */
export interface PowerCheck {
  resource: string;
}

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
/** A transition that failed this many times in a row is given up until the next one (and says why). */
export const MAX_FAILURES = 5;

/** Where the outcome of a forced state is reported (the chat thread or room the command came from). */
export interface PowerReporter {
  forceDone(force: StoredForce, lines: ForceLine[]): Promise<void>;
}

export interface ForceLine {
  resource: string;
  state: string;
  ok: boolean;
}

export interface PowerServiceOptions {
  config: PowerConfig;
  store: PowerStore;
  timers: TimerScheduler;
  actions: {
    ec2: PowerAction<Extract<PowerResource, { kind: 'ec2' }>>;
    rds: PowerAction<Extract<PowerResource, { kind: 'rds' }>>;
    aurora: PowerAction<Extract<PowerResource, { kind: 'aurora' }>>;
    ecs: PowerAction<Extract<PowerResource, { kind: 'ecs' }>>;
  };
  dryRun: boolean;
  logger: Logger;
  now?: () => Date;
  /** How often resources of an enforced schedule are checked between transitions. Default 5 minutes. */
  checkMs?: number;
  /** How soon a resource on its way to a state is looked at again. Default 20 s. */
  followMs?: number;
  /** How soon a stop that waits for capacity's scale-in is tried again. Default 5 s. */
  capacityWaitMs?: number;
}

/** A resource's line in `status`. */
export interface ResourceStatus {
  resource: string;
  kind: PowerResource['kind'];
  /** What AWS says now (`running`, `stopped`, `stopping`…) and its own word for it. */
  observed: string;
  observedStatus: string;
  desired: PowerState;
  reason: PowerSegment['reason'];
  windows: string[];
  next: { at: Date; state: PowerState } | null;
  lastError: string | null;
}

export interface DayInfo {
  schedule: string;
  timezone: string;
  date: LocalDate;
  /** The schedule's own periods that day (local times). */
  periods: Array<{ from: string; until: string }>;
  exception: DayException | null;
  /** What runs that day once the exception is applied (local times; `until` may be the next day's). */
  running: Array<{ from: Date; until: Date }>;
}

export class PowerService {
  readonly store: PowerStore;
  readonly config: PowerConfig;
  /** Capacity windows, when the host runs them (set by the host's wiring). */
  capacity: CapacityView | undefined;
  /** Where forced states are reported (set by the capability). */
  reporter: PowerReporter | undefined;
  private readonly o: PowerServiceOptions;
  private readonly now: () => Date;

  constructor(options: PowerServiceOptions) {
    this.o = options;
    this.store = options.store;
    this.config = options.config;
    this.now = options.now ?? (() => new Date());
  }

  get resources(): Record<string, PowerResource> {
    return this.config.resources;
  }

  schedule(name: string): Schedule {
    const s = this.config.schedules[name];
    if (!s) {
      throw new NotFoundError(
        `no schedule "${name}"; schedules: ${Object.keys(this.config.schedules).join(', ') || '(none)'}`,
      );
    }
    return s;
  }

  resourcesOf(schedule: string): PowerResource[] {
    return Object.values(this.resources).filter((r) => r.schedule === schedule);
  }

  /** The timer loop's key of a resource: its AWS kind and region (one batched run per key). */
  static keyOf(r: PowerResource): string {
    return `${r.kind}:${r.region}`;
  }

  handlers(): TimerHandler[] {
    const check: TimerHandler<PowerCheck> = {
      kind: PowerTimerKinds.check,
      retry: { limit: 5, delaySeconds: 5, backoff: true, maxDelaySeconds: 120 },
      run: (timers, ctx) => this.run(timers, ctx),
    };
    return [check as TimerHandler];
  }

  /** Every configured resource has a due row (a first run brings it to its schedule). */
  async ensureScheduled(): Promise<number> {
    const names = Object.keys(this.resources);
    if (names.length === 0) return 0;
    const missing = await this.store.unscheduled(names, PowerTimerKinds.check);
    await this.checkSoon(missing);
    return missing.length;
  }

  /** Look at these resources now (something about their plan changed). */
  async checkSoon(resources: readonly string[], at = this.now()): Promise<void> {
    const specs: TimerSpec[] = [];
    for (const name of new Set(resources)) {
      const r = this.resources[name];
      if (!r) continue;
      specs.push({
        kind: PowerTimerKinds.check,
        key: PowerService.keyOf(r),
        dueAt: at,
        payload: { resource: name } satisfies PowerCheck,
      });
    }
    if (specs.length > 0) await this.o.timers.schedule(specs);
  }

  // ---- the plan ------------------------------------------------------------------------------------------------

  private planInput(
    r: PowerResource,
    exceptions: ReadonlyMap<string, ReadonlyMap<LocalDate, DayException>>,
    forced: ReadonlyMap<string, StoredForce>,
    holds: readonly ResourceHold[],
  ): PowerPlanInput {
    const schedule = this.schedule(r.schedule);
    const f = forced.get(r.schedule);
    return {
      schedule,
      exceptions: exceptions.get(r.schedule) ?? new Map(),
      forced: f ? { state: f.state, at: f.at, until: f.until, by: f.by } : null,
      windows: holds.filter((h) => h.resource === r.name),
    };
  }

  /** The plan of resources over [from, to), with what it is made of. */
  async plans(
    names: readonly string[],
    from: Date,
    to: Date,
  ): Promise<Map<string, { input: PowerPlanInput; segments: PowerSegment[] }>> {
    const resources = names.map((n) => this.resources[n]).filter((r) => r !== undefined);
    const schedules = [...new Set(resources.map((r) => r.schedule))];
    const exceptions = await this.store.exceptions(schedules);
    const forced = await this.store.forced(schedules);
    const holds =
      (await this.capacity?.holds(
        resources.map((r) => r.name),
        from,
        to,
      )) ?? [];
    const out = new Map<string, { input: PowerPlanInput; segments: PowerSegment[] }>();
    for (const r of resources) {
      const input = this.planInput(r, exceptions, forced, holds);
      out.set(r.name, { input, segments: powerPlan(input, from, to) });
    }
    return out;
  }

  // ---- the timer handler ---------------------------------------------------------------------------------------

  /** One run: every resource whose row fell due for this key, in batches. */
  async run(fired: FiredTimer<PowerCheck>[], ctx: TimerRunContext): Promise<void> {
    const now = this.now();
    const firedIds = new Set(fired.map((t) => t.id));
    const resources = [...new Set(fired.map((t) => t.payload?.resource))]
      .map((n) => (n ? this.resources[n] : undefined))
      .filter((r): r is PowerResource => r !== undefined && this.config.schedules[r.schedule] !== undefined);
    if (resources.length === 0) return;
    const names = resources.map((r) => r.name);
    const schedules = [...new Set(resources.map((r) => r.schedule))];
    const [states, exceptions, forced] = [
      await this.store.states(names),
      await this.store.exceptions(schedules),
      await this.store.forced(schedules),
    ];
    const horizon = new Date(now.getTime() + 8 * DAY);
    const holds = (await this.capacity?.holds(names, now, horizon)) ?? [];
    const busy = (await this.capacity?.busy(names, now)) ?? new Set<string>();
    const executionId = randomUUID();
    const pctx: PowerContext = { executionId, dryRun: this.o.dryRun };

    interface Work {
      r: PowerResource;
      st: ResourceState;
      input: PowerPlanInput;
      desired: PowerSegment;
      transition: boolean;
      next: Date | null;
      want: PowerState | null;
      newState: ResourceState;
    }
    // The next change of resources without windows is the same for their whole schedule: computed once.
    const nextBySchedule = new Map<string, { at: Date; state: PowerState } | null>();
    const works: Work[] = [];
    for (const r of resources) {
      const st = states.get(r.name) ?? freshState(r.name);
      const input = this.planInput(r, exceptions, forced, holds);
      const desired = desiredStateAt(input, now);
      let next: { at: Date; state: PowerState } | null;
      if ((input.windows?.length ?? 0) === 0 && nextBySchedule.has(r.schedule)) {
        next = nextBySchedule.get(r.schedule)!;
      } else {
        next = nextChange(input, now);
        if ((input.windows?.length ?? 0) === 0) nextBySchedule.set(r.schedule, next);
      }
      let nextAt = next?.at ?? null;
      if (input.schedule.enforced) nextAt = earliest(nextAt, new Date(now.getTime() + this.checkMs));
      nextAt = earliest(nextAt, new Date(now.getTime() + 7 * DAY));
      works.push({
        r,
        st,
        input,
        desired,
        transition: st.applied !== desired.state,
        next: nextAt,
        want: null,
        newState: { ...st },
      });
    }

    // retainRunning needs to know, at the start of a period, whether the resource was already running.
    const toObserve = works.filter(
      (w) =>
        w.transition &&
        w.desired.state === 'running' &&
        w.desired.reason !== 'window' &&
        w.input.schedule.retainRunning &&
        !w.input.schedule.enforced,
    );
    const seen = await this.observe(
      toObserve.map((w) => w.r),
      pctx,
    );

    const records: PowerActionRecord[] = [];
    const items: Array<{ w: Work; item: PowerItem }> = [];
    for (const w of works) {
      const { r, st, desired } = w;
      const ns = w.newState;
      if (desired.reason === 'window' && (r.kind === 'ecs' || r.kind === 'aurora')) {
        // Capacity's converge turns it on first (the PowerGate) and raises it; power stays out of its way.
        Object.assign(ns, { applied: 'running', appliedReason: 'window', settled: true, failures: 0 });
        if (w.transition) ns.appliedAt = now;
        ns.nextAt = w.next;
        continue;
      }
      const d = decide({
        schedule: w.input.schedule,
        desired,
        observed: seen.get(r.name)?.state ?? 'stopped',
        atTransition: w.transition,
        retained: st.retained,
      });
      ns.retained = d.retained;
      let want = d.want;
      // A start or stop under way is followed until it arrives.
      if (want === null && !st.settled && st.applied) want = st.applied;
      if (want === 'stopped' && busy.has(r.name)) {
        // A capacity window still holds it, or its scale-in is not carried out yet: stop after it.
        ns.nextAt = new Date(now.getTime() + this.capacityWaitMs);
        ns.lastError = null;
        continue;
      }
      if (want === null) {
        if (w.transition) {
          // Decided to leave it (retainRunning): this transition is carried out.
          Object.assign(ns, { applied: desired.state, appliedReason: desired.reason, appliedAt: now });
          Object.assign(ns, { settled: true, failures: 0, lastError: null });
          records.push({
            resource: r.name,
            want: desired.state,
            reason: desired.reason,
            from: null,
            to: null,
            changed: false,
            error: null,
            executionId,
            dryRun: this.o.dryRun,
            details: { left: d.why },
          });
        }
        ns.nextAt = w.next;
        continue;
      }
      w.want = want;
      items.push({
        w,
        item: {
          resource: r,
          want,
          ...(r.kind === 'ec2' && w.input.schedule.hibernate ? { hibernate: true } : {}),
        },
      });
    }

    const outcomes = await this.converge(
      items.map((i) => i.item),
      pctx,
      seen,
    );
    for (const { w, item } of items) {
      const outcome = outcomes.get(item.resource.name)!;
      const ns = w.newState;
      const desired = w.desired;
      Object.assign(ns, { seen: observedOf(outcome), seenStatus: outcome.to, seenAt: now });
      if (outcome.error) {
        ns.failures = w.st.failures + 1;
        ns.lastError = outcome.error;
        if (ns.failures >= MAX_FAILURES) {
          // Given up until the next transition: marked carried out, with the error kept for `status`.
          Object.assign(ns, { applied: desired.state, appliedReason: desired.reason, appliedAt: now });
          Object.assign(ns, { settled: true, failures: 0, nextAt: w.next });
        } else {
          ns.nextAt = new Date(now.getTime() + Math.min(10 * MINUTE, 15_000 * 2 ** (ns.failures - 1)));
        }
      } else if (outcome.retryAfterMs !== undefined) {
        ns.nextAt = new Date(now.getTime() + outcome.retryAfterMs);
        ns.lastError = null;
      } else {
        if (item.want === desired.state) {
          if (ns.applied !== desired.state || ns.appliedReason !== desired.reason) ns.appliedAt = now;
          ns.applied = desired.state;
          ns.appliedReason = desired.reason;
        }
        ns.settled = !outcome.pending;
        ns.failures = 0;
        ns.lastError = null;
        ns.nextAt = outcome.pending ? earliest(w.next, new Date(now.getTime() + this.followMs)) : w.next;
      }
      if (outcome.changed || outcome.error || w.transition) {
        records.push({
          resource: item.resource.name,
          want: item.want,
          reason: desired.reason,
          from: outcome.from,
          to: outcome.to,
          changed: outcome.changed,
          error: outcome.error ?? null,
          executionId,
          dryRun: this.o.dryRun,
          details: {
            ...(outcome.details ?? {}),
            ...(outcome.retryAfterMs === undefined ? {} : { retryAfterMs: outcome.retryAfterMs }),
            ...(w.transition ? {} : { check: w.input.schedule.enforced ? 'enforced' : 'follow' }),
          },
        });
      }
    }

    // The next due row of every resource, and the old one cancelled, with the outcome: one commit.
    const specs: TimerSpec[] = [];
    const cancel: string[] = [];
    for (const w of works) {
      const ns = w.newState;
      if (w.st.nextTimer && !firedIds.has(w.st.nextTimer)) cancel.push(w.st.nextTimer);
      if (ns.nextAt === null) {
        ns.nextTimer = null;
        continue;
      }
      const id = randomUUID();
      ns.nextTimer = id;
      specs.push({
        id,
        kind: PowerTimerKinds.check,
        key: PowerService.keyOf(w.r),
        dueAt: ns.nextAt,
        payload: { resource: w.r.name } satisfies PowerCheck,
      });
    }
    const committed = await this.store.db.transaction(async (tx: DbTx) => {
      try {
        await ctx.settle(tx);
      } catch (error) {
        if (error instanceof LostClaimError) return false;
        throw error;
      }
      if (cancel.length > 0) await this.o.timers.cancel({ kind: PowerTimerKinds.check, ids: cancel }, { tx });
      await this.store.writeRun(
        tx,
        works.map((w) => w.newState),
        records,
      );
      await this.o.timers.schedule(specs, { tx });
      return true;
    });
    if (!committed) {
      this.o.logger.warn({ key: ctx.key }, 'power run taken over by another server; its outcome is dropped');
      return;
    }
    const changed = records.filter((r) => r.changed).length;
    const failed = records.filter((r) => r.error).length;
    if (changed > 0 || failed > 0) {
      this.o.logger.info(
        { key: ctx.key, resources: works.length, changed, failed, dryRun: this.o.dryRun },
        'power transitions carried out',
      );
    }
    await this.reportForces(schedules, forced).catch((error: unknown) =>
      this.o.logger.warn({ err: error }, 'power: a force report failed'),
    );
  }

  private get checkMs(): number {
    return this.o.checkMs ?? 5 * MINUTE;
  }

  private get followMs(): number {
    return this.o.followMs ?? 20_000;
  }

  private get capacityWaitMs(): number {
    return this.o.capacityWaitMs ?? 5_000;
  }

  private action(kind: PowerResource['kind']): PowerAction {
    return this.o.actions[kind] as unknown as PowerAction;
  }

  /** What AWS says of these resources: one batched describe per kind (and region, and page). */
  async observe(resources: readonly PowerResource[], ctx: PowerContext): Promise<Map<string, Observation>> {
    const out = new Map<string, Observation>();
    for (const kind of ['ec2', 'rds', 'aurora', 'ecs'] as const) {
      const list = resources.filter((r) => r.kind === kind);
      if (list.length === 0) continue;
      for (const [name, o] of await this.action(kind).observe(list, ctx)) out.set(name, o);
    }
    return out;
  }

  private async converge(
    items: readonly PowerItem[],
    ctx: PowerContext,
    seen: ReadonlyMap<string, Observation>,
  ): Promise<Map<string, PowerOutcome>> {
    const out = new Map<string, PowerOutcome>();
    for (const kind of ['ec2', 'rds', 'aurora', 'ecs'] as const) {
      const list = items.filter((i) => i.resource.kind === kind);
      if (list.length === 0) continue;
      let outcomes: PowerOutcome[];
      try {
        outcomes = await this.action(kind).converge(list, ctx, seen);
      } catch (error) {
        // A describe failed for the whole batch (throttling past the gateway's retries, an outage): each
        // resource is tried again like a failed one.
        const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
        outcomes = list.map((i) => ({
          resource: i.resource.name,
          from: 'unknown',
          to: 'unknown',
          changed: false,
          error: message,
        }));
      }
      for (const o of outcomes) out.set(o.resource, o);
    }
    return out;
  }

  /** A forced state whose resources have all arrived (or failed) is reported once where it was asked. */
  private async reportForces(schedules: readonly string[], forced: ReadonlyMap<string, StoredForce>) {
    if (!this.reporter) return;
    const now = this.now();
    for (const name of schedules) {
      const f = forced.get(name);
      if (!f || f.reportedAt || !f.origin || f.at > now || (f.until && f.until <= now)) continue;
      const resources = this.resourcesOf(name);
      const states = await this.store.states(resources.map((r) => r.name));
      const lines: ForceLine[] = [];
      let done = true;
      for (const r of resources) {
        const st = states.get(r.name);
        const arrived = st?.appliedAt && st.appliedAt >= f.at && st.applied === f.state && st.settled;
        const holdsIt = st?.appliedReason === 'window';
        if (st?.lastError && (st.failures === 0 || st.failures >= MAX_FAILURES)) {
          lines.push({ resource: r.name, state: st.lastError, ok: false });
        } else if (arrived || (holdsIt && f.state === 'running')) {
          lines.push({ resource: r.name, state: st?.seenStatus ?? f.state, ok: true });
        } else {
          done = false;
          break;
        }
      }
      if (!done) continue;
      if (!(await this.store.markForceReported(name, f.at))) continue;
      await this.reporter.forceDone(f, lines);
    }
  }

  // ---- use cases for the doors -------------------------------------------------------------------------------

  /** `<schedule> status`: each resource's state on AWS (described now), desired state and next change. */
  async status(scheduleName: string): Promise<{ schedule: Schedule; resources: ResourceStatus[] }> {
    const schedule = this.schedule(scheduleName);
    const resources = this.resourcesOf(scheduleName);
    const now = this.now();
    const plans = await this.plans(
      resources.map((r) => r.name),
      now,
      new Date(now.getTime() + 8 * DAY),
    );
    const states = await this.store.states(resources.map((r) => r.name));
    let seen = new Map<string, Observation>();
    let observeError: string | null = null;
    try {
      seen = await this.observe(resources, { executionId: randomUUID(), dryRun: false });
    } catch (error) {
      observeError = error instanceof Error ? error.message : String(error);
    }
    return {
      schedule,
      resources: resources.map((r) => {
        const plan = plans.get(r.name)!;
        const desired = plan.segments[0]!;
        const o = seen.get(r.name);
        return {
          resource: r.name,
          kind: r.kind,
          observed: o?.state ?? 'unknown',
          observedStatus: o?.status ?? observeError ?? 'unknown',
          desired: desired.state,
          reason: desired.reason,
          windows: desired.windows ?? [],
          next: nextChange(plan.input, now),
          lastError: states.get(r.name)?.lastError ?? null,
        };
      }),
    };
  }

  /** `<schedule> info [date]`: that day's periods and exception, in the schedule's zone. */
  async info(scheduleName: string, date?: string): Promise<DayInfo> {
    const schedule = this.schedule(scheduleName);
    const day = this.dateOrToday(schedule, date);
    const exception = (await this.store.exceptions([scheduleName])).get(scheduleName)?.get(day) ?? null;
    const own = periodIntervalsOn(schedule, day);
    const running = dayIntervals(schedule, day, exception ?? undefined);
    const local = (d: Date) =>
      new Intl.DateTimeFormat('en-GB', {
        timeZone: schedule.timezone,
        hour: '2-digit',
        minute: '2-digit',
        hourCycle: 'h23',
      }).format(d);
    return {
      schedule: scheduleName,
      timezone: schedule.timezone,
      date: day,
      periods: own.map((i) => ({ from: local(i.from), until: local(i.until) })),
      exception,
      running: running.map((i) => ({ from: i.from, until: i.until })),
    };
  }

  /** `<schedule> exception info [date]`: that day's exception, or every one from that day on. */
  async exceptions(scheduleName: string, date?: string): Promise<DayException[]> {
    const schedule = this.schedule(scheduleName);
    const all = [...((await this.store.exceptions([scheduleName])).get(scheduleName)?.values() ?? [])];
    if (date !== undefined) {
      const day = this.dateOrToday(schedule, date);
      return all.filter((e) => e.date === day);
    }
    const today = localDateOf(this.now(), schedule.timezone);
    return all.filter((e) => e.date >= today);
  }

  async setException(
    scheduleName: string,
    date: string,
    field: 'start' | 'stop',
    minutes: number,
    by: string,
  ): Promise<DayException> {
    const schedule = this.schedule(scheduleName);
    const day = this.dateOrToday(schedule, date);
    if (!(minutes >= 0 && minutes < 1440 && Number.isInteger(minutes))) {
      throw new ValidationError([{ field: 'time', message: 'must be a time of day from 00:00 to 23:59' }]);
    }
    await this.store.setException(scheduleName, day, field, minutes, by);
    await this.checkSoon(this.resourcesOf(scheduleName).map((r) => r.name));
    return (await this.store.exceptions([scheduleName])).get(scheduleName)!.get(day)!;
  }

  async deleteException(scheduleName: string, date: string, field: 'start' | 'stop'): Promise<boolean> {
    const schedule = this.schedule(scheduleName);
    const day = this.dateOrToday(schedule, date);
    const removed = await this.store.deleteException(scheduleName, day, field);
    if (removed) await this.checkSoon(this.resourcesOf(scheduleName).map((r) => r.name));
    return removed;
  }

  /**
   * `force_start` / `force_stop`: the schedule's resources in this state until its next transition. A stop is
   * refused while a capacity window holds one of them (the window is named).
   */
  async force(
    scheduleName: string,
    state: PowerState,
    by: string,
    origin: Record<string, unknown> | null = null,
  ): Promise<{ force: ForcedState; resources: string[] }> {
    const schedule = this.schedule(scheduleName);
    const resources = this.resourcesOf(scheduleName).map((r) => r.name);
    const now = this.now();
    if (state === 'stopped' && this.capacity) {
      const holding = (await this.capacity.holds(resources, now, new Date(now.getTime() + 1))).filter(
        (h) => h.from <= now,
      );
      if (holding.length > 0) {
        throw new WindowHoldsError(holding);
      }
    }
    const exceptions = (await this.store.exceptions([scheduleName])).get(scheduleName) ?? new Map();
    const force: ForcedState = { state, at: now, until: forcedUntil(schedule, exceptions, now), by };
    await this.store.setForced(scheduleName, force, origin);
    await this.checkSoon(resources, now);
    return { force, resources };
  }

  private dateOrToday(schedule: Schedule, date?: string): LocalDate {
    if (date === undefined || date === '' || date === 'today')
      return localDateOf(this.now(), schedule.timezone);
    if (!isLocalDate(date)) {
      throw new ValidationError([{ field: 'date', message: `"${date}" is not a date; write YYYY-MM-DD` }]);
    }
    return date;
  }

  // ---- the gate capacity windows ask -------------------------------------------------------------------------

  readonly gate: PowerGate = {
    beforeRaise: async (name, ctx) => this.beforeRaise(name, ctx.dryRun),
  };

  private async beforeRaise(name: string, dryRun: boolean): Promise<GateAnswer> {
    const r = this.resources[name];
    if (!r) return { ready: true };
    const pctx: PowerContext = { executionId: randomUUID(), dryRun: dryRun || this.o.dryRun };
    const seen = await this.observe([r], pctx);
    const o = seen.get(name);
    if (!o || o.state === 'missing' || o.state === 'running' || o.state === 'busy') return { ready: true };
    // An ECS service that is starting can be raised at once; a cluster or instance must be available.
    if (o.state === 'starting') {
      return r.kind === 'ecs'
        ? { ready: true }
        : { ready: false, retryAfterMs: this.followMs, reason: `${o.status}: starting` };
    }
    if (o.state === 'stopping') {
      return { ready: false, retryAfterMs: this.followMs, reason: `${o.status}: to be started once stopped` };
    }
    const [outcome] = await this.action(r.kind).converge([{ resource: r, want: 'running' }], pctx, seen);
    await this.store.recordActions([
      {
        resource: name,
        want: 'running',
        reason: 'window',
        from: outcome?.from ?? null,
        to: outcome?.to ?? null,
        changed: outcome?.changed ?? false,
        error: outcome?.error ?? null,
        executionId: pctx.executionId,
        dryRun: pctx.dryRun,
        details: { ...(outcome?.details ?? {}), for: 'capacity window' },
      },
    ]);
    if (outcome?.error) return { ready: true }; // capacity's own call then fails, in AWS' words
    if (pctx.dryRun || r.kind === 'ecs') return { ready: true };
    return {
      ready: false,
      retryAfterMs: outcome?.retryAfterMs ?? this.followMs,
      reason: `${outcome?.to ?? o.status}: started for a capacity window`,
    };
  }
}

/** `force_stop` refused: capacity windows hold some of the schedule's resources. */
export class WindowHoldsError extends ConflictError {
  readonly holds: ResourceHold[];
  constructor(holds: ResourceHold[]) {
    super(
      `capacity window ${[...new Set(holds.map((h) => `${h.name} (${h.windowId})`))].join(', ')} holds ` +
        `${[...new Set(holds.map((h) => h.resource))].join(', ')} until ` +
        `${new Date(Math.max(...holds.map((h) => h.until.getTime()))).toISOString()}; ` +
        'cancel the window or wait for its end',
    );
    this.holds = holds;
  }
}

function earliest(a: Date | null, b: Date): Date {
  return a === null || b < a ? b : a;
}

/** The state an outcome leaves the resource in, in power's words. */
function observedOf(o: PowerOutcome): string {
  return o.to;
}
