// Small pieces every source's verification uses: comparisons that take the same time whatever the input, the
// freshness check of a signed timestamp, and the digest that names a delivery whose sender gives it no id.

import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { Refusal } from './source.ts';

/** HMAC-SHA256 of `parts` (in order) with `key`. */
export function hmacSha256(key: string | Buffer, ...parts: Array<string | Buffer>): Buffer {
  const hmac = createHmac('sha256', key);
  for (const part of parts) hmac.update(part);
  return hmac.digest();
}

/**
 * Equal, in constant time: both sides are hashed first, so their lengths leak nothing and timingSafeEqual gets
 * equal lengths.
 */
export function safeEqual(a: string | Buffer, b: string | Buffer): boolean {
  const da = createHash('sha256').update(a).digest();
  const db = createHash('sha256').update(b).digest();
  return timingSafeEqual(da, db);
}

/** Which of `candidates` equals `given`, comparing with every one (no early exit): its index, or -1. */
export function matchAny(given: string, candidates: readonly string[]): number {
  let found = -1;
  candidates.forEach((candidate, i) => {
    if (safeEqual(given, candidate) && found === -1) found = i;
  });
  return found;
}

/** Refuses (401) a sent-at time further than `toleranceSeconds` from now, either way. */
export function checkFreshness(
  sentAtMs: number,
  nowMs: number,
  toleranceSeconds: number,
  what: string,
): void {
  if (!Number.isFinite(sentAtMs)) {
    throw new Refusal('unauthorized', `${what} is missing or not a time`, { detail: 'bad_timestamp' });
  }
  // Whole seconds on both sides, as senders send them (a timestamp in seconds is compared with now's second).
  const ageSeconds = Math.floor(nowMs / 1000) - Math.floor(sentAtMs / 1000);
  if (ageSeconds > toleranceSeconds) {
    throw new Refusal('unauthorized', `${what} is ${ageSeconds}s old (more than ${toleranceSeconds}s)`, {
      detail: 'stale',
    });
  }
  if (-ageSeconds > toleranceSeconds) {
    throw new Refusal(
      'unauthorized',
      `${what} is ${-ageSeconds}s in the future (more than ${toleranceSeconds}s)`,
      { detail: 'future' },
    );
  }
}

/** A short stable digest of the parts (a delivery key for senders that send no id). */
export function digestOf(...parts: string[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part).update('\u0000');
  return hash.digest('hex').slice(0, 40);
}
