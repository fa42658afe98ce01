// `/api/notify`: the configured destinations (never their URLs), a test message to one of them — the way to check
// a webhook right after setting it up — and what the outbox did with each notification.
//
//   GET  /api/notify/destinations
//   POST /api/notify/destinations/:name/test   { "text"?: "…" }  → 202 { key }
//   GET  /api/notify/messages?destination=&status=&limit=
//   POST /api/notify/messages/:key/resend      a failed or `unknown` message, sent again on a person's word

import { randomUUID } from 'node:crypto';
import { Hono } from 'hono';
import { z } from 'zod';
import { checkAccess } from '../api/auth.ts';
import type { ChatStore } from '../chat/chat-store.ts';
import { ChronopsError, ValidationError } from '../kernel/errors.ts';
import type { Destination } from './config.ts';
import type { Notifier } from './notifier.ts';

class ApiRefusal extends ChronopsError {
  override readonly status: number;
  override readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const TestBody = z.strictObject({ text: z.string().trim().min(1).max(2000).optional() });
const STATUSES = ['held', 'pending', 'posted', 'failed', 'unknown'] as const;

export interface NotifyApiDeps {
  notifier: Notifier;
  store: Pick<ChatStore, 'listNotifications' | 'resendNotification'>;
  /** Told when a message was put back in the queue. */
  onQueued?: () => void;
  logger?: { info(obj: object, msg: string): void };
  destinations: Record<string, Destination>;
  token?: string;
  now?: () => Date;
}

/** What the API shows of a destination: everything but its URL. */
function describe(d: Destination) {
  return {
    name: d.name,
    kind: d.kind,
    ...(d.channel ? { channel: d.channel } : {}),
    minIntervalMs: d.minIntervalMs,
    timeoutMs: d.timeoutMs,
    maxBytes: d.maxBytes,
    onUncertain: d.onUncertain,
  };
}

export function notifyApi(deps: NotifyApiDeps): Hono {
  const app = new Hono();
  const now = deps.now ?? (() => new Date());
  app.use(async (c, next) => {
    const access = checkAccess(c, deps.token);
    if (!access.ok)
      throw new ApiRefusal(access.code === 'unauthorized' ? 401 : 403, access.code, access.message);
    await next();
  });
  app.onError((error, c) => {
    if (error instanceof ChronopsError && error.status < 500) {
      const issues = error instanceof ValidationError ? error.issues : undefined;
      return c.json({ error: { code: error.code, message: error.message, issues } }, error.status as 400);
    }
    throw error;
  });

  app.get('/destinations', (c) => c.json({ destinations: Object.values(deps.destinations).map(describe) }));

  app.post('/destinations/:name/test', async (c) => {
    const name = c.req.param('name');
    if (!deps.notifier.has(name)) {
      throw new ApiRefusal(
        404,
        'not_found',
        `no notify destination "${name}" (configured: ${deps.notifier.destinations().join(', ') || 'none'})`,
      );
    }
    let raw: unknown = {};
    const text = await c.req.text();
    if (text.trim() !== '') {
      try {
        raw = JSON.parse(text);
      } catch {
        throw new ApiRefusal(400, 'malformed', 'the body is not valid JSON');
      }
    }
    const body = TestBody.safeParse(raw);
    if (!body.success) {
      throw new ValidationError(
        body.error.issues.map((i) => ({ field: i.path.join('.') || '(body)', message: i.message })),
      );
    }
    const key = `notify:test:${name}:${randomUUID()}`;
    const by = (c.req.header('x-chronops-actor') ?? '').trim().slice(0, 64) || 'api';
    await deps.notifier.send(
      name,
      {
        title: 'chronops test message',
        text: body.data.text ?? `If you read this in ${name}, chronops can notify it.`,
        severity: 'success',
        fields: [
          { title: 'Destination', value: name },
          { title: 'Sent by', value: by },
          { title: 'At', value: now().toISOString() },
        ],
      },
      { key },
    );
    return c.json({ key, destination: name, status: 'pending' }, 202);
  });

  app.get('/messages', async (c) => {
    const destination = c.req.query('destination') || undefined;
    const status = c.req.query('status') || undefined;
    if (status && !(STATUSES as readonly string[]).includes(status)) {
      throw new ApiRefusal(400, 'invalid', `unknown status ${status}; use ${STATUSES.join(', ')}`);
    }
    const limit = Math.min(Number(c.req.query('limit') ?? 100) || 100, 1000);
    const rows = await deps.store.listNotifications({
      ...(destination ? { destination } : {}),
      ...(status ? { status } : {}),
      limit,
    });
    const messages = rows.map((r) => ({
      key: r.key,
      destination: r.destination,
      kind: r.platform,
      status: r.status,
      attempts: r.attempts,
      error: r.error,
      text: r.text,
      createdAt: r.createdAt,
    }));
    return c.json({ messages });
  });

  app.post('/messages/:key/resend', async (c) => {
    const key = c.req.param('key');
    if (!(await deps.store.resendNotification(key))) {
      throw new ApiRefusal(
        409,
        'conflict',
        `no failed or unknown notification with key ${key} (only those can be sent again)`,
      );
    }
    const by = (c.req.header('x-chronops-actor') ?? '').trim().slice(0, 64) || 'api';
    deps.logger?.info({ key, by }, 'notify: a message is sent again on request');
    deps.onQueued?.();
    return c.json({ key, status: 'pending' }, 202);
  });

  return app;
}
