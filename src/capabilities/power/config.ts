// The power part of the config file: `schedules:` (Instance Scheduler's period model) and the resources chronops
// may start and stop: `resources.ec2`, `resources.rds`, and ECS services / Aurora clusters of `resources.ecs` /
// `resources.aurora` that name a `schedule`. This list is the allow-list: nothing else is ever started or stopped.
// The kernel's config loader composes these schemas; every error names its field.

import { z } from 'zod';
import { type FieldIssue, ValidationError } from '../../kernel/errors.ts';
import { isValidZone } from '../../kernel/time.ts';
import type { Period, PowerResource, Schedule } from './model.ts';
import { type DayRule, parseMonthdays, parseMonths, parseTimeOfDay, parseWeekdays } from './periods.ts';

export interface PowerConfig {
  schedules: Record<string, Schedule>;
  /** The allow-list of power, by resource name. */
  resources: Record<string, PowerResource>;
}

const SCHEDULE_NAME = /^[a-z0-9][a-z0-9_-]{0,39}$/;
const EC2_INSTANCE = /^i-[0-9a-f]{8}(?:[0-9a-f]{9})?$/;
const DB_INSTANCE = /^[a-zA-Z](?!.*--)[a-zA-Z0-9-]{0,62}$/;

const required = (message: string) => ({
  error: (issue: { input?: unknown }) => (issue.input === undefined ? 'is required' : message),
});

/** A day rule written as text; a lone number (`monthdays: 15`, `months: 7`) is read as that text. */
function rule(parse: (text: string) => DayRule, what: string) {
  return z
    .union([z.string(), z.number().int()], required(`must be ${what} as text, e.g. "${exampleOf(what)}"`))
    .transform((value, ctx) => {
      try {
        return parse(String(value).trim());
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: (error as Error).message });
        return z.NEVER;
      }
    });
}

function exampleOf(what: string): string {
  return what === 'weekdays' ? 'mon-fri' : what === 'days of the month' ? '1-15' : 'jan-mar';
}

function time(allowEndOfDay: boolean) {
  return z
    .union([z.string(), z.number()], required('must be a time of day such as "09:00" (quote it in YAML)'))
    .transform((value, ctx) => {
      if (typeof value === 'number') {
        // YAML 1.1 reads an unquoted 09:00 as the number 540 (base 60); say so instead of guessing.
        ctx.addIssue({ code: 'custom', message: 'must be a quoted time of day such as "09:00"' });
        return z.NEVER;
      }
      try {
        return parseTimeOfDay(value, { allowEndOfDay });
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: (error as Error).message });
        return z.NEVER;
      }
    });
}

const PeriodEntry = z
  .strictObject({
    begintime: time(false).optional(),
    endtime: time(true).optional(),
    weekdays: rule(parseWeekdays, 'weekdays').optional(),
    monthdays: rule(parseMonthdays, 'days of the month').optional(),
    months: rule(parseMonths, 'months').optional(),
  })
  .superRefine((p, ctx) => {
    if ((p.begintime === undefined) !== (p.endtime === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: [p.begintime === undefined ? 'begintime' : 'endtime'],
        message:
          'is required with ' +
          (p.begintime === undefined ? 'endtime' : 'begintime') +
          ' (give both, or neither for a period that runs whole days)',
      });
    } else if (p.begintime !== undefined && p.begintime === p.endtime) {
      ctx.addIssue({
        code: 'custom',
        path: ['endtime'],
        message: 'equals begintime; leave both out for a period that runs whole days',
      });
    }
  });

export function scheduleEntrySchema() {
  return z.strictObject({
    description: z.string(required('must be a string')).trim().max(200).optional(),
    timezone: z
      .string(required('must be a string'))
      .refine(isValidZone, 'must be an IANA time zone such as Asia/Seoul or America/New_York')
      .optional(),
    periods: z
      .array(PeriodEntry, required('must be a list of periods'))
      .min(1, 'must list at least one period'),
    enforced: z.boolean(required('must be true or false')).default(false),
    retainRunning: z.boolean(required('must be true or false')).default(false),
    hibernate: z.boolean(required('must be true or false')).default(false),
  });
}

export function schedulesSchema() {
  return z
    .record(
      z
        .string()
        .regex(
          SCHEDULE_NAME,
          'a schedule name must be 1 to 40 characters of a-z, 0-9, "-" and "_", starting with a letter or digit',
        ),
      scheduleEntrySchema(),
      required('must be a mapping of schedule names to schedules'),
    )
    .default({});
}

/** The fields an EC2 or RDS entry has, with the region schema of the loader (AWS_REGION as default). */
export function powerEntrySchemas(entry: {
  name: () => z.ZodType<string>;
  region: () => z.ZodType<string, unknown>;
  price: () => z.ZodType<number>;
}) {
  const schedule = () => z.string(required('must be the name of a schedule')).trim().min(1);
  return {
    ec2: z.strictObject({
      name: entry.name(),
      instanceId: z
        .string(required('must be a string'))
        .regex(EC2_INSTANCE, 'must be an EC2 instance id such as i-0123456789abcdef0'),
      region: entry.region(),
      schedule: schedule(),
      pricePerUnitHour: entry.price().optional(),
    }),
    rds: z.strictObject({
      name: entry.name(),
      instanceId: z
        .string(required('must be a string'))
        .regex(
          DB_INSTANCE,
          'must be a DB instance identifier (a letter, then letters, digits and single hyphens)',
        ),
      region: entry.region(),
      schedule: schedule(),
      pricePerUnitHour: entry.price().optional(),
    }),
    /** Added to ECS and Aurora entries: the schedule that starts and stops them (optional). */
    schedule: schedule().optional(),
  };
}

