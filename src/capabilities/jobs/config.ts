// `jobs:` in the config file. Everything is checked when the file is read: the service exists (services:), the
// cron parses in its zone, the notify destinations exist.
//
//   jobs:
//     - name: leave-status
//       service: cms
//       method: POST                          # default POST
//       path: /scheduling-api/leave-status
//       body: { date: today }                 # JSON, optional; headers: {...} optional
//       schedule: '0 0 9 * * *'               # cron, seconds first optional (or at: '2026-12-24T18:00')
//       timezone: Asia/Seoul                  # default: the config's timezone
//       timeoutSeconds: 30                    # default: the service's
//       retries: { limit: 3, delaySeconds: 10, maxDelaySeconds: 600, jitter: 0.2 }
//       overlap: skip                         # skip | queue | allow: when the previous run is still going
//       catchUpMinutes: 60                    # missed while chronops was down: run late within this, else "missed"
//       mode: sync                            # sync | callback | kafka (topic:)
//       notify: { to: [ops-teams], when: always, alert: oncall }   # when: always | failure | change

import { DateTime } from 'luxon';
import { z } from 'zod';
import type { FieldIssue } from '../../kernel/errors.ts';
import { isValidZone } from '../../kernel/time.ts';
import { checkCron, type JobSpec, MODES, NOTIFY_WHEN, OVERLAPS } from './model.ts';

export interface JobsConfig {
  jobs: JobSpec[];
}

const JOB_NAME = /^[a-z0-9][a-z0-9_-]{0,59}$/;
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;
const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
const DESTINATION = /^[a-z0-9][a-z0-9_-]{0,39}$/;
const TOPIC = /^[A-Za-z0-9._-]{1,249}$/;

const required = (message: string) => ({
  error: (issue: { input?: unknown }) => (issue.input === undefined ? 'is required' : message),
});
const destinations = z.union(
  [
    z
      .string()
      .regex(DESTINATION, 'must be a destination name')
      .transform((v) => [v]),
    z.array(z.string().regex(DESTINATION, 'must be a destination name')),
  ],
  { error: 'must be a destination name or a list of them' },
);

export const JOB_DEFAULTS = {
  method: 'POST',
  overlap: 'skip',
  catchUpMinutes: 10,
  mode: 'sync',
  deadlineSeconds: 3600,
  retries: { limit: 0, delaySeconds: 10, maxDelaySeconds: 600, jitter: 0.2 },
} as const;

export function jobEntrySchema() {
  return z.strictObject({
    name: z
      .string(required('must be a string'))
      .regex(
        JOB_NAME,
        'must be 1 to 60 characters of a-z, 0-9, "_" and "-", starting with a letter or digit',
      ),
    description: z.string(required('must be a string')).max(500).optional(),
    service: z.string(required('must be the name of a service under services:')),
    method: z
      .string(required('must be a string'))
      .transform((m) => m.toUpperCase())
      .pipe(z.enum(METHODS, { error: `must be one of ${METHODS.join(', ')}` }))
      .default(JOB_DEFAULTS.method),
    path: z.string(required('must be a string')).regex(/^\/(?!\/)/, 'must start with "/"'),
    headers: z
      .record(
        z.string().regex(HEADER_NAME, 'must be an HTTP header name'),
        z.string(),
        required('must be a mapping'),
      )
      .default({}),
    body: z.unknown().optional(),
    schedule: z.string(required('must be a cron expression')).trim().optional(),
    at: z.string(required('must be a date and time')).trim().optional(),
    timezone: z
      .string(required('must be a string'))
      .refine(isValidZone, 'must be an IANA time zone such as Asia/Seoul or UTC')
      .optional(),
    timeoutSeconds: z.number(required('must be a number of seconds')).positive().max(3600).optional(),
    retries: z
      .strictObject({
        limit: z
          .number(required('must be an integer from 0 to 20'))
          .int()
          .min(0)
          .max(20)
          .default(JOB_DEFAULTS.retries.limit),
        delaySeconds: z
          .number(required('must be a number of seconds'))
          .min(0)
          .max(86_400)
          .default(JOB_DEFAULTS.retries.delaySeconds),
        maxDelaySeconds: z
          .number(required('must be a number of seconds'))
          .min(0)
          .max(86_400)
          .default(JOB_DEFAULTS.retries.maxDelaySeconds),
        jitter: z
          .number(required('must be a fraction from 0 to 1'))
          .min(0)
          .max(1)
          .default(JOB_DEFAULTS.retries.jitter),
      })
      .prefault({}),
    overlap: z.enum(OVERLAPS, { error: 'must be skip, queue or allow' }).default(JOB_DEFAULTS.overlap),
    catchUpMinutes: z
      .number(required('must be a whole number of minutes'))
      .int()
      .min(0)
      .max(7 * 24 * 60)
      .default(JOB_DEFAULTS.catchUpMinutes),
    mode: z.enum(MODES, { error: 'must be sync, callback or kafka' }).default(JOB_DEFAULTS.mode),
    topic: z.string(required('must be a topic name')).regex(TOPIC, 'must be a Kafka topic name').optional(),
    deadlineSeconds: z
      .number(required('must be a number of seconds'))
      .int()
      .positive()
      .max(7 * 86_400)
      .default(JOB_DEFAULTS.deadlineSeconds),
    notify: z
      .strictObject({
        to: destinations.default([]),
        when: z.enum(NOTIFY_WHEN, { error: 'must be always, failure or change' }).default('always'),
        alert: z.string().regex(DESTINATION, 'must be a destination name').optional(),
      })
      .prefault({}),
    paused: z.boolean(required('must be true or false')).default(false),
  });
}

