// The page at `/` and what only it needs: its static files (plain JavaScript and CSS from src/web/static, no build
// step, nothing from the network), the board (`GET /api/board`), the live stream (`GET /api/live`, server-sent
// events) and the chat console (`POST /api/console`). Everything else the page does goes through the JSON API
// like any other client (cancel: `POST /api/windows/:id/cancel`; audit: `GET /api/audit`).

import { readdirSync, readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { type Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { streamSSE } from 'hono/streaming';
import { checkAccess, matchesToken, SESSION_COOKIE, sessionValue } from '../api/auth.ts';
import type { Store } from '../capabilities/capacity/store.ts';
import type { Config } from '../kernel/config.ts';
import { isRangeName, readBoard } from './board.ts';
import type { ConsoleChat } from './console.ts';
import type { LiveFeed } from './live.ts';

export interface WebDeps {
  store: Store;
  config: Config;
  feed: LiveFeed;
  /** The chat console; absent when chronops has no command handler (the panel then says so). */
  console?: ConsoleChat;
  token?: string;
  /** How often an idle live stream sends a comment, so that proxies keep it open. */
  heartbeatMs?: number;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** The page's files, read once: only these names are ever served. */
function loadStatic(): Map<string, { body: string; type: string }> {
  const dir = new URL('./static/', import.meta.url);
  const files = new Map<string, { body: string; type: string }>();
  for (const name of readdirSync(dir)) {
    const type = TYPES[extname(name)];
    if (type) files.set(name, { body: readFileSync(new URL(name, dir), 'utf8'), type });
  }
  return files;
}

const PAGE_SECURITY = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

function noConsole(c: Context) {
  return c.json(
    { error: { code: 'unavailable', message: 'the chat console is not wired in this chronops' } },
    503,
  );
}

export function createWeb(deps: WebDeps): Hono {
  const files = loadStatic();
  const web = new Hono();

  const page = (c: Context, name: string, status = 200) => {
    const file = files.get(name)!;
    return c.body(file.body, status as 200, { 'content-type': file.type, ...PAGE_SECURITY });
  };

  web.get('/', (c) => {
    const access = checkAccess(c, deps.token);
    if (!access.ok) {
      c.header('www-authenticate', 'Basic realm="chronops", charset="UTF-8"');
      return page(c, 'signin.html', 401);
    }
    return page(c, 'index.html');
  });

  // The page's code and style hold no data: served without the token, so that the sign-in page has its style.
  web.get('/assets/:name', (c) => {
    const file = files.get(c.req.param('name'));
    if (!file || c.req.param('name').endsWith('.html')) return c.notFound();
    return c.body(file.body, 200, { 'content-type': file.type, ...PAGE_SECURITY });
  });

  // The sign-in form without the basic-auth challenge (which makes a browser ask in its own dialog first).
  web.get('/login', (c) => (checkAccess(c, deps.token).ok ? c.redirect('/', 303) : page(c, 'signin.html')));

  // The sign-in form of signin.html: the token in exchange for a session cookie (an HMAC of it).
  web.post('/login', bodyLimit({ maxSize: 4096 }), async (c) => {
    if (!deps.token) return c.redirect('/', 303);
    const form = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
    const given = typeof form.token === 'string' ? form.token.trim() : '';
    if (!matchesToken(given, deps.token)) return page(c, 'signin.html', 401);
    const secure = new URL(c.req.url).protocol === 'https:' || c.req.header('x-forwarded-proto') === 'https';
    c.header(
      'set-cookie',
      `${SESSION_COOKIE}=${sessionValue(deps.token)}; Path=/; HttpOnly; SameSite=Strict; Max-Age=2592000${secure ? '; Secure' : ''}`,
    );
    return c.redirect('/', 303);
  });

  const api = new Hono();
  api.use(async (c, next) => {
    const access = checkAccess(c, deps.token);
    if (!access.ok) {
      return c.json(
        { error: { code: access.code, message: access.message } },
        access.code === 'unauthorized' ? 401 : 403,
      );
    }
    await next();
  });

  api.get('/board', async (c) => {
    const range = c.req.query('range') ?? '24h';
    if (!isRangeName(range)) {
      return c.json({ error: { code: 'invalid', message: 'range must be 24h or 7d' } }, 400);
    }
    return c.json(await readBoard(deps, range));
  });

  api.get('/live', (c) => {
    c.header('x-accel-buffering', 'no');
    return streamSSE(c, async (stream) => {
      let finish = () => {};
      const finished = new Promise<void>((resolve) => {
        finish = resolve;
      });
      const send = (event: string, data: unknown) =>
        stream.writeSSE({ event, data: JSON.stringify(data) }).catch(() => finish());
      const off = deps.feed.subscribe((item) => void send(item.event, item.data), finish);
      stream.onAbort(finish);
      c.req.raw.signal.addEventListener('abort', finish);
      // `retry`: how soon the browser reconnects after the stream drops (it then re-reads the board).
      await stream.writeSSE({ event: 'hello', data: JSON.stringify({ node: deps.feed.node }), retry: 2000 });
      const heartbeat = setInterval(() => {
        stream.write(': keep-alive\n\n').catch(() => finish());
      }, deps.heartbeatMs ?? 15_000);
      await finished;
      clearInterval(heartbeat);
      off();
    });
  });

  // The chat console: a command typed in the page's thread, and a button pressed on one of its messages.
  api.post('/console', bodyLimit({ maxSize: 64 * 1024 }), async (c) => {
    if (!deps.console) return noConsole(c);
    return c.json(await deps.console.message(await c.req.json().catch(() => null)));
  });
  api.post('/console/action', bodyLimit({ maxSize: 64 * 1024 }), async (c) => {
    if (!deps.console) return noConsole(c);
    return c.json(await deps.console.action(await c.req.json().catch(() => null)));
  });

  web.route('/api', api);
  return web;
}
