// `rules:` and `resources.tasks:` in the config file. The allow-list names each cluster a rule may start tasks on
// and the task definition families it may run there; a rule can only point at an entry of it. Everything a rule
// holds is checked when the file is read: its pattern is compiled, its templates parsed, its task looked up.
//
//   resources:
//     tasks:
//       - name: pricing                      # how rules refer to it
//         cluster: pricing                   # ECS cluster name or ARN
//         region: us-east-1
//         taskDefinitions: [pricechecker]    # families rules may run on it
//         maxRunning: 2                      # optional cap on tasks chronops started running at once
//   rules:
//     - name: price-list
//       match:
//         source: price-list                 # gateway sources (optional)
//         topicArn: arn:aws:sns:us-east-1:278350005181:price-list-api   # SNS topics (optional)
//         pattern: { Message: { offerCode: [AmazonEC2] } }              # EventBridge-style (optional)
//       actions:
//         - runTask: { task: pricing, taskDefinition: pricechecker, subnets: [...], securityGroups: [...],
//                      assignPublicIp: true, containerOverrides: [...], report: ops }
//         - notify: { to: ops, text: 'Price list {{ Message.offerCode }} updated' }
//         - http: { service: billing, method: POST, path: /prices/{{ Message.offerCode }}, body: {...} }

import { z } from 'zod';
import type { FieldIssue } from '../../kernel/errors.ts';
import type { ActionSpec, Rule, RulesConfig, TaskTarget } from './model.ts';
import { compilePattern, PatternError } from './pattern.ts';
import { checkTemplates } from './template.ts';

const FAMILY = /^[A-Za-z0-9_-]{1,255}$/;
const TASK_DEFINITION = /^([A-Za-z0-9_-]{1,255})(?::(\d{1,9}))?$/;
const SUBNET = /^subnet-[0-9a-f]{8,17}$/;
const SECURITY_GROUP = /^sg-[0-9a-f]{8,17}$/;
const CONTAINER = /^[A-Za-z0-9_-]{1,255}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,254}$/;
const TOPIC_ARN = /^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$/;
const SOURCE_NAME = /^[a-z0-9][a-z0-9_-]{0,39}$/;
const DESTINATION = /^[a-z0-9][a-z0-9_-]{0,39}$/;
const PLATFORM_VERSION = /^(LATEST|\d+\.\d+\.\d+)$/;
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;

/** Helpers the config loader shares with every section (same messages everywhere). */
export interface SchemaHelpers {
  name: () => z.ZodType<string>;
  region: () => z.ZodType<string>;
}

const str = (message = 'must be a non-empty string') => z.string({ error: message }).trim().min(1, message);
const list = <T extends z.ZodType>(item: T) => z.array(item, { error: 'must be a list' });
const oneOrMany = <T extends z.ZodType<string>>(item: T) =>
  z.union([item.transform((v) => [v]), list(item).min(1, 'must not be empty')], {
    error: 'must be a string or a list of strings',
  });

