// Office-hours power's HTTP API, mounted by the host at /api/power (behind the API's access check):
//   GET    /api/power/schedules                                   schedules, their periods and resources
//   GET    /api/power/schedules/:name?date=YYYY-MM-DD              status (AWS now), that day's info, exceptions
//   PUT    /api/power/schedules/:name/exceptions/:date/:what       { "time": "15:00" }   (what: start|stop)
//   DELETE /api/power/schedules/:name/exceptions/:date/:what
//   POST   /api/power/schedules/:name/force                         { "state": "running"|"stopped" } → 202
//   GET    /api/power/plans?days=7                                 each resource's on/off bands (the page)
//   GET    /api/power/actions?resource=&limit=                     what starts and stops did

import { Hono } from 'hono';
import { z } from 'zod';
import { NotFoundError, ValidationError } from '../../kernel/errors.ts';
import { parseHm } from './commands.ts';
import type { Period, PowerResource, Schedule } from './model.ts';
import { formatMinutes } from './periods.ts';
import { stoppedHours } from './schedule.ts';
import type { PowerService } from './service.ts';

const TimeBody = z.strictObject({ time: z.string({ error: 'must be a time of day such as "15:00"' }) });
const ForceBody = z.strictObject({
  state: z.enum(['running', 'stopped'], {
    error: 'must be "running" (force_start) or "stopped" (force_stop)',
  }),
});

async function body<T>(
  c: { req: { json(): Promise<unknown> } },
  schema: z.ZodType<T>,
  example: string,
): Promise<T> {
  let raw: unknown;
  try {
    raw = await c.req.json();
  } catch {
    throw new ValidationError([{ field: '(body)', message: `must be JSON: ${example}` }]);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    throw new ValidationError(
      parsed.error.issues.map((i) => ({ field: i.path.join('.') || '(body)', message: i.message })),
    );
  }
  return parsed.data;
}

/** `mon-fri 09:00–18:00`. */
export function describePeriod(p: Period): string {
  const parts: string[] = [];
  if (p.weekdays) parts.push(p.weekdays.text);
  if (p.monthdays) parts.push(`days ${p.monthdays.text}`);
  if (p.months) parts.push(p.months.text);
  parts.push(
    p.begin === undefined || p.end === undefined
      ? 'all day'
      : `${formatMinutes(p.begin)}–${formatMinutes(p.end)}`,
  );
  return parts.join(' ');
}

export function scheduleJson(s: Schedule, resources: PowerResource[]) {
  return {
    name: s.name,
    ...(s.description ? { description: s.description } : {}),
    timezone: s.timezone,
    periods: s.periods.map(describePeriod),
    enforced: s.enforced,
    retainRunning: s.retainRunning,
    hibernate: s.hibernate,
    resources: resources.map((r) => ({ name: r.name, kind: r.kind, region: r.region })),
  };
}

function actor(c: { req: { header(name: string): string | undefined } }): string {
  const user = (c.req.header('x-chronops-actor') ?? '').trim().slice(0, 64) || 'api';
  const source = (c.req.header('x-chronops-source') ?? '').trim().slice(0, 16) || 'api';
  return `${source}:${user}`;
}

function what(value: string): 'start' | 'stop' {
  if (value !== 'start' && value !== 'stop') {
    throw new NotFoundError(`no such exception field "${value}": use start or stop`);
  }
  return value;
}

export function powerApi(service: PowerService): Hono {
  const app = new Hono();

  app.get('/schedules', (c) =>
    c.json({
      schedules: Object.values(service.config.schedules).map((s) =>
        scheduleJson(s, service.resourcesOf(s.name)),
      ),
    }),
  );

  app.get('/schedules/:name', async (c) => {
    const name = c.req.param('name');
    const date = c.req.query('date') || undefined;
    const schedule = service.schedule(name);
    const [status, info, exceptions] = [
      await service.status(name),
      await service.info(name, date),
      await service.exceptions(name),
    ];
    return c.json({
      schedule: scheduleJson(schedule, service.resourcesOf(name)),
      resources: status.resources,
      day: info,
      exceptions,
    });
  });

  app.get('/schedules/:name/exceptions', async (c) => {
    const name = c.req.param('name');
    return c.json({ exceptions: await service.exceptions(name, c.req.query('date') || undefined) });
  });

  app.put('/schedules/:name/exceptions/:date/:what', async (c) => {
    const field = what(c.req.param('what'));
    const { time } = await body(c, TimeBody, '{ "time": "15:00" }');
    const minutes = parseHm(time);
    if (minutes === null) {
      throw new ValidationError([
        { field: 'time', message: `"${time}" is not a time of day; use h:m from 0:00 to 23:59` },
      ]);
    }
    const exception = await service.setException(
      c.req.param('name'),
      c.req.param('date'),
      field,
      minutes,
      actor(c),
    );
    return c.json({ exception, day: await service.info(c.req.param('name'), exception.date) });
  });

  app.delete('/schedules/:name/exceptions/:date/:what', async (c) => {
    const field = what(c.req.param('what'));
    const removed = await service.deleteException(c.req.param('name'), c.req.param('date'), field);
    if (!removed) {
      throw new NotFoundError(`${c.req.param('name')} has no ${field} exception on ${c.req.param('date')}`);
    }
    return c.json({ removed: true, day: await service.info(c.req.param('name'), c.req.param('date')) });
  });

  app.post('/schedules/:name/force', async (c) => {
    const { state } = await body(c, ForceBody, '{ "state": "running" }');
    const result = await service.force(c.req.param('name'), state, actor(c));
    return c.json({ ...result, schedule: c.req.param('name') }, 202);
  });

  app.get('/plans', async (c) => {
    const days = Number(c.req.query('days') ?? 7);
    if (!Number.isInteger(days) || days < 1 || days > 31) {
      throw new ValidationError([{ field: 'days', message: 'must be an integer from 1 to 31' }]);
    }
    const from = new Date();
    const to = new Date(from.getTime() + days * 86_400_000);
    const plans = await service.plans(Object.keys(service.resources), from, to);
    const exceptions = await service.store.exceptions();
    const resources = [...plans.entries()].map(([name, plan]) => {
      const r = service.resources[name]!;
      const off = stoppedHours(plan.segments);
      const perWeek = (off * 7) / days;
      return {
        resource: name,
        kind: r.kind,
        schedule: r.schedule,
        timezone: plan.input.schedule.timezone,
        segments: plan.segments.map((s) => ({
          from: s.from.toISOString(),
          until: s.until.toISOString(),
          state: s.state,
          reason: s.reason,
          ...(s.windows ? { windows: s.windows } : {}),
        })),
        exceptions: [...(exceptions.get(r.schedule)?.values() ?? [])],
        hoursOffPerWeek: Math.round(perWeek * 10) / 10,
        ...(r.pricePerUnitHour === undefined
          ? {}
          : { savingPerWeek: Math.round(perWeek * r.pricePerUnitHour * 100) / 100 }),
      };
    });
    return c.json({ from: from.toISOString(), to: to.toISOString(), resources });
  });

  app.get('/actions', async (c) => {
    const limit = Number(c.req.query('limit') ?? 50);
    if (!Number.isInteger(limit) || limit < 1 || limit > 500) {
      throw new ValidationError([{ field: 'limit', message: 'must be an integer from 1 to 500' }]);
    }
    const resource = c.req.query('resource') || undefined;
    return c.json({
      actions: await service.store.actions({ ...(resource ? { resources: [resource] } : {}), limit }),
    });
  });

  return app;
}
