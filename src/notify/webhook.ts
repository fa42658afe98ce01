// Posting to an incoming webhook (Slack, Teams Workflows, JANDI): one HTTP POST with plain fetch, and a verdict on
// what happened that the outbox can act on — sent; certainly not sent (retry, or give up); or unknown (the request
// may have arrived: it is not sent again unless the destination says `onUncertain: resend`).
//
// What counts as "certainly not sent": no connection was made (refused, DNS), or the receiver answered with an
// error status. A 5xx is taken at its word: a receiver that posted the message and still answered 5xx would see
// the retry as a second message (docs/notify.md says so). A timeout or a connection cut after the request was
// written is unknown. Every request carries `Idempotency-Key: <message key>`, the same on every attempt, for a
// receiver (or a proxy in front of it) that can drop repeats.

import { ChatTransportError } from '../chat/port.ts';
import type { Destination } from './config.ts';

export interface WebhookPost {
  destination: Destination;
  body: unknown;
  key: string;
}

/** Errors of fetch that say the request never left: nothing can have been posted. */
const NOT_CONNECTED = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
  'ERR_INVALID_URL',
]);

function causeCode(error: unknown): string | undefined {
  let e: unknown = error;
  for (let depth = 0; depth < 4 && e && typeof e === 'object'; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** `Retry-After` in seconds or as an HTTP date; absent or unreadable: one second. */
export function retryAfterMs(header: string | null, now = Date.now()): number {
  if (header) {
    const seconds = Number(header);
    if (Number.isFinite(seconds) && seconds >= 0) return Math.min(300_000, Math.ceil(seconds * 1000));
    const at = Date.parse(header);
    if (!Number.isNaN(at)) return Math.min(300_000, Math.max(0, at - now));
  }
  return 1000;
}

const HEADERS: Record<string, Record<string, string>> = {
  jandi: { accept: 'application/vnd.tosslab.jandi-v2+json' },
};

/**
 * POSTs the body; resolves when the receiver accepted it (2xx), else throws a ChatTransportError whose `certain`
 * says whether the message certainly did not arrive. The error names the destination, never its URL.
 */
export async function postWebhook(post: WebhookPost): Promise<void> {
  const { destination } = post;
  const url = destination.url;
  if (!url) {
    throw new ChatTransportError('no_url', `${destination.name}: no URL`, {
      certain: true,
      retryable: false,
    });
  }
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json; charset=utf-8',
        'idempotency-key': post.key,
        'user-agent': 'chronops',
        ...HEADERS[destination.kind],
      },
      body: JSON.stringify(post.body),
      signal: AbortSignal.timeout(destination.timeoutMs),
      redirect: 'error',
    });
  } catch (error) {
    const code = causeCode(error) ?? (error as Error)?.name ?? 'network';
    const connected = !NOT_CONNECTED.has(code);
    throw new ChatTransportError(
      code === 'TimeoutError' ? 'timeout' : 'network',
      `${destination.name}: ${code === 'TimeoutError' ? `no answer within ${destination.timeoutMs} ms` : `request failed (${code})`}`,
      { certain: !connected, retryable: true, cause: error },
    );
  }
  // Read (and bound) the answer: its words say why a request was refused.
  const text = (await response.text().catch(() => '')).slice(0, 300).replace(/\s+/g, ' ').trim();
  if (response.ok) return;
  const status = response.status;
  const detail = `${destination.name}: HTTP ${status}${text ? ` ${text}` : ''}`;
  if (status === 429 || (status === 503 && response.headers.has('retry-after'))) {
    throw new ChatTransportError('ratelimited', detail, {
      certain: true,
      retryable: true,
      retryAfterMs: retryAfterMs(response.headers.get('retry-after')),
    });
  }
  if (status >= 500 || status === 408) {
    throw new ChatTransportError(`http_${status}`, detail, { certain: true, retryable: true });
  }
  // 400 (bad payload), 403/404/410 (webhook removed or channel archived), 413: retrying sends the same again.
  throw new ChatTransportError(`http_${status}`, detail, { certain: true, retryable: false });
}
