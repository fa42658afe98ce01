// HTTP jobs' use cases: keep the jobs table in step with the config, fire what is due, run a job now, pause and
// resume, and carry out a run (call the service, retry, record, report).
//
// Dispatch is batched: the timer loop holds ONE row per distinct due time (kind `jobs.due`, key = that time), not
// one per job. Its fire locks every job due by now in one statement, writes their runs in one statement, moves
// their next due times in one statement, and then sends every call at once (each service's concurrency limit
// holds). A thousand jobs due in the same minute are one claim, three statements and a thousand requests — the
// earlier design (one timer row and one pg-boss job per run) was late by 1.8 s at p99 (docs/benchmarks.md).
//
// A run that is started on its own (run now, a queued run whose turn came, a retry after its backoff) is one
// timer row of kind `jobs.start` keyed by the run.
//
// Overlap `skip` and `queue` (one run of the job at a time) hold across servers and concurrent requests: every
// decision that a run may go — a fire's runs, a run now's, a queued run's start, the turn of the next queued run
// when one ends — is taken in a transaction holding the job's row lock (store.lockJob / lockDue), and reads the
// job's runs after it has the lock. A check and the write it decides are never apart: without the lock, two run
// nows at the same instant both found the job idle, and two queued runs both began (seen on PostgreSQL).

import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { KafkaProducerPort } from '../../gateway/kafka.ts';
import { safeEqual } from '../../gateway/verify.ts';
import { ConflictError, NotFoundError } from '../../kernel/errors.ts';
import type { Logger } from '../../kernel/logger.ts';
import type { Notification } from '../../notify/notification.ts';
import type { PreparedCall, ServiceAnswer, ServiceCaller } from '../../services/caller.ts';
import { resultOf } from '../../services/contract.ts';
import { signatureHeaders, verifySignature } from '../../services/signature.ts';
import type {
  FiredTimer,
  Queryable,
  TimerHandler,
  TimerRunContext,
  TimerScheduler,
} from '../../timers/port.ts';
import {
  backoffMs,
  CATCH_UP_AFTER_MS,
  dueOccurrences,
  firstDue,
  type JobSpec,
  nextDue,
  outcomeOf,
  type RunStatus,
  runIdOf,
} from './model.ts';
import { runNotification } from './report.ts';
import type { JobRow, JobsStore, NewRun, RunRecord } from './store.ts';

export const DUE_KIND = 'jobs.due';
export const START_KIND = 'jobs.start';
export const DEADLINE_KIND = 'jobs.deadline';
/** How long before a due time its fire writes the runs (then waits for the time to send). */
export const PREPARE_MS = 2000;

export interface JobsMetrics {
  run(job: string, status: RunStatus): void;
  duration(job: string, seconds: number): void;
  lateness(job: string, seconds: number): void;
}

export interface JobsNotifier {
  send(to: string, notification: Notification, key: string): Promise<void>;
}

export interface JobsServiceOptions {
  store: JobsStore;
  timers: TimerScheduler;
  services: ServiceCaller;
  notifier: JobsNotifier;
  jobs: JobSpec[];
  node: string;
  logger: Logger;
  metrics: JobsMetrics;
  /** Resolves when the server answers HTTP (a job calling chronops' own demo service must find it up). */
  ready?: Promise<unknown>;
  /** Kafka mode: the one Kafka client (src/gateway/kafka.ts), when `kafka:` is configured. */
  kafka?: () => KafkaProducerPort;
  /** chronops' address as the services reach it (callback mode). */
  callbackBase?(): string | undefined;
  /** The page's address of a run, for notifications. */
  runUrl?(id: string): string | undefined;
  now?: () => Date;
}

export interface JobView {
  name: string;
  spec: JobSpec;
  origin: 'config' | 'api';
  paused: boolean;
  nextDueAt: Date | null;
  lastRun: RunRecord | null;
}

export class JobsService {
  readonly #o: JobsServiceOptions;
  readonly #now: () => Date;
  readonly store: JobsStore;
  #names: string[] = [];

  constructor(options: JobsServiceOptions) {
    this.#o = options;
    this.store = options.store;
    this.#now = options.now ?? (() => new Date());
  }