/** The schemas of `resources.tasks[]` and `rules[]`. */
export function rulesSchemas(h: SchemaHelpers) {
  const taskEntry = z.strictObject({
    name: h.name(),
    cluster: str(),
    region: h.region(),
    taskDefinitions: list(
      z
        .string({ error: 'must be a string' })
        .regex(FAMILY, 'must be a task definition family (letters, digits, _ and -; no revision)'),
    ).min(1, 'must name at least one family'),
    maxRunning: z.number({ error: 'must be a positive integer' }).int().positive().optional(),
  });

  const containerOverride = z.strictObject({
    name: z
      .string({ error: 'must be a string' })
      .regex(CONTAINER, 'must be a container name of the task definition'),
    command: list(z.string({ error: 'must be a string' })).optional(),
    environment: z
      .record(z.string().regex(ENV_NAME, 'must be an environment variable name'), z.coerce.string(), {
        error: 'must be a mapping of NAME: value',
      })
      .optional(),
  });

  const runTask = z.strictObject({
    task: h.name(),
    taskDefinition: z
      .string({ error: 'must be a string' })
      .regex(
        TASK_DEFINITION,
        'must be a family (latest ACTIVE revision) or family:revision, e.g. pricechecker or pricechecker:7',
      ),
    subnets: list(
      z
        .string({ error: 'must be a string' })
        .regex(SUBNET, 'must be a subnet id such as subnet-0123456789abcdef0'),
    )
      .min(1, 'Fargate needs at least one subnet')
      .max(16),
    securityGroups: list(
      z
        .string({ error: 'must be a string' })
        .regex(SECURITY_GROUP, 'must be a security group id such as sg-0123456789abcdef0'),
    )
      .max(5)
      .default([]),
    assignPublicIp: z.boolean({ error: 'must be true or false' }).default(false),
    platformVersion: z
      .string({ error: 'must be a string' })
      .regex(PLATFORM_VERSION, 'must be LATEST or a version such as 1.4.0')
      .optional(),
    containerOverrides: list(containerOverride).default([]),
    report: z
      .string({ error: 'must be a string' })
      .regex(DESTINATION, 'must be a notify destination name')
      .optional(),
  });

  const notify = z.strictObject({
    to: z.string({ error: 'must be a string' }).regex(DESTINATION, 'must be a notify destination name'),
    title: str().optional(),
    text: str(),
    severity: z
      .enum(['info', 'success', 'warning', 'error'], { error: 'must be info, success, warning or error' })
      .optional(),
  });

  const http = z.strictObject({
    service: h.name(),
    method: z
      .enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE'], { error: 'must be GET, POST, PUT, PATCH or DELETE' })
      .default('POST'),
    path: z.string({ error: 'must be a string' }).startsWith('/', 'must start with /').default('/'),
    body: z.unknown().optional(),
    headers: z
      .record(z.string().regex(HEADER_NAME, 'must be an HTTP header name'), z.string(), {
        error: 'must be a mapping',
      })
      .optional(),
  });

  const action = z
    .strictObject({ runTask: runTask.optional(), notify: notify.optional(), http: http.optional() })
    .superRefine((a, ctx) => {
      const kinds = Object.keys(a).filter((k) => a[k as keyof typeof a] !== undefined);
      if (kinds.length !== 1) {
        ctx.addIssue({
          code: 'custom',
          message: `must be exactly one of runTask, notify, http (got ${kinds.join(', ') || 'none'})`,
        });
      }
      const problem = checkTemplates(a, '');
      if (problem) ctx.addIssue({ code: 'custom', message: problem.message, path: [problem.path.slice(1)] });
    });

  const match = z
    .strictObject({
      source: oneOrMany(
        z.string({ error: 'must be a string' }).regex(SOURCE_NAME, 'must be a source name'),
      ).optional(),
      topicArn: oneOrMany(
        z
          .string({ error: 'must be a string' })
          .regex(TOPIC_ARN, 'must be an SNS topic ARN such as arn:aws:sns:us-east-1:123456789012:name'),
      ).optional(),
      pattern: z
        .record(z.string(), z.unknown(), { error: 'must be an event pattern (a mapping)' })
        .optional(),
    })
    .superRefine((m, ctx) => {
      if (!m.source && !m.topicArn && !m.pattern) {
        ctx.addIssue({
          code: 'custom',
          message: 'must name a source, a topicArn or a pattern (a rule that matches everything is refused)',
        });
      }
      if (m.pattern) {
        try {
          compilePattern(m.pattern, '');
        } catch (error) {
          if (!(error instanceof PatternError)) throw error;
          const at = error.path.replace(/^\./, '');
          ctx.addIssue({ code: 'custom', message: error.reason, path: ['pattern', ...(at ? [at] : [])] });
        }
      }
    });

  const rule = z.strictObject({
    name: h.name(),
    description: str().optional(),
    match,
    actions: list(action).min(1, 'must have at least one action'),
    dryRun: z.boolean({ error: 'must be true or false' }).default(false),
  });

  return { taskEntry, rule };
}

type Schemas = ReturnType<typeof rulesSchemas>;
export type TaskEntryFile = z.infer<Schemas['taskEntry']>;
export type RuleFile = z.infer<Schemas['rule']>;

/**
 * The rules and the task allow-list with cross-checks: unique names (`taken` holds the names of the other
 * resources and where they are), each runTask's entry and family on the allow-list, each destination a notify
 * destination of the config, each http action's service one of `services:`. Problems go to `issues`.
 */
