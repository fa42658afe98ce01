// The rules' use cases: an event arrives (from the gateway's inbox) → the runs chronops started are told how their
// task ended → every rule it matches runs its actions, each once per delivery whatever the redeliveries;
// `test` says what a rule would do with an event without doing it; `runNow` runs a rule from a chat command.

import { createHash } from 'node:crypto';
import type { AwsGateway, CloudCall } from '../../aws/gateway.ts';
import { isThrottling } from '../../aws/gateway.ts';
import { ChronopsError, NotFoundError, ValidationError } from '../../kernel/errors.ts';
import type { Logger } from '../../kernel/logger.ts';
import { RunTaskAction, type RunTaskOutcome } from './actions/run-task.ts';
import { taskStateChange } from './events.ts';
import {
  type ActionSpec,
  type HttpSpec,
  type NotifySpec,
  type Rule,
  type RuleEvent,
  type RulesConfig,
  type RunTaskSpec,
  ruleMatches,
  whyNot,
} from './model.ts';
import type { ChatOrigin, RuleHttpCaller, RuleNotification, RuleNotifier } from './ports.ts';
import { failedNotification, startedNotification, stoppedNotification, stopRecord } from './report.ts';
import type { RulesStore, RunRecord, RunUpdate } from './store.ts';
import { compileTemplate, renderDeep } from './template.ts';

/** Attempts of one run (a delivery retried because AWS kept throttling) before it is recorded as failed. */
export const MAX_RUN_ATTEMPTS = 5;

/** A STOPPED event of a task chronops started, but whose run is not recorded yet: try the delivery again later. */
export class RunNotRecordedYet extends Error {
  constructor(taskArn: string) {
    super(
      `task ${taskArn} was started by chronops but no run records it yet; the event will be handled again`,
    );
    this.name = 'RunNotRecordedYet';
  }
}

export interface RulesMetricsPort {
  run(rule: string, action: string, outcome: string): void;
}

export interface RulesServiceOptions {
  config: RulesConfig;
  store: RulesStore;
  gateway: AwsGateway;
  notifier: RuleNotifier;
  http?: RuleHttpCaller;
  /** The global dry-run (config `dryRun`): no AWS call that changes something is sent. */
  dryRun: boolean;
  logger: Logger;
  metrics?: RulesMetricsPort;
}

export interface RunSummary {
  rule: string;
  action: number;
  kind: ActionSpec['kind'];
  runId: string;
  status: string;
  /** The run was already done for this delivery: nothing happened this time. */
  duplicate: boolean;
}

export interface HandleResult {
  matched: string[];
  runs: RunSummary[];
  /** The run whose task this STOPPED event closed, when it was one. */
  stoppedRun?: string;
}

/** What `rules test` shows for one action. */
export interface ActionRehearsal {
  action: number;
  kind: ActionSpec['kind'];
  /** Every AWS call the action makes: reads sent, mutating calls only recorded (dryRun: true). */
  calls: Array<Pick<CloudCall, 'service' | 'command' | 'input' | 'dryRun' | 'ok' | 'error'>>;
  outcome?: string;
  reason?: string;
  notification?: { to: string; message: RuleNotification };
  request?: {
    service: string;
    method: string;
    path: string;
    body?: unknown;
    headers?: Record<string, string>;
  };
  /** Template fields the event lacks. */
  missing: string[];
}

export interface TestReport {
  rule: string;
  matches: boolean;
  reason?: string;
  event: { key: string; source: string; kind: string; summary: string };
  actions: ActionRehearsal[];
}

/**
 * Deterministic per (delivery, rule, action): the same event redelivered finds the same run. A UUID (version 8,
 * name-based on SHA-256, RFC 9562) so that it also files the run's cloud calls in the audit, and fits RunTask's
 * clientToken and a tag value.
 */
