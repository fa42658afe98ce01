// The rules' HTTP API, mounted by the host at /api/rules (behind the API's access check):
//   GET  /api/rules                 the rules and the task allow-list
//   POST /api/rules/:name/test      { event, source?, kind? } → does it match, what would it do (nothing is changed)
//   POST /api/rules/:name/run       run its actions now, optionally with { event } (Idempotency-Key: once per key)
//   GET  /api/rules/runs            run history (?rule=&limit=)
//   GET  /api/rules/runs/:id        one run

import { randomUUID } from 'node:crypto';
import { Hono } from 'hono';
import { z } from 'zod';
import { NotFoundError, ValidationError } from '../../kernel/errors.ts';
import { toRuleEvent } from './events.ts';
import type { ActionSpec, Rule } from './model.ts';
import type { RulesService } from './service.ts';
import type { RulesStore, RunRecord } from './store.ts';

const TestBody = z.strictObject({
  event: z.record(z.string(), z.unknown(), { error: 'must be the event as JSON (an object)' }),
  source: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]{0,39}$/, 'must be a source name')
    .optional(),
  kind: z.enum(['sns', 'events'], { error: 'must be sns or events' }).optional(),
});

export function rulesApi(deps: { service: RulesService; store: RulesStore }): Hono {
  const app = new Hono();

  app.get('/', (c) =>
    c.json({
      rules: deps.service.config.rules.map(describeRule),
      tasks: Object.values(deps.service.config.tasks),
    }),
  );

  app.get('/runs', async (c) => {
    const limit = Number(c.req.query('limit') ?? 50);
    if (!Number.isInteger(limit) || limit < 1 || limit > 500) {
      throw new ValidationError([{ field: 'limit', message: 'must be an integer from 1 to 500' }]);
    }
    const rule = c.req.query('rule') || undefined;
    const runs = await deps.store.list({ ...(rule ? { rule } : {}), limit });
    return c.json({ runs: runs.map(runJson) });
  });

  app.get('/runs/:id', async (c) => {
    const run = await deps.store.get(c.req.param('id'));
    if (!run) throw new NotFoundError(`no rule run ${c.req.param('id')}`);
    return c.json({ run: runJson(run) });
  });

  // Run a rule now, as a person asked (the CLI's `rules run`): an Idempotency-Key header makes a retry run it once.
  // An optional body { event, source?, kind? } is the event its actions see (the rule must match it).
  app.post('/:name/run', async (c) => {
    const rule = deps.service.rule(c.req.param('name'));
    const user = (c.req.header('x-chronops-actor') ?? '').trim().slice(0, 64) || 'api';
    const platform = (c.req.header('x-chronops-source') ?? '').trim().slice(0, 16) || 'api';
    const key = (c.req.header('idempotency-key') ?? '').trim().slice(0, 128) || randomUUID();
    const text = await c.req.text();
    const event = text.trim() === '' ? undefined : eventOf(rule, text);
    const result = await deps.service.runNow(rule.name, {
      key: `${platform}:${key}`,
      user,
      platform,
      ...(event ? { event } : {}),
    });
    return c.json(result, 202);
  });

  app.post('/:name/test', async (c) => {
    const rule = deps.service.rule(c.req.param('name'));
    return c.json(await deps.service.test(rule.name, eventOf(rule, await c.req.text())));
  });

  return app;
}

/** The event of a test or run request's body `{ event, source?, kind? }`: SNS when it looks like an SNS message. */
function eventOf(rule: Rule, text: string) {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new ValidationError([{ field: '(body)', message: 'must be JSON: { "event": { … } }' }]);
  }
  const parsed = TestBody.safeParse(raw);
  if (!parsed.success) {
    throw new ValidationError(
      parsed.error.issues.map((i) => ({ field: i.path.join('.') || '(body)', message: i.message })),
    );
  }
  const { event, source, kind } = parsed.data;
  const isSns = kind ? kind === 'sns' : typeof event.Type === 'string' && typeof event.TopicArn === 'string';
  const id = String((isSns ? event.MessageId : event.id) ?? 'event');
  const from = source ?? rule.match.sources?.[0] ?? 'test';
  return toRuleEvent({
    key: `${from}:${id}`,
    source: from,
    kind: isSns ? 'sns' : 'events',
    body: JSON.stringify(event),
    receivedAt: new Date(),
  });
}

function describeRule(rule: Rule) {
  return {
    name: rule.name,
    ...(rule.description ? { description: rule.description } : {}),
    match: {
      ...(rule.match.sources ? { sources: rule.match.sources } : {}),
      ...(rule.match.topicArns ? { topicArns: rule.match.topicArns } : {}),
      ...(rule.match.pattern ? { pattern: rule.match.pattern.source } : {}),
    },
    actions: rule.actions.map(describeAction),
    dryRun: rule.dryRun,
  };
}

/** One line per action, for lists. */
export function describeAction(action: ActionSpec): string {
  switch (action.kind) {
    case 'runTask':
      return `runTask ${action.family}${action.revision === undefined ? ' (latest ACTIVE)' : `:${action.revision}`} on ${action.task}${action.report ? `, report to ${action.report}` : ''}`;
    case 'notify':
      return `notify ${action.to}`;
    case 'http':
      return `http ${action.method} ${action.service}${action.path}`;
  }
}

export function runJson(run: RunRecord) {
  return {
    id: run.id,
    rule: run.rule,
    action: run.actionIndex,
    kind: run.kind,
    deliveryKey: run.deliveryKey,
    source: run.source,
    event: run.eventSummary,
    dryRun: run.dryRun,
    status: run.status,
    outcome: run.outcome,
    attempts: run.attempts,
    cluster: run.cluster,
    region: run.region,
    taskArn: run.taskArn,
    taskDefinitionArn: run.taskDefinitionArn,
    createdAt: run.createdAt.toISOString(),
    taskStartedAt: run.taskStartedAt?.toISOString() ?? null,
    stoppedAt: run.stoppedAt?.toISOString() ?? null,
    finishedAt: run.finishedAt?.toISOString() ?? null,
    containers: run.containers,
    stopCode: run.stopCode,
    stoppedReason: run.stoppedReason,
    error: run.error,
    origin: run.origin ? { platform: run.origin.platform, user: run.origin.user } : null,
  };
}