export function collectRules(
  tasks: TaskEntryFile[],
  rules: RuleFile[],
  taken: ReadonlyMap<string, string>,
  destinations: ReadonlySet<string>,
  issues: FieldIssue[],
  services: ReadonlySet<string> = new Set(),
): RulesConfig {
  const known = () => [...destinations].join(', ') || 'none; add notify.destinations';
  const checkDestination = (field: string, name: string | undefined) => {
    if (name !== undefined && !destinations.has(name)) {
      issues.push({ field, message: `no notify destination "${name}" (configured: ${known()})` });
    }
  };
  const out: RulesConfig = { rules: [], tasks: {} };
  const seen = new Map(taken);
  tasks.forEach((entry, i) => {
    const at = `resources.tasks[${i}]`;
    const earlier = seen.get(entry.name);
    if (earlier !== undefined) {
      issues.push({ field: `${at}.name`, message: `"${entry.name}" is already used by ${earlier}` });
      return;
    }
    seen.set(entry.name, at);
    const target: TaskTarget = {
      name: entry.name,
      cluster: entry.cluster,
      region: entry.region,
      taskDefinitions: [...new Set(entry.taskDefinitions)],
      ...(entry.maxRunning === undefined ? {} : { maxRunning: entry.maxRunning }),
    };
    out.tasks[entry.name] = target;
  });

  const ruleNames = new Map<string, string>();
  rules.forEach((file, i) => {
    const at = `rules[${i}]`;
    const earlier = ruleNames.get(file.name);
    if (earlier !== undefined) {
      issues.push({ field: `${at}.name`, message: `"${file.name}" is already the name of ${earlier}` });
      return;
    }
    ruleNames.set(file.name, at);
    const actions: ActionSpec[] = [];
    file.actions.forEach((a, j) => {
      const field = `${at}.actions[${j}]`;
      if (a.runTask) {
        const r = a.runTask;
        checkDestination(`${field}.runTask.report`, r.report);
        const target = out.tasks[r.task];
        const [, family = '', revision] = TASK_DEFINITION.exec(r.taskDefinition) ?? [];
        if (!target) {
          const known = Object.keys(out.tasks).join(', ') || '(none)';
          issues.push({
            field: `${field}.runTask.task`,
            message: `"${r.task}" is not in resources.tasks (known: ${known})`,
          });
          return;
        }
        if (!target.taskDefinitions.includes(family)) {
          issues.push({
            field: `${field}.runTask.taskDefinition`,
            message: `family "${family}" is not allowed on ${target.name} (allowed: ${target.taskDefinitions.join(', ')})`,
          });
          return;
        }
        actions.push({
          kind: 'runTask',
          task: r.task,
          family,
          ...(revision === undefined ? {} : { revision: Number(revision) }),
          subnets: r.subnets,
          securityGroups: r.securityGroups,
          assignPublicIp: r.assignPublicIp,
          ...(r.platformVersion === undefined ? {} : { platformVersion: r.platformVersion }),
          containerOverrides: r.containerOverrides.map((c) => ({
            name: c.name,
            ...(c.command === undefined ? {} : { command: c.command }),
            ...(c.environment === undefined ? {} : { environment: c.environment }),
          })),
          ...(r.report === undefined ? {} : { report: r.report }),
        });
      } else if (a.notify) {
        const n = a.notify;
        checkDestination(`${field}.notify.to`, n.to);
        actions.push({
          kind: 'notify',
          to: n.to,
          text: n.text,
          ...(n.title === undefined ? {} : { title: n.title }),
          ...(n.severity === undefined ? {} : { severity: n.severity }),
        });
      } else if (a.http) {
        const h = a.http;
        if (!services.has(h.service)) {
          issues.push({
            field: `${field}.http.service`,
            message: `no service "${h.service}" (configured: ${[...services].join(', ') || 'none; add services:'})`,
          });
        }
        actions.push({
          kind: 'http',
          service: h.service,
          method: h.method,
          path: h.path,
          ...(h.body === undefined ? {} : { body: h.body }),
          ...(h.headers === undefined ? {} : { headers: h.headers }),
        });
      }
    });
    const m = file.match;
    const rule: Rule = {
      name: file.name,
      ...(file.description === undefined ? {} : { description: file.description }),
      match: {
        ...(m.source === undefined ? {} : { sources: m.source }),
        ...(m.topicArn === undefined ? {} : { topicArns: m.topicArn }),
        ...(m.pattern === undefined ? {} : { pattern: compilePattern(m.pattern) }),
      },
      actions,
      dryRun: file.dryRun,
    };
    out.rules.push(rule);
  });
  return out;
}