export function runIdOf(deliveryKey: string, rule: string, action: number): string {
  const h = createHash('sha256').update(`${deliveryKey}\n${rule}\n${action}`).digest();
  h[6] = (h[6]! & 0x0f) | 0x80;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

export class RulesService {
  readonly config: RulesConfig;
  readonly #o: RulesServiceOptions;
  readonly #runTask: RunTaskAction;

  constructor(options: RulesServiceOptions) {
    this.#o = options;
    this.config = options.config;
    this.#runTask = new RunTaskAction({ gateway: options.gateway });
  }

  rule(name: string): Rule {
    const rule = this.config.rules.find((r) => r.name === name);
    if (!rule) {
      const known = this.config.rules.map((r) => r.name).join(', ') || '(none)';
      throw new NotFoundError(`no rule named "${name}" (rules: ${known})`);
    }
    return rule;
  }

  /**
   * Handles one event: every matching rule runs its actions (once per delivery), then a STOPPED event of a task
   * chronops started closes its run and reports it. Throws to have the delivery tried again (AWS throttling after
   * the gateway's retries, a STOPPED event that came before its run was recorded).
   */
  async handle(event: RuleEvent, origin?: ChatOrigin): Promise<HandleResult> {
    const result: HandleResult = { matched: [], runs: [] };
    let retry: unknown;
    for (const rule of this.config.rules) {
      if (!ruleMatches(rule, event)) continue;
      result.matched.push(rule.name);
      for (const [i] of rule.actions.entries()) {
        try {
          result.runs.push(await this.#execute(rule, i, event, origin));
        } catch (error) {
          // One action failing for now must not keep the others from running; the delivery is tried again.
          this.#o.logger.warn(
            { err: error, rule: rule.name, action: i, delivery: event.key },
            'rule action will be retried',
          );
          retry ??= error;
        }
      }
    }
    const change = taskStateChange(event);
    if (change?.lastStatus === 'STOPPED') {
      const run = await this.#o.store.byTaskArn(change.taskArn);
      if (run) {
        result.stoppedRun = run.id;
        const closed = await this.#o.store.stopped(run.id, stopRecord(change, event.receivedAt));
        if (closed) {
          this.#o.metrics?.run(
            closed.rule,
            'runTask',
            closed.outcome === 'ok' ? 'stopped-ok' : 'stopped-alert',
          );
          await this.#report(closed, stoppedNotification(closed), 'stopped');
        }
      } else if (change.startedBy === 'chronops' && !retry) {
        retry = new RunNotRecordedYet(change.taskArn);
      }
    }
    if (retry) throw retry;
    return result;
  }

  /**
   * Runs every action of `rule` now, asked by a person (no match needed): from chat, reports go to the thread;
   * `key` makes a retried request run it once. With `event` (the CLI's `rules run NAME --event file.json`), the
   * actions see that event (its templates filled from it), which the rule must match.
   */
  async runNow(
    ruleName: string,
    request: { key: string; user: string; platform: string; origin?: ChatOrigin; event?: RuleEvent },
  ): Promise<HandleResult> {
    const rule = this.rule(ruleName);
    const given = request.event;
    if (given) {
      const reason = whyNot(rule, given);
      if (reason !== undefined) {
        throw new ValidationError([{ field: 'event', message: `${rule.name} does not match it: ${reason}` }]);
      }
    }
    const event: RuleEvent = given
      ? {
          ...given,
          key: request.key,
          summary: `${given.summary}, run by ${request.user} (${request.platform})`.slice(0, 200),
          receivedAt: new Date(),
        }
      : {
          key: request.key,
          source: request.platform,
          kind: 'events',
          document: {
            source: 'chronops.chat',
            'detail-type': 'Rule run requested',
            time: new Date().toISOString(),
            detail: { rule: rule.name, user: request.user, platform: request.platform },
          },
          summary: `run requested by ${request.user} (${request.platform})`,
          receivedAt: new Date(),
        };
    const result: HandleResult = { matched: [rule.name], runs: [] };
    for (const [i] of rule.actions.entries())
      result.runs.push(await this.#execute(rule, i, event, request.origin));
    return result;
  }

  /** What `rule` would do with `event`: does it match, and each action's exact AWS calls (nothing is changed). */
  async test(ruleName: string, event: RuleEvent): Promise<TestReport> {
    const rule = this.rule(ruleName);
    const reason = whyNot(rule, event);
    const report: TestReport = {
      rule: rule.name,
      matches: reason === undefined,
      ...(reason === undefined ? {} : { reason }),
      event: { key: event.key, source: event.source, kind: event.kind, summary: event.summary },
      actions: [],
    };
    for (const [i, spec] of rule.actions.entries()) {
      const calls: CloudCall[] = [];
      const rehearsal: ActionRehearsal = { action: i, kind: spec.kind, calls: [], missing: [] };
      if (spec.kind === 'runTask') {
        const action = new RunTaskAction({
          gateway: this.#o.gateway.rehearsal({ record: (c) => void calls.push(c) }),
        });
        try {
          const outcome = await action.run(spec, this.#target(spec), {
            runId: runIdOf(event.key, rule.name, i),
            rule: rule.name,
            deliveryKey: event.key,
            dryRun: true,
            retry: false,
            document: event.document,
            executionId: 'rules-test',
          });
          rehearsal.outcome = outcome.status;
          if (outcome.status === 'failed') rehearsal.reason = outcome.reason;
          if ('missing' in outcome) rehearsal.missing = outcome.missing;
        } catch (error) {
          rehearsal.outcome = 'error';
          rehearsal.reason = describe(error);
        }
      } else if (spec.kind === 'notify') {
        rehearsal.notification = { to: spec.to, message: this.#renderNotify(spec, event, rehearsal.missing) };
        rehearsal.outcome = this.#o.notifier.has(spec.to) ? 'would-send' : 'unknown-destination';
      } else {
        rehearsal.request = this.#renderHttp(spec, event, rehearsal.missing);
        rehearsal.outcome = this.#o.http?.has(spec.service) ? 'would-call' : 'unknown-service';
      }
      rehearsal.calls = calls.map((c) => ({
        service: c.service,
        command: c.command,
        input: c.input,
        dryRun: c.dryRun,
        ok: c.ok,
        ...(c.error === undefined ? {} : { error: c.error }),
      }));
      report.actions.push(rehearsal);
    }
    return report;
  }

  // ---- one action, once per delivery ---------------------------------------------------------------------

  async #execute(rule: Rule, index: number, event: RuleEvent, origin?: ChatOrigin): Promise<RunSummary> {
    const spec = rule.actions[index]!;
    const id = runIdOf(event.key, rule.name, index);
    const { run, fresh } = await this.#o.store.begin({
      id,
      rule: rule.name,
      actionIndex: index,
      kind: spec.kind,
      deliveryKey: event.key,
      source: event.source,
      eventSummary: event.summary,
      event: event.document,
      origin: origin ?? null,
      dryRun: this.#o.dryRun || rule.dryRun,
      reportTo: spec.kind === 'runTask' ? (spec.report ?? null) : null,
    });
    const summary = { rule: rule.name, action: index, kind: spec.kind, runId: id };
    if (!fresh && run.status !== 'starting') {
      this.#o.metrics?.run(rule.name, spec.kind, 'duplicate');
      return { ...summary, status: run.status, duplicate: true };
    }
    if (run.attempts > MAX_RUN_ATTEMPTS) {
      const done = await this.#fail(run, `gave up after ${run.attempts - 1} attempts`);
      return { ...summary, status: done.status, duplicate: false };
    }
    let update: RunUpdate;
    try {
      if (spec.kind === 'runTask') update = await this.#runTaskAction(spec, run, event, !fresh);
      else if (spec.kind === 'notify') update = await this.#notifyAction(spec, run, event);
      else update = await this.#httpAction(spec, run, event);
    } catch (error) {
      if (isTransient(error)) throw error;
      const done = await this.#fail(run, describe(error));
      return { ...summary, status: done.status, duplicate: false };
    }
    const done = await this.#o.store.finish(id, update);
    this.#o.metrics?.run(rule.name, spec.kind, update.status === 'failed' ? 'failed' : update.status);
    if (done.status === 'failed')
      await this.#report(done, failedNotification(done, done.error ?? 'failed'), 'failed');
    else if (done.kind === 'runTask' && done.origin)
      await this.#report(done, startedNotification(done), 'started');
    return { ...summary, status: done.status, duplicate: false };
  }

  async #runTaskAction(
    spec: RunTaskSpec,
    run: RunRecord,
    event: RuleEvent,
    retry: boolean,
  ): Promise<RunUpdate> {
    const outcome: RunTaskOutcome = await this.#runTask.run(spec, this.#target(spec), {
      runId: run.id,
      rule: run.rule,
      deliveryKey: run.deliveryKey,
      dryRun: run.dryRun,
      retry,
      document: event.document,
      executionId: run.id,
    });
    const where = { cluster: outcome.cluster, region: outcome.region };
    switch (outcome.status) {
      case 'started':
        return {
          status: 'running',
          taskArn: outcome.taskArn,
          taskDefinitionArn: outcome.taskDefinitionArn,
          ...where,
          details: { input: outcome.input, missing: outcome.missing },
        };
      case 'found':
        return {
          status: 'running',
          taskArn: outcome.taskArn,
          taskDefinitionArn: outcome.taskDefinitionArn,
          ...where,
          details: { foundByTag: true, lastStatus: outcome.lastStatus ?? null },
        };
      case 'dry-run':
        return {
          status: 'dry-run',
          outcome: 'ok',
          taskDefinitionArn: outcome.taskDefinitionArn,
          ...where,
          details: { input: outcome.input, missing: outcome.missing },
        };
      case 'failed':
        return {
          status: 'failed',
          outcome: 'failed',
          ...(outcome.taskDefinitionArn === undefined
            ? {}
            : { taskDefinitionArn: outcome.taskDefinitionArn }),
          ...where,
          error: outcome.reason,
          details: {
            ...(outcome.failures ? { failures: outcome.failures } : {}),
            ...(outcome.input ? { input: outcome.input } : {}),
          },
        };
    }
  }

  async #notifyAction(spec: NotifySpec, run: RunRecord, event: RuleEvent): Promise<RunUpdate> {
    const missing: string[] = [];
    const message = this.#renderNotify(spec, event, missing);
    if (!this.#o.notifier.has(spec.to)) {
      return { status: 'failed', outcome: 'failed', error: `no notify destination named "${spec.to}"` };
    }
    await this.#o.notifier.notify(spec.to, message, run.id);
    return { status: 'done', outcome: 'ok', details: { to: spec.to, message, missing } };
  }

  async #httpAction(spec: HttpSpec, run: RunRecord, event: RuleEvent): Promise<RunUpdate> {
    const missing: string[] = [];
    const request = this.#renderHttp(spec, event, missing);
    if (!this.#o.http?.has(spec.service)) {
      return { status: 'failed', outcome: 'failed', error: `no service named "${spec.service}" to call` };
    }
    if (run.dryRun) return { status: 'dry-run', outcome: 'ok', details: { request, missing } };
    const answer = await this.#o.http.call(spec.service, request, run.id);
    return {
      status: answer.ok ? 'done' : 'failed',
      outcome: answer.ok ? 'ok' : 'failed',
      error: answer.ok ? null : answer.summary,
      details: { request, missing, answer },
    };
  }

  #renderNotify(spec: NotifySpec, event: RuleEvent, missing: string[]): RuleNotification {
    const text = compileTemplate(spec.text).render(event.document);
    missing.push(...text.missing);
    const title = spec.title === undefined ? undefined : compileTemplate(spec.title).render(event.document);
    if (title) missing.push(...title.missing);
    return {
      ...(title ? { title: title.text } : {}),
      text: text.text,
      ...(spec.severity ? { severity: spec.severity } : {}),
      footer: event.summary,
    };
  }

  #renderHttp(spec: HttpSpec, event: RuleEvent, missing: string[]) {
    const path = compileTemplate(spec.path).render(event.document, 'url');
    missing.push(...path.missing);
    return {
      service: spec.service,
      method: spec.method,
      path: path.text,
      ...(spec.body === undefined ? {} : { body: renderDeep(spec.body, event.document, missing) }),
      ...(spec.headers === undefined
        ? {}
        : { headers: renderDeep(spec.headers, event.document, missing) as Record<string, string> }),
    };
  }

  #target(spec: RunTaskSpec) {
    const target = this.config.tasks[spec.task];
    if (!target) throw new NotFoundError(`task ${spec.task} is not on the allow-list`);
    return target;
  }

  async #fail(run: RunRecord, reason: string): Promise<RunRecord> {
    const done = await this.#o.store.finish(run.id, { status: 'failed', outcome: 'failed', error: reason });
    this.#o.metrics?.run(run.rule, run.kind, 'failed');
    await this.#report(done, failedNotification(done, reason), 'failed');
    return done;
  }

  /** Tells the run's report destination and its chat thread; once per run and phase (the outbox keys on it). */
  async #report(run: RunRecord, message: RuleNotification, phase: string): Promise<void> {
    const key = `${run.id}:${phase}`;
    try {
      if (run.reportTo && this.#o.notifier.has(run.reportTo))
        await this.#o.notifier.notify(run.reportTo, message, key);
      if (run.origin) await this.#o.notifier.reply(run.origin, message, `${key}:thread`);
    } catch (error) {
      this.#o.logger.error({ err: error, run: run.id }, 'could not queue the report of a rule run');
    }
  }
}

/**
 * Worth trying the delivery again: an AWS error that is throttling (outlasting the gateway's retries) or the
 * service's fault, or anything that is not an answer at all (the database, the network). An AWS answer that
 * refuses (AccessDenied, InvalidParameter…) or chronops' own refusal would be the same next time.
 */
function isTransient(error: unknown): boolean {
  if (error instanceof ChronopsError) return false;
  if (isThrottling(error)) return true;
  const e = error as { $fault?: string; $metadata?: unknown; name?: string } | null;
  if (e?.$metadata === undefined) return true;
  return e.$fault === 'server' || e.name === 'TimeoutError';
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
