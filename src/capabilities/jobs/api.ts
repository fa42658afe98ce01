// HTTP jobs' API, mounted by the host at /api/jobs (behind the API's access check):
//   GET  /api/jobs                    the jobs: next run, last result
//   POST /api/jobs                    create a job (the body is a jobs: entry of the config file) → 201
//   DELETE /api/jobs/:name            delete a job created through the API
//   GET  /api/jobs/runs               run history of every job (?job=&limit=)
//   GET  /api/jobs/runs/:id           one run (attempts, tenants, answer)
//   GET  /api/jobs/:name              one job and its latest runs
//   GET  /api/jobs/:name/history      its runs (?limit=)
//   POST /api/jobs/:name/run          run it now (Idempotency-Key: once per key) → 202
//   POST /api/jobs/:name/pause        no more scheduled runs until resumed
//   POST /api/jobs/:name/resume       scheduled runs again, from the next time on

import { Hono } from 'hono';
import type { Config } from '../../kernel/config.ts';
import { type FieldIssue, ValidationError } from '../../kernel/errors.ts';
import { jobEntrySchema, toJobSpec } from './config.ts';
import type { JobsService, JobView } from './service.ts';
import type { RunRecord } from './store.ts';

function limitOf(raw: string | undefined, fallback: number): number {
  const limit = Number(raw ?? fallback);
  if (!Number.isInteger(limit) || limit < 1 || limit > 500) {
    throw new ValidationError([{ field: 'limit', message: 'must be an integer from 1 to 500' }]);
  }
  return limit;
}

export function jobsApi(service: JobsService, config?: Config): Hono {
  const app = new Hono();

  app.post('/', async (c) => {
    let raw: unknown;
    try {
      raw = await c.req.json();
    } catch {
      throw new ValidationError([
        { field: '(body)', message: 'must be JSON: a job as in jobs: of the config' },
      ]);
    }
    const parsed = jobEntrySchema().safeParse(raw);
    if (!parsed.success) {
      throw new ValidationError(
        parsed.error.issues.map((i) => ({ field: i.path.join('.') || '(body)', message: i.message })),
      );
    }
    const issues: FieldIssue[] = [];
    const spec = toJobSpec(
      parsed.data,
      {
        services: new Set(Object.keys(config?.services ?? {})),
        destinations: new Set(Object.keys(config?.notify.destinations ?? {})),
        timezone: config?.timezone ?? 'UTC',
        kafka: config?.kafka !== undefined,
      },
      '(body)',
      issues,
    );
    if (!spec)
      throw new ValidationError(issues.map((i) => ({ ...i, field: i.field.replace(/^\(body\)\./, '') })));
    return c.json({ job: jobJson(await service.create(spec)) }, 201);
  });

  app.delete('/:name', async (c) => {
    await service.remove(c.req.param('name'));
    return c.body(null, 204);
  });

  app.get('/', async (c) => c.json({ jobs: (await service.list()).map(jobJson) }));

  app.get('/runs', async (c) => {
    const job = c.req.query('job') || undefined;
    const runs = await service.history(job, limitOf(c.req.query('limit'), 50));
    return c.json({ runs: runs.map((r) => runJson(r)) });
  });

  app.get('/runs/:id', async (c) => c.json({ run: runJson(await service.run(c.req.param('id')), true) }));

  app.get('/:name', async (c) => {
    const job = await service.get(c.req.param('name'));
    const runs = await service.history(job.name, limitOf(c.req.query('limit'), 20));
    return c.json({ job: jobJson(job), runs: runs.map((r) => runJson(r)) });
  });

  app.get('/:name/history', async (c) => {
    const runs = await service.history(c.req.param('name'), limitOf(c.req.query('limit'), 20));
    return c.json({ runs: runs.map((r) => runJson(r)) });
  });

  app.post('/:name/run', async (c) => {
    const actor = (c.req.header('x-chronops-actor') ?? '').trim().slice(0, 64) || 'api';
    const source = (c.req.header('x-chronops-source') ?? '').trim().slice(0, 16) || 'api';
    const key = (c.req.header('idempotency-key') ?? '').trim().slice(0, 128) || undefined;
    const run = await service.runNow(c.req.param('name'), {
      actor: `${actor} (${source})`,
      ...(key ? { key: `${source}:${key}` } : {}),
    });
    return c.json({ run: runJson(run) }, 202);
  });

  app.post('/:name/pause', async (c) => c.json({ job: jobJson(await service.pause(c.req.param('name'))) }));
  app.post('/:name/resume', async (c) => c.json({ job: jobJson(await service.resume(c.req.param('name'))) }));

  return app;
}

export function jobJson(job: JobView) {
  const s = job.spec;
  return {
    name: job.name,
    ...(s.description ? { description: s.description } : {}),
    service: s.service,
    method: s.method,
    path: s.path,
    ...(s.schedule ? { schedule: s.schedule } : {}),
    ...(s.at ? { at: s.at } : {}),
    timezone: s.timezone,
    mode: s.mode,
    overlap: s.overlap,
    retries: s.retries.limit,
    catchUpMinutes: s.catchUpMinutes,
    notify: s.notify,
    origin: job.origin,
    paused: job.paused,
    nextRunAt: job.paused ? null : (job.nextDueAt?.toISOString() ?? null),
    lastRun: job.lastRun ? runJson(job.lastRun) : null,
  };
}

export function runJson(run: RunRecord, full = false) {
  const r = run.result;
  return {
    id: run.id,
    job: run.job,
    dueAt: run.dueAt.toISOString(),
    trigger: run.trigger,
    actor: run.actor,
    status: run.status,
    attempt: run.attempt,
    startedAt: run.startedAt?.toISOString() ?? null,
    sentAt: run.sentAt?.toISOString() ?? null,
    finishedAt: run.finishedAt?.toISOString() ?? null,
    nextAttemptAt: run.nextAttemptAt?.toISOString() ?? null,
    durationMs: run.durationMs,
    httpStatus: run.httpStatus,
    summary: run.summary,
    tenants: r
      ? {
          failCount: r.failCount,
          failed: r.failTenants,
          succeeded: r.successTenants,
          ...(full ? { failDetails: r.failDetails } : {}),
        }
      : null,
    ...(run.progress === null ? {} : { progress: run.progress, progressMessage: run.progressMessage }),
    ...(full ? { attempts: run.attempts, body: r ? null : run.body } : {}),
  };
}