  /** The config's jobs into the table, and a timer row for each distinct next due time. */
  async sync(): Promise<void> {
    const rows = await this.store.syncConfigJobs(this.#o.jobs, (spec) => firstDue(spec, this.#now()));
    this.#names = rows.map((r) => r.name);
    await this.#scheduleTicks(rows.filter((r) => !r.paused).map((r) => r.nextDueAt));
  }

  timerHandlers(): TimerHandler[] {
    const due: TimerHandler = {
      kind: DUE_KIND,
      run: (timers, ctx) => this.#fire(timers as FiredTimer<{ at?: string }>[], ctx),
      // A fire that failed as a whole (the database) is tried again; its runs keep their ids.
      retry: { limit: 5, delaySeconds: 1, backoff: true, maxDelaySeconds: 30 },
    };
    const start: TimerHandler<{ run: string }> = {
      kind: START_KIND,
      run: async (timers, ctx) => {
        for (const t of timers) await this.#start(t.payload.run, ctx);
      },
      retry: { limit: 5, delaySeconds: 1, backoff: true, maxDelaySeconds: 30 },
    };
    const deadline: TimerHandler<{ run: string }> = {
      kind: DEADLINE_KIND,
      run: async (timers) => {
        for (const t of timers) await this.#deadline(t.payload.run);
      },
    };
    return [due, start as TimerHandler, deadline as TimerHandler];
  }

  /**
   * One timer row per distinct due time, firing PREPARE_MS before it: the fire writes the runs ahead and sends
   * at the due time itself, so that the database work is not part of the lateness.
   */
  async #scheduleTicks(dates: Array<Date | null>, tx?: Queryable, suffix = ''): Promise<void> {
    const unique = [...new Set(dates.filter((d): d is Date => d !== null).map((d) => d.getTime()))];
    if (unique.length === 0) return;
    await this.#o.timers.schedule(
      unique.map((ms) => {
        const iso = new Date(ms).toISOString();
        return {
          kind: DUE_KIND,
          key: iso,
          dueAt: new Date(ms - PREPARE_MS),
          payload: { at: iso },
          dedupe: `due:${iso}${suffix}`,
        };
      }),
      tx ? { tx } : {},
    );
  }

  async #scheduleStart(runId: string, at: Date, dedupe: string, tx?: Queryable): Promise<void> {
    await this.#o.timers.schedule(
      [
        {
          kind: START_KIND,
          key: runId,
          dueAt: at,
          payload: { run: runId },
          dedupe: `start:${runId}:${dedupe}`,
        },
      ],
      tx ? { tx } : {},
    );
  }

  /**
   * Overdue work nothing will fire (a job whose time's row had already fired when it was added, a retry whose
   * row was lost with a crash between its record and its row): give it a row now.
   */
  async sweep(): Promise<void> {
    const now = this.#now();
    const late = await this.store.db.query<{ at: Date }>(
      `SELECT min(next_due_at) AS at FROM ${this.store.s}.jobs WHERE NOT paused AND next_due_at < $1`,
      [new Date(now.getTime() - 5000)],
    );
    if (late[0]?.at)
      await this.#scheduleTicks([now], undefined, `:sweep:${Math.floor(now.getTime() / 60_000)}`);
    const retries = await this.store.db.query<{ id: string; attempt: number }>(
      `SELECT id, attempt FROM ${this.store.s}.job_runs WHERE status = 'retrying' AND next_attempt_at < $1`,
      [new Date(now.getTime() - 30_000)],
    );
    for (const r of retries) await this.#scheduleStart(r.id, now, String(r.attempt + 1));
  }

  // ---- the fire of a due time ---------------------------------------------------------------------------------

  async #fire(timers: FiredTimer<{ at?: string }>[], ctx: TimerRunContext): Promise<void> {
    const tick = timers[0]!;
    const at = tick.payload.at ? new Date(tick.payload.at) : tick.dueAt;
    await this.#o.ready;
    // Runs a previous attempt of this fire began and did not finish (its server died or stopped): again, with the
    // same Idempotency-Key.
    const again: Array<{ run: RunRecord; spec: JobSpec }> = [];
    for (const run of await this.store.unfinishedOfTick(tick.id)) {
      const job = await this.store.job(run.job);
      const begun = job ? await this.store.begin(run.id, ['running'], this.#o.node) : undefined;
      if (job && begun) again.push({ run: begun, spec: job.spec });
    }
    // The jobs due by the fire's time (ahead of now by up to PREPARE_MS), or by now when it fires late.
    const now = new Date(Math.max(this.#now().getTime(), at.getTime()));
    const claimed = await this.store.db.transaction(async (tx) => {
      const due = await this.store.lockDue(tx, now);
      if (due.length === 0)
        return { start: [] as NewRun[], ended: [] as NewRun[], jobs: new Map<string, JobRow>() };
      // Read with the due jobs' locks held: a run now or a queued run's start of one of them has committed or
      // waits for this fire to commit (and then finds its run).
      const busy = await this.store.busyJobs(
        tx,
        due.filter((j) => j.spec.overlap !== 'allow').map((j) => j.name),
      );
      const runs: NewRun[] = [];
      const nexts: Array<{ name: string; next: Date | null }> = [];
      for (const job of due) {
        const o = dueOccurrences(job.spec, job.nextDueAt!, now);
        for (const m of o.missed) {
          runs.push({
            id: runIdOf(job.name, m),
            job: job.name,
            dueAt: m,
            trigger: 'schedule',
            status: 'missed',
            summary: `missed: chronops was not running within ${job.spec.catchUpMinutes} min of its time`,
            finished: true,
          });
        }
        if (o.run) {
          const late = now.getTime() - o.run.getTime() > CATCH_UP_AFTER_MS;
          const blocked = busy.has(job.name);
          const status: RunStatus = !blocked
            ? 'running'
            : job.spec.overlap === 'queue'
              ? 'queued'
              : 'skipped';
          runs.push({
            id: runIdOf(job.name, o.run),
            job: job.name,
            dueAt: o.run,
            trigger: late ? 'catch-up' : 'schedule',
            status,
            attempt: status === 'running' ? 1 : 0,
            tick: tick.id,
            node: this.#o.node,
            ...(status === 'skipped'
              ? { summary: 'skipped: the previous run was still going (overlap: skip)', finished: true }
              : {}),
          });
        }
        nexts.push({ name: job.name, next: o.next });
      }
      const inserted = await this.store.insertRuns(tx, runs);
      await this.store.setNextDue(tx, nexts);
      await this.#scheduleTicks(
        nexts.map((n) => n.next),
        tx,
      );
      const fresh = runs.filter((r) => inserted.has(r.id));
      return {
        start: fresh.filter((r) => r.status === 'running'),
        ended: fresh.filter((r) => r.status === 'missed' || r.status === 'skipped'),
        jobs: new Map(due.map((j) => [j.name, j])),
      };
    });
    for (const r of claimed.ended) {
      this.#o.metrics.run(r.job, r.status);
      if (r.status === 'missed') {
        const run = await this.store.run(r.id);
        if (run) await this.#report(claimed.jobs.get(r.job)!.spec, run);
      }
    }
    const work = [
      ...again,
      ...claimed.start.map((r) => ({
        run: newRunRecord(r),
        spec: claimed.jobs.get(r.job)!.spec,
      })),
    ];
    // While it waits for the due second, the connections the burst needs are opened, the callback and kafka runs
    // get their callbacks, and each sync or callback call is built and signed (for the due second): at the second
    // only the sends are left.
    const calls = new Map<string, number>();
    for (const w of work) {
      if (w.spec.mode !== 'kafka') calls.set(w.spec.service, (calls.get(w.spec.service) ?? 0) + 1);
    }
    for (const [service, n] of calls) void this.#o.services.prepare(service, n, at);
    let overOne = () => {};
    const signAt = new Date(Math.max(at.getTime(), this.#now().getTime()));
    // The callbacks of the burst's callback and kafka runs (tokens, deadlines, their timers) in two statements
    // now, not two per run at the second. If that fails, each run makes its own when it is sent.
    let ahead = new Map<string, Record<string, string>>();
    const long = work.filter((w) => w.spec.mode === 'callback' || w.spec.mode === 'kafka');
    if (long.length > 0) {
      try {
        ahead = await this.#callbacks(long, signAt);
      } catch (error) {
        this.#o.logger.warn({ err: error }, 'jobs: could not make the callbacks of a burst ahead');
      }
    }
    const burst = work.map((w) => {
      let counted = false;
      const over = () => {
        if (!counted) {
          counted = true;
          overOne();
        }
      };
      const callback = ahead.get(w.run.id);
      let call: PreparedCall | undefined;
      if (w.spec.mode === 'sync' || (w.spec.mode === 'callback' && callback)) {
        try {
          call = this.#callOf(w.run, w.spec, ctx.signal, over, callback, signAt);
        } catch {
          // A call that cannot be made: #execute finds it again and fails the run with the reason.
        }
      }
      return { ...w, over, call, callback };
    });
    const wait = at.getTime() - this.#now().getTime();
    if (wait > 0) await sleep(wait, ctx.signal);
    // Until every call of the burst is answered, records (run outcomes, audit) wait: their statements (the embedded
    // database's thread, or the PostgreSQL server) would take the machine's CPU from the requests still on their
    // way — on the embedded database they cost the most (docs/benchmarks.md, "HTTP jobs"). A call that takes long
    // does not hold them for more than a few seconds (WriteHold).
    const resume = [this.store.holdWrites(), this.#o.services.holdAudit()];
    let open = burst.length;
    overOne = () => {
      if (--open === 0) {
        for (const r of resume) r();
      }
    };
    if (open === 0) for (const r of resume) r();
    await Promise.all(
      burst.map((w) => this.#execute(w.run, w.spec, ctx.signal, w.over, w.call, w.callback).finally(w.over)),
    );
  }

  // ---- one run on its own -------------------------------------------------------------------------------------

  async #start(id: string, ctx: TimerRunContext): Promise<void> {
    await this.#o.ready;
    const run = await this.store.run(id);
    if (!run || !['queued', 'retrying', 'running'].includes(run.status)) return;
    const job = await this.store.job(run.job);
    if (!job) {
      await this.store.update({
        id,
        status: 'failed',
        summary: `the job ${run.job} no longer exists`,
        final: true,
      });
      return;
    }
    let begun: RunRecord | undefined;
    if (run.status === 'queued' && job.spec.overlap !== 'allow') {
      // The check that no other run is going and the begin, under the job's lock: two queued runs whose starts
      // fire at once (on two servers) cannot both find the job idle. If one is going, this run's turn comes when
      // it ends (#afterFinal).
      begun = await this.store.db.transaction(async (tx) => {
        if (!(await this.store.lockJob(tx, run.job))) return undefined;
        if (await this.store.otherGoing(tx, run.job, id)) return undefined;
        return this.store.begin(id, ['queued'], this.#o.node, tx);
      });
    } else {
      // A retry, or a run begun already (its server stopped): it is the job's one run going. Overlap allow: no
      // turn to wait for.
      begun = await this.store.begin(
        id,
        job.spec.overlap === 'allow' ? ['queued', 'retrying', 'running'] : ['retrying', 'running'],
        this.#o.node,
      );
    }
    if (begun) await this.#execute(begun, job.spec, ctx.signal);
  }

  /**
   * Calls the service for one attempt of `run` and records what came of it. `over`: told once the call's answer is
   * in (or the message is handed to Kafka) — the fire's burst holds its records until then.
   */
  async #execute(
    run: RunRecord,
    spec: JobSpec,
    signal: AbortSignal,
    over?: () => void,
    ready?: PreparedCall,
    ahead?: Record<string, string>,
  ): Promise<void> {
    let answer: ServiceAnswer;
    let callback = ahead;
    if (!callback && (spec.mode === 'callback' || spec.mode === 'kafka')) {
      callback = (await this.#callbacks([{ run, spec }], this.#now())).get(run.id);
    }
    if (spec.mode === 'kafka') {
      await this.#produce(run, spec, callback!, over);
      return;
    }
    try {
      answer = await this.#o.services.send(ready ?? this.#callOf(run, spec, signal, over, callback));
    } catch (error) {
      // The call could not be made (the service is gone from the config, a bad path): no retry helps.
      await this.#finish(spec, run, { status: 'failed', summary: (error as Error).message });
      return;
    }
    if (answer.outcome === 'aborted') {
      // This server is stopping: the run stays `running` and the timer loop hands it to the next attempt.
      throw new Error(`${spec.name}: the call was aborted (server stopping)`);
    }
    const attempt = {
      attempt: run.attempt,
      at: answer.sentAt.toISOString(),
      summary: answer.summary,
      ...(answer.status === undefined ? {} : { status: answer.status }),
    };
    const { status, retry } = outcomeOf(answer);
    this.#o.metrics.duration(spec.name, answer.durationMs / 1000);
    if (spec.mode === 'callback' && answer.ok && !answer.result) {
      // Accepted: the result comes by callback before the deadline (or the deadline fails the run).
      await this.store.waiting(run.id, {
        sentAt: answer.sentAt,
        httpStatus: answer.status ?? null,
        summary: `${answer.summary}; waiting for the result by callback`,
        attempt,
      });
      return;
    }
    if (status === 'failed' && retry && run.attempt <= spec.retries.limit) {
      const at = new Date(this.#now().getTime() + backoffMs(spec.retries, run.attempt + 1));
      await this.store.update({
        id: run.id,
        status: 'retrying',
        sentAt: answer.sentAt,
        durationMs: answer.durationMs,
        httpStatus: answer.status ?? null,
        summary: `${answer.summary}; attempt ${run.attempt + 1} of ${spec.retries.limit + 1} at ${at.toISOString()}`,
        body: answer.body ?? null,
        nextAttemptAt: at,
        attempt,
        final: false,
      });
      await this.#scheduleStart(run.id, at, String(run.attempt + 1));
      this.#o.metrics.run(spec.name, 'retrying');
      return;
    }
    await this.#finish(spec, run, {
      status,
      summary: answer.summary,
      sentAt: answer.sentAt,
      durationMs: answer.durationMs,
      httpStatus: answer.status ?? null,
      result: answer.result ?? null,
      body: answer.body ?? null,
      attempt,
    });
  }

  /**
   * The callback of one attempt of each callback or kafka run — a one-run token, stored (hashed) before the call
   * (the service may answer by callback at once), and the run's deadline (from `from`) with its timer — as the
   * headers the call carries. A fire's burst makes them for all its runs in two statements before its second.
   */
  async #callbacks(
    items: Array<{ run: RunRecord; spec: JobSpec }>,
    from: Date,
  ): Promise<Map<string, Record<string, string>>> {
    const made = items.map(({ run, spec }) => ({
      run,
      token: randomBytes(24).toString('base64url'),
      // The deadline is the run's, not the attempt's: a retry (Kafka down) does not move it.
      deadline: run.deadlineAt ?? new Date(from.getTime() + spec.deadlineSeconds * 1000),
    }));
    await this.store.setCallbacks(
      made.map((m) => ({ id: m.run.id, tokenHash: hashToken(m.token), deadline: m.deadline })),
    );
    await this.#o.timers.schedule(
      made.map((m) => ({
        kind: DEADLINE_KIND,
        key: m.run.id,
        dueAt: m.deadline,
        payload: { run: m.run.id },
        dedupe: `deadline:${m.run.id}:${m.run.attempt}`,
      })),
    );
    const base = this.#o.callbackBase?.() ?? '';
    return new Map(
      made.map((m) => [
        m.run.id,
        {
          'X-Chronops-Callback': `${base}/jobs/runs/${m.run.id}/result`,
          'X-Chronops-Callback-Token': m.token,
          'X-Chronops-Deadline': m.deadline.toISOString(),
        },
      ]),
    );
  }

  /** The call of one attempt of `run` (signed for `signAt`, default now); throws ServiceCallError. */
  #callOf(
    run: RunRecord,
    spec: JobSpec,
    signal: AbortSignal,
    over?: () => void,
    callback?: Record<string, string>,
    signAt?: Date,
  ): PreparedCall {
    return this.#o.services.prepareCall(
      spec.service,
      {
        method: spec.method,
        path: spec.path,
        ...(spec.body === undefined ? {} : { body: spec.body }),
        headers: spec.headers,
      },
      {
        idempotencyKey: run.id,
        job: spec.name,
        run: run.id,
        ...(spec.timeoutSeconds ? { timeoutMs: spec.timeoutSeconds * 1000 } : {}),
        ...(callback ? { extraHeaders: callback } : {}),
        signal,
        onSent: (at) => {
          const seconds = Math.max(0, at.getTime() - run.dueAt.getTime()) / 1000;
          // Observed once the burst's calls are out (a labelled histogram costs ~12 µs a call).
          this.store.afterHold(() => this.#o.metrics.lateness(spec.name, seconds));
        },
        onAnswered: () => over?.(),
      },
      signAt,
    );
  }

  async #finish(
    spec: JobSpec,
    run: RunRecord,
    u: Omit<Parameters<JobsStore['update']>[0], 'id' | 'final'> & { status: RunStatus },
  ): Promise<void> {
    await this.store.update({ ...u, id: run.id, final: true });
    const done: RunRecord = {
      ...run,
      status: u.status,
      summary: u.summary ?? run.summary,
      durationMs: u.durationMs ?? run.durationMs,
      httpStatus: u.httpStatus ?? run.httpStatus,
      result: u.result ?? run.result,
      body: u.body ?? run.body,
      finishedAt: this.#now(),
    };
    await this.#afterFinal(spec, done);
  }

  /** A run ended: metrics, the report, and the turn of the job's next queued run. */
  async #afterFinal(spec: JobSpec, done: RunRecord): Promise<void> {
    const run = done;
    this.#o.metrics.run(spec.name, done.status);
    try {
      await this.#report(spec, done);
    } catch (error) {
      this.#o.logger.error({ err: error, job: spec.name, run: run.id }, 'jobs: could not queue the report');
    }
    // Under the job's lock: a run now that saw this run going (and so gave its queued run no start) has
    // committed before the lock is ours, and its run is found here. The start's key names the run that ended, so
    // a run whose turn came twice (its first start found another going) is started again.
    if (spec.overlap === 'allow') {
      const next = await this.store.nextQueued(spec.name);
      if (next) await this.#scheduleStart(next, this.#now(), `turn:${done.id}`);
      return;
    }
    await this.store.db.transaction(async (tx) => {
      if (!(await this.store.lockJob(tx, spec.name))) return;
      const next = await this.store.nextQueued(spec.name, tx);
      if (next) await this.#scheduleStart(next, this.#now(), `turn:${done.id}`, tx);
    });
  }

  /** Tells the job's destinations, as its `notify.when` says, and its alert destination of any failed tenant. */
  async #report(spec: JobSpec, run: RunRecord): Promise<void> {
    const { to, when, alert } = spec.notify;
    if (to.length === 0 && !alert) return;
    const bad = run.status !== 'success';
    let tell = when === 'always' || (when === 'failure' && bad);
    if (when === 'change') {
      const before = await this.store.previousStatus(spec.name, run.id);
      tell = before === undefined ? bad : before !== run.status;
    }
    const message = runNotification(spec, run, this.#o.runUrl?.(run.id));
    if (tell) for (const d of to) await this.#o.notifier.send(d, message, `jobs:run:${run.id}:result:${d}`);
    if (alert && bad) {
      await this.#o.notifier.send(
        alert,
        { ...message, title: `ALERT ${message.title}`, severity: 'error' },
        `jobs:run:${run.id}:alert`,
      );
    }
  }

  /**
   * Kafka mode: the run as a message (key = job name; headers = run, idempotency key, callback, signature) on the
   * job's topic; the result comes back by callback. A broker that cannot be reached: the run waits and tries again
   * (backoff up to 30 s) until its deadline — the same message each time, so nothing is lost and a consumer that
   * keeps its idempotency keys does the work once.
   */
  async #produce(
    run: RunRecord,
    spec: JobSpec,
    callback: Record<string, string>,
    over?: () => void,
  ): Promise<void> {
    const value = JSON.stringify({
      job: spec.name,
      run: run.id,
      dueAt: run.dueAt.toISOString(),
      attempt: run.attempt,
      method: spec.method,
      path: spec.path,
      ...(spec.body === undefined ? {} : { body: spec.body }),
      callback: callback['X-Chronops-Callback'],
      deadline: callback['X-Chronops-Deadline'],
    });
    const secret = this.#o.services.service(spec.service)?.secret;
    const sentAt = this.#now();
    const headers: Record<string, string> = {
      'idempotency-key': run.id,
      'x-chronops-job': spec.name,
      'x-chronops-run': run.id,
      'x-chronops-callback': callback['X-Chronops-Callback']!,
      'x-chronops-callback-token': callback['X-Chronops-Callback-Token']!,
      'x-chronops-deadline': callback['X-Chronops-Deadline']!,
      ...(secret ? lower(signatureHeaders(secret, value, sentAt)) : {}),
    };
    const attempt = { attempt: run.attempt, at: sentAt.toISOString(), summary: '' };
    try {
      if (!this.#o.kafka) throw new Error('kafka: is not configured');
      over?.();
      await this.#o.kafka().send([{ topic: spec.topic!, key: spec.name, value, headers }]);
      this.#o.metrics.lateness(spec.name, Math.max(0, sentAt.getTime() - run.dueAt.getTime()) / 1000);
      await this.store.waiting(run.id, {
        sentAt,
        httpStatus: null,
        summary: `produced to ${spec.topic}; waiting for the result by callback`,
        attempt: { ...attempt, summary: `produced to ${spec.topic}` },
      });
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      const at = new Date(this.#now().getTime() + Math.min(30_000, 1000 * 2 ** Math.min(5, run.attempt - 1)));
      const current = await this.store.run(run.id);
      if (current?.deadlineAt && at.getTime() >= current.deadlineAt.getTime()) {
        await this.#finish(spec, run, {
          status: 'failed',
          summary: `Kafka: ${reason}; deadline reached`,
          attempt: { ...attempt, summary: reason },
        });
        return;
      }
      await this.store.update({
        id: run.id,
        status: 'retrying',
        summary: `Kafka: ${reason}; trying again at ${at.toISOString()}`,
        nextAttemptAt: at,
        attempt: { ...attempt, summary: `Kafka: ${reason}` },
        final: false,
      });
      await this.#scheduleStart(run.id, at, String(run.attempt + 1));
      this.#o.metrics.run(spec.name, 'retrying');
    }
  }

  // ---- callback mode ------------------------------------------------------------------------------------------

  async #deadline(id: string): Promise<void> {
    const run = await this.store.endIfOpen(id, ['waiting'], {
      status: 'failed',
      summary: 'no result by its deadline',
    });
    if (!run) return;
    const job = await this.store.job(run.job);
    if (job) await this.#afterFinal(job.spec, run);
  }

  /**
   * A service's callback for run `id` (POST /jobs/runs/<id>/result): its one-run token and, when the service has
   * a secret, its signature over the raw body are checked; the body is the result contract (the run ends) or
   * progress (`{"progress": 0.4, "message": "…"}`). A forged callback gets 401 and a late one 409; neither
   * changes the run.
   */
  async callback(
    id: string,
    request: { token: string | undefined; timestamp?: string; signature?: string; body: string },
  ): Promise<{ status: number; body: Record<string, unknown> }> {
    const refuse = (status: number, message: string) => ({ status, body: { error: { message } } });
    if (!/^[0-9a-f-]{36}$/i.test(id)) return refuse(404, `no job run ${id}`);
    const run = await this.store.run(id);
    const stored = run ? await this.store.tokenHash(id) : null;
    if (!run) return refuse(404, `no job run ${id}`);
    if (!stored || !request.token || !safeEqual(stored, hashToken(request.token))) {
      return refuse(401, 'the callback token is missing or wrong');
    }
    const job = await this.store.job(run.job);
    const secret = job ? this.#o.services.service(job.spec.service)?.secret : undefined;
    if (secret) {
      const check = verifySignature(
        secret,
        { timestamp: request.timestamp, signature: request.signature },
        request.body,
      );
      if (!check.ok) return refuse(401, `X-Chronops-Signature: ${check.reason}`);
    }
    if (!['running', 'waiting'].includes(run.status))
      return refuse(409, `run ${id} is ${run.status} already`);
    if (run.deadlineAt && run.deadlineAt.getTime() < this.#now().getTime()) {
      return refuse(409, `run ${id} is past its deadline (${run.deadlineAt.toISOString()})`);
    }
    let json: unknown;
    try {
      json = JSON.parse(request.body);
    } catch {
      return refuse(400, 'the body must be JSON: the result contract, or {"progress": 0.4, "message": "…"}');
    }
    const result = resultOf(json);
    if (result) {
      const status = result.failCount > 0 ? 'partial' : 'success';
      const done = await this.store.endIfOpen(id, ['running', 'waiting'], {
        status,
        summary: `result by callback: ${result.successTenants.length} succeeded, ${result.failCount} failed`,
        result,
      });
      if (!done) return refuse(409, `run ${id} has ended already`);
      if (job) await this.#afterFinal(job.spec, done);
      return { status: 200, body: { run: id, status } };
    }
    const p = json as { progress?: unknown; message?: unknown };
    if (
      typeof p === 'object' &&
      p !== null &&
      typeof p.progress === 'number' &&
      p.progress >= 0 &&
      p.progress <= 1
    ) {
      const message = typeof p.message === 'string' ? p.message.slice(0, 500) : null;
      const ok = await this.store.progress(id, p.progress, message);
      if (!ok) return refuse(409, `run ${id} has ended already`);
      return { status: 200, body: { run: id, progress: p.progress } };
    }
    return refuse(400, 'the body must be the result contract, or {"progress": 0.4, "message": "…"}');
  }

  // ---- what people do -----------------------------------------------------------------------------------------

  /** The job names as of the last look (chat's completion of `<job>`). */
  names(): string[] {
    return this.#names.length > 0 ? this.#names : this.#o.jobs.map((j) => j.name);
  }

  async list(): Promise<JobView[]> {
    const [jobs, last] = await Promise.all([this.store.jobs(), this.store.lastRuns()]);
    this.#names = jobs.map((j) => j.name);
    return jobs.map((j) => ({ ...j, lastRun: last.get(j.name) ?? null }));
  }

  async get(name: string): Promise<JobView> {
    const job = await this.store.job(name);
    if (!job) throw this.#notFound(name);
    const last = await this.store.history({ job: name, limit: 1 });
    return { ...job, lastRun: last[0] ?? null };
  }

  #notFound(name: string): NotFoundError {
    return new NotFoundError(`no job named "${name}"`);
  }

  /**
   * Runs a job now, as `actor` asked. With `key` (an Idempotency-Key, a chat event), asking twice is one run.
   * The job's overlap policy holds: skip refuses while a run is going, queue waits its turn, allow runs.
   */
  async runNow(name: string, by: { actor: string; key?: string }): Promise<RunRecord> {
    const job = await this.store.job(name);
    if (!job) throw this.#notFound(name);
    const now = this.#now();
    const id = by.key ? runIdOf(name, new Date(0), `manual:${by.key}`) : randomUUID();
    const existing = await this.store.run(id);
    if (existing) return existing;
    const run = await this.store.db.transaction(async (tx) => {
      // One run at a time: the job's lock, then its runs (a run queued with its start not yet fired counts as
      // going). Two requests at once, on one server or two, are one after the other from here.
      const locked = job.spec.overlap !== 'allow';
      if (locked) {
        if (!(await this.store.lockJob(tx, name))) throw this.#notFound(name);
        const asked = await this.store.run(id, tx);
        if (asked) return asked;
      }
      const busy = locked && (await this.store.busyJobs(tx, [name])).has(name);
      if (busy && job.spec.overlap === 'skip') {
        throw new ConflictError(`${name} is still running; its overlap policy is skip (run it when it ends)`);
      }
      await this.store.insertRuns(tx, [
        { id, job: name, dueAt: now, trigger: 'manual', actor: by.actor, status: 'queued' },
      ]);
      if (!busy) await this.#scheduleStart(id, now, 'now', tx);
      return this.store.run(id, tx);
    });
    return run!;
  }

  /** A job created through the API (kept in the database; the config's jobs are the file's). */
  async create(spec: JobSpec): Promise<JobView> {
    const next = spec.paused ? null : firstDue(spec, this.#now());
    await this.store.db.transaction(async (tx) => {
      if (!(await this.store.insertJob(spec, next, tx))) {
        throw new ConflictError(`a job named "${spec.name}" exists already`);
      }
      if (next) await this.#scheduleTicks([next], tx);
    });
    this.#o.timers.noteDue(next);
    this.#names = [...new Set([...this.#names, spec.name])];
    return this.get(spec.name);
  }

  /** Deletes a job created through the API (a config job is removed from the file). */
  async remove(name: string): Promise<void> {
    const job = await this.store.job(name);
    if (!job) throw this.#notFound(name);
    if (job.origin === 'config') {
      throw new ConflictError(`${name} comes from the config file: remove it there (or pause it)`);
    }
    await this.store.deleteJob(name);
    this.#names = this.#names.filter((n) => n !== name);
  }

  async pause(name: string): Promise<JobView> {
    if (!(await this.store.job(name))) throw this.#notFound(name);
    await this.store.setPaused(name, true, null);
    return this.get(name);
  }

  /** Resumes from now: what fell due while paused is not run. */
  async resume(name: string): Promise<JobView> {
    const job = await this.store.job(name);
    if (!job) throw this.#notFound(name);
    const next = nextDue(job.spec, this.#now());
    await this.store.db.transaction(async (tx) => {
      await this.store.setPaused(name, false, next, tx);
      if (next) await this.#scheduleTicks([next], tx);
    });
    this.#o.timers.noteDue(next);
    return this.get(name);
  }

  async history(name: string | undefined, limit: number): Promise<RunRecord[]> {
    if (name !== undefined && !(await this.store.job(name))) throw this.#notFound(name);
    return this.store.history({ ...(name === undefined ? {} : { job: name }), limit });
  }

  async run(id: string): Promise<RunRecord> {
    const run = /^[0-9a-f-]{36}$/i.test(id) ? await this.store.run(id) : undefined;
    if (!run) throw new NotFoundError(`no job run ${id}`);
    return run;
  }
}

function lower(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
}

function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });
}

function newRunRecord(r: NewRun): RunRecord {
  return {
    id: r.id,
    job: r.job,
    dueAt: r.dueAt,
    trigger: r.trigger,
    actor: r.actor ?? null,
    status: r.status,
    attempt: r.attempt ?? 0,
    tick: r.tick ?? null,
    node: r.node ?? null,
    createdAt: new Date(),
    startedAt: new Date(),
    sentAt: null,
    finishedAt: null,
    nextAttemptAt: null,
    durationMs: null,
    httpStatus: null,
    summary: null,
    result: null,
    body: null,
    attempts: [],
    deadlineAt: null,
    progress: null,
    progressMessage: null,
  };
}