export type JobEntry = z.infer<ReturnType<typeof jobEntrySchema>>;

/**
 * Checks what one entry alone cannot (its service, its destinations, its cron in its zone) and returns the
 * jobs. `field` prefixes issue paths (`jobs[0]` in the file; `(body)` in the API).
 */
export function toJobSpec(
  entry: JobEntry,
  ctx: {
    services: ReadonlySet<string>;
    destinations: ReadonlySet<string>;
    timezone: string;
    kafka?: boolean;
  },
  field: string,
  issues: FieldIssue[],
): JobSpec | undefined {
  const before = issues.length;
  const timezone = entry.timezone ?? ctx.timezone;
  if (!ctx.services.has(entry.service)) {
    issues.push({
      field: `${field}.service`,
      message: `no service named "${entry.service}" (services: ${[...ctx.services].join(', ') || 'none'})`,
    });
  }
  if ((entry.schedule === undefined) === (entry.at === undefined)) {
    issues.push({
      field: `${field}.schedule`,
      message: 'give either schedule (cron) or at (a time), not both',
    });
  }
  let at: string | undefined;
  if (entry.schedule !== undefined) {
    try {
      checkCron(entry.schedule, timezone);
    } catch (error) {
      issues.push({
        field: `${field}.schedule`,
        message: `is not a cron expression: ${(error as Error).message}`,
      });
    }
  }
  if (entry.at !== undefined) {
    const parsed = DateTime.fromISO(entry.at, { zone: timezone });
    if (!parsed.isValid) {
      issues.push({ field: `${field}.at`, message: 'must be an ISO date and time such as 2026-12-24T18:00' });
    } else {
      at = parsed.toUTC().toISO()!;
    }
  }
  for (const to of [...entry.notify.to, ...(entry.notify.alert ? [entry.notify.alert] : [])]) {
    if (!ctx.destinations.has(to)) {
      issues.push({
        field: `${field}.notify`,
        message: `no notify destination "${to}" (notify.destinations: ${[...ctx.destinations].join(', ') || 'none'})`,
      });
    }
  }
  if (entry.mode === 'kafka' && entry.topic === undefined) {
    issues.push({ field: `${field}.topic`, message: 'is required in kafka mode' });
  }
  if (entry.mode === 'kafka' && ctx.kafka === false) {
    issues.push({ field: `${field}.mode`, message: 'kafka mode needs kafka: (brokers) in the config' });
  }
  if (entry.retries.maxDelaySeconds < entry.retries.delaySeconds) {
    issues.push({ field: `${field}.retries.maxDelaySeconds`, message: 'must be at least delaySeconds' });
  }
  if (issues.length > before) return undefined;
  return {
    name: entry.name,
    ...(entry.description ? { description: entry.description } : {}),
    service: entry.service,
    method: entry.method,
    path: entry.path,
    headers: entry.headers,
    ...(entry.body === undefined ? {} : { body: entry.body }),
    ...(entry.schedule !== undefined ? { schedule: entry.schedule } : {}),
    ...(at !== undefined ? { at } : {}),
    timezone,
    ...(entry.timeoutSeconds === undefined ? {} : { timeoutSeconds: entry.timeoutSeconds }),
    retries: { ...entry.retries },
    overlap: entry.overlap,
    catchUpMinutes: entry.catchUpMinutes,
    mode: entry.mode,
    ...(entry.topic ? { topic: entry.topic } : {}),
    deadlineSeconds: entry.deadlineSeconds,
    notify: {
      to: entry.notify.to,
      when: entry.notify.when,
      ...(entry.notify.alert ? { alert: entry.notify.alert } : {}),
    },
    paused: entry.paused,
  };
}

export function collectJobs(
  entries: readonly JobEntry[],
  ctx: {
    services: ReadonlySet<string>;
    destinations: ReadonlySet<string>;
    timezone: string;
    kafka?: boolean;
  },
  issues: FieldIssue[],
): JobsConfig {
  const jobs: JobSpec[] = [];
  const seen = new Set<string>();
  entries.forEach((entry, i) => {
    if (seen.has(entry.name)) {
      issues.push({ field: `jobs[${i}].name`, message: `"${entry.name}" is already used by another job` });
      return;
    }
    seen.add(entry.name);
    const job = toJobSpec(entry, ctx, `jobs[${i}]`, issues);
    if (job) jobs.push(job);
  });
  return { jobs };
}
