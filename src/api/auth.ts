// Who may use the HTTP API and the page. With no token configured (chronops bound to loopback) everyone on the
// machine may; with CHRONOPS_TOKEN set, a request must carry it in one of three ways:
//
//   Authorization: Bearer <token>     the CLI, scripts
//   Authorization: Basic <any:token>  a browser, after the page's 401 challenge (user name ignored)
//   Cookie: chronops_session=<hmac>   a browser, after the sign-in form of the page (POST /login)
//
// A browser attaches Basic credentials and cookies by itself, also to requests another site makes it send, so a
// state-changing request that relies on them must come from the page's own origin (checked with Origin /
// Sec-Fetch-Site). A Bearer token is never attached by a browser on its own, so it needs no such check.

import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Context } from 'hono';

export const SESSION_COOKIE = 'chronops_session';

export type Access =
  | { ok: true; via: 'open' | 'bearer' | 'basic' | 'cookie' }
  | { ok: false; code: 'unauthorized' | 'cross_origin'; message: string };

/** The cookie value for a token: an HMAC of it, so the cookie jar never holds the token itself. */
export function sessionValue(token: string): string {
  return createHmac('sha256', token).update('chronops page session v1').digest('base64url');
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Whether `given` is the token (constant time). */
export function matchesToken(given: string, token: string): boolean {
  return given !== '' && same(given, token);
}

function cookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function basicPassword(header: string): string | undefined {
  try {
    const decoded = Buffer.from(header.slice('basic '.length).trim(), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon === -1 ? undefined : decoded.slice(colon + 1);
  } catch {
    return undefined;
  }
}

/**
 * Whether a state-changing request comes from a page of this server (and not from another site). Browsers say so
 * in Sec-Fetch-Site, which scripts cannot set (and which stays right behind a proxy that rewrites Host); without
 * it, the Origin must name this host. A request with neither (curl, the CLI) is not a browser's.
 */
export function isSameOrigin(c: Context): boolean {
  const site = c.req.header('sec-fetch-site');
  if (site) return site === 'same-origin' || site === 'none';
  const origin = c.req.header('origin');
  if (!origin) return true;
  try {
    return new URL(origin).host === (c.req.header('host') ?? new URL(c.req.url).host);
  } catch {
    return false;
  }
}

/** Decides whether the request may go on; see the top of this file. */
export function checkAccess(c: Context, token: string | undefined): Access {
  const unsafe = !['GET', 'HEAD', 'OPTIONS'].includes(c.req.method);
  const header = c.req.header('authorization') ?? '';
  if (token && header.toLowerCase().startsWith('bearer ')) {
    return same(header.slice('bearer '.length).trim(), token)
      ? { ok: true, via: 'bearer' }
      : { ok: false, code: 'unauthorized', message: 'wrong bearer token' };
  }
  let via: 'open' | 'basic' | 'cookie' | undefined;
  if (!token) via = 'open';
  else if (header.toLowerCase().startsWith('basic ') && same(basicPassword(header) ?? '', token))
    via = 'basic';
  else if (same(cookie(c.req.header('cookie'), SESSION_COOKIE) ?? '', sessionValue(token))) via = 'cookie';
  if (!via) {
    return {
      ok: false,
      code: 'unauthorized',
      message: 'this chronops needs its token: Authorization: Bearer <token>, or sign in on the page',
    };
  }
  // Also when open: a page of another site must not make a browser on this machine change anything here.
  if (unsafe && !isSameOrigin(c)) {
    return { ok: false, code: 'cross_origin', message: 'cross-origin requests may not change anything' };
  }
  return { ok: true, via };
}