type ScheduleEntry = z.infer<ReturnType<typeof scheduleEntrySchema>>;

function toSchedule(name: string, s: ScheduleEntry, defaultZone: string): Schedule {
  return {
    name,
    ...(s.description === undefined ? {} : { description: s.description }),
    timezone: s.timezone ?? defaultZone,
    periods: s.periods.map(
      (p): Period => ({
        ...(p.begintime === undefined ? {} : { begin: p.begintime }),
        ...(p.endtime === undefined ? {} : { end: p.endtime }),
        ...(p.weekdays === undefined ? {} : { weekdays: p.weekdays }),
        ...(p.monthdays === undefined ? {} : { monthdays: p.monthdays }),
        ...(p.months === undefined ? {} : { months: p.months }),
      }),
    ),
    enforced: s.enforced,
    retainRunning: s.retainRunning,
    hibernate: s.hibernate,
  };
}

/**
 * One schedule from its config entry (as written in the file under `schedules.<name>`); throws a ValidationError
 * whose fields are `schedules.<name>.…`.
 */
export function parseSchedule(name: string, raw: unknown, defaultZone = 'UTC'): Schedule {
  const parsed = scheduleEntrySchema().safeParse(raw);
  if (!parsed.success) {
    throw new ValidationError(
      parsed.error.issues.map((i) => ({
        field: ['schedules', name, ...i.path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p)))]
          .join('.')
          .replace(/\.\[/g, '['),
        message: i.message,
      })),
    );
  }
  return toSchedule(name, parsed.data, defaultZone);
}

export interface PowerFileShape {
  schedules: Record<string, ScheduleEntry>;
  resources: {
    ec2: Array<{
      name: string;
      instanceId: string;
      region: string;
      schedule: string;
      pricePerUnitHour?: number;
    }>;
    rds: Array<{
      name: string;
      instanceId: string;
      region: string;
      schedule: string;
      pricePerUnitHour?: number;
    }>;
    ecs: Array<{
      name: string;
      cluster: string;
      service: string;
      region: string;
      schedule?: string;
      pricePerUnitHour?: number;
    }>;
    aurora: Array<{
      name: string;
      clusterId: string;
      region: string;
      schedule?: string;
      pricePerUnitHour?: number;
    }>;
  };
}

/**
 * The schedules and the power allow-list from an already validated file. `taken` maps the names of the resources
 * already collected (ECS, Aurora) to the field that defines them: names are unique across every kind. Problems go
 * into `issues`, each naming its field.
 */
export function collectPower(
  file: PowerFileShape,
  defaultZone: string,
  taken: ReadonlyMap<string, string>,
  issues: FieldIssue[],
): PowerConfig {
  const schedules: Record<string, Schedule> = {};
  for (const [name, entry] of Object.entries(file.schedules))
    schedules[name] = toSchedule(name, entry, defaultZone);
  const known = Object.keys(schedules);
  const resources: Record<string, PowerResource> = {};
  const seen = new Map(taken);
  const awsIds = new Map<string, string>();
  const add = (field: string, r: PowerResource, awsId: string, alreadyCollected: boolean) => {
    if (!schedules[r.schedule]) {
      issues.push({
        field: `${field}.schedule`,
        message: `unknown schedule "${r.schedule}"; configured schedules: ${known.join(', ') || '(none: add one under schedules)'}`,
      });
    }
    if (!alreadyCollected) {
      const earlier = seen.get(r.name);
      if (earlier !== undefined) {
        issues.push({ field: `${field}.name`, message: `"${r.name}" is already used by ${earlier}` });
        return;
      }
      seen.set(r.name, field);
    }
    const key = `${r.kind === 'ec2' ? 'ec2' : r.kind === 'ecs' ? 'ecs' : 'rds'}:${r.region}:${awsId}`;
    const earlier = awsIds.get(key);
    if (earlier !== undefined) {
      issues.push({ field, message: `starts and stops the same AWS resource as ${earlier}; list it once` });
      return;
    }
    awsIds.set(key, field);
    resources[r.name] = r;
  };
  const price = (p: number | undefined) => (p === undefined ? {} : { pricePerUnitHour: p });
  file.resources.ec2.forEach((e, i) => {
    add(
      `resources.ec2[${i}]`,
      {
        kind: 'ec2',
        name: e.name,
        instanceId: e.instanceId,
        region: e.region,
        schedule: e.schedule,
        ...price(e.pricePerUnitHour),
      },
      e.instanceId,
      false,
    );
  });
  file.resources.rds.forEach((e, i) => {
    add(
      `resources.rds[${i}]`,
      {
        kind: 'rds',
        name: e.name,
        instanceId: e.instanceId,
        region: e.region,
        schedule: e.schedule,
        ...price(e.pricePerUnitHour),
      },
      `db:${e.instanceId.toLowerCase()}`,
      false,
    );
  });
  file.resources.ecs.forEach((e, i) => {
    if (e.schedule === undefined) return;
    add(
      `resources.ecs[${i}]`,
      {
        kind: 'ecs',
        name: e.name,
        cluster: e.cluster,
        service: e.service,
        region: e.region,
        schedule: e.schedule,
        ...price(e.pricePerUnitHour),
      },
      `${e.cluster}/${e.service}`,
      true,
    );
  });
  file.resources.aurora.forEach((e, i) => {
    if (e.schedule === undefined) return;
    add(
      `resources.aurora[${i}]`,
      {
        kind: 'aurora',
        name: e.name,
        clusterId: e.clusterId,
        region: e.region,
        schedule: e.schedule,
        ...price(e.pricePerUnitHour),
      },
      `cluster:${e.clusterId.toLowerCase()}`,
      true,
    );
  });
  return { schedules, resources };
}
