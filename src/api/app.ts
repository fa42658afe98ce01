import { type Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { z } from 'zod';
import type { WindowStatus } from '../capabilities/capacity/model.ts';
import type { Actor, CapacityService } from '../capabilities/capacity/service.ts';
import type { Store } from '../capabilities/capacity/store.ts';
import { ChronopsError } from '../kernel/errors.ts';
import type { Logger } from '../kernel/logger.ts';
import type { Metrics } from '../kernel/metrics.ts';
import { checkAccess } from './auth.ts';

const Ask = z.object({
  resource: z.string().min(1).max(64).optional(),
  amount: z.number().int(),
});

/** `POST /api/windows` (documented in docs/api.md). */
export const CreateWindowBody = z.strictObject({
  name: z.string().max(64).optional(),
  ecs: z.array(Ask).max(20).optional(),
  aurora: z.array(Ask).max(20).optional(),
  timing: z.discriminatedUnion('mode', [
    z.strictObject({ mode: z.literal('explicit'), at: z.string().min(1), until: z.string().min(1) }),
    z.strictObject({ mode: z.literal('auto'), open: z.string().min(1) }),
  ]),
  dryRun: z.boolean().optional(),
});

const statuses = ['scheduled', 'active', 'done', 'cancelled'] as const;

export interface ApiDeps {
  service: CapacityService;
  store: Store;
  metrics: Metrics;
  logger: Logger;
  /** What /healthz says about the process. */
  health: () => Promise<Record<string, unknown>>;
  /** When set, /api/* needs the token (Bearer, or the page's Basic/cookie sign-in; see auth.ts). */
  token?: string;
}

export class HttpError extends ChronopsError {
  override readonly status: number;
  override readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** The JSON HTTP API. The CLI, the page and tests use it; chat webhooks are mounted beside it. */
export function createApi(deps: ApiDeps): Hono {
  const app = new Hono();

  app.onError((error, c) => errorResponse(c, error, deps.logger));
  app.notFound((c) =>
    c.json({ error: { code: 'not_found', message: `no route ${c.req.method} ${c.req.path}` } }, 404),
  );

  app.get('/healthz', async (c) => {
    const health = await deps.health();
    return c.json(health, health.ok ? 200 : 503);
  });

  app.get('/metrics', async (c) => {
    const counts = await deps.store.countWindowsByStatus();
    for (const s of statuses) deps.metrics.windows.set({ status: s }, counts[s] ?? 0);
    deps.metrics.pendingTransitions.set(await deps.store.countPendingTransitions());
    return c.body(await deps.metrics.registry.metrics(), 200, {
      'content-type': deps.metrics.registry.contentType,
    });
  });

  const api = new Hono();
  api.use(
    bodyLimit({
      maxSize: 64 * 1024,
      onError: (c) => c.json({ error: { code: 'too_large', message: 'request body over 64 KiB' } }, 413),
    }),
  );
  api.use(async (c, next) => {
    const access = checkAccess(c, deps.token);
    if (!access.ok) {
      if (access.code === 'unauthorized') c.header('www-authenticate', 'Bearer realm="chronops"');
      throw new HttpError(access.code === 'unauthorized' ? 401 : 403, access.code, access.message);
    }
    await next();
  });

  api.post('/windows', async (c) => {
    const body = CreateWindowBody.safeParse(await readJson(c));
    if (!body.success) return invalid(c, body.error);
    const created = await deps.service.create(body.data, actorOf(c));
    return c.json(created, 201);
  });

  api.get('/windows', async (c) => {
    const wanted = (c.req.query('status') ?? 'scheduled,active')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const bad = wanted.filter((s) => s !== 'all' && !(statuses as readonly string[]).includes(s));
    if (bad.length)
      throw new HttpError(
        400,
        'invalid',
        `unknown status ${bad.join(', ')}; use ${statuses.join(', ')} or all`,
      );
    const filter = wanted.includes('all') ? undefined : (wanted as WindowStatus[]);
    const limit = Math.min(Number(c.req.query('limit') ?? 200) || 200, 1000);
    return c.json({ windows: await deps.service.list(filter, limit) });
  });

  api.get('/windows/:id', async (c) => c.json(await deps.service.details(c.req.param('id'))));

  api.post('/windows/:id/cancel', async (c) =>
    c.json({ window: await deps.service.cancel(c.req.param('id'), actorOf(c)) }),
  );

  api.get('/transitions', async (c) => {
    const status = c.req.query('status');
    const transitions = await deps.store.listTransitions({
      statuses: status ? (status.split(',') as never) : ['pending'],
      limit: Math.min(Number(c.req.query('limit') ?? 200) || 200, 1000),
    });
    return c.json({ transitions });
  });

  api.get('/executions', async (c) =>
    c.json({
      executions: await deps.store.listExecutions({ resource: c.req.query('resource'), limit: 200 }),
    }),
  );

  api.get('/audit', async (c) =>
    c.json({
      audit: await deps.store.listAudit({
        actor: c.req.query('actor') || undefined,
        action: c.req.query('action') || undefined,
        limit: Math.min(Number(c.req.query('limit') ?? 200) || 200, 1000),
      }),
    }),
  );

  app.route('/api', api);
  return app;
}

function actorOf(c: Context): Actor {
  const id = (c.req.header('x-chronops-actor') ?? '').trim().slice(0, 64) || 'api';
  const source = (c.req.header('x-chronops-source') ?? '').trim().slice(0, 16) || 'api';
  return { id, source };
}

async function readJson(c: Context): Promise<unknown> {
  const type = c.req.header('content-type') ?? '';
  if (!type.includes('application/json')) {
    throw new HttpError(
      415,
      'unsupported_media_type',
      'send a JSON body with content-type: application/json',
    );
  }
  try {
    return await c.req.json();
  } catch {
    throw new HttpError(400, 'malformed', 'the body is not valid JSON');
  }
}

function invalid(c: Context, error: z.ZodError) {
  const issues = error.issues.map((i) => ({ field: i.path.join('.') || '(body)', message: i.message }));
  return c.json(
    { error: { code: 'invalid', message: issues.map((i) => `${i.field}: ${i.message}`).join('; '), issues } },
    400,
  );
}

function errorResponse(c: Context, error: Error, logger: Logger) {
  if (error instanceof ChronopsError && error.status < 500) {
    const issues = 'issues' in error ? (error as { issues: unknown }).issues : undefined;
    return c.json({ error: { code: error.code, message: error.message, issues } }, error.status as 400);
  }
  logger.error({ err: error, path: c.req.path }, 'request failed');
  const status = error instanceof ChronopsError ? error.status : 500;
  return c.json(
    { error: { code: 'internal', message: 'internal error; see the server log' } },
    status as 500,
  );
}
