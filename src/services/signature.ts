// X-Chronops-Signature: how a service checks that a call (or chronops checks that a callback) is genuine.
//
//   X-Chronops-Timestamp: 1765083600                      (Unix seconds when the request was signed)
//   X-Chronops-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>
//
// The timestamp is inside the MAC so that an old request cannot be replayed later; the receiver refuses one
// outside its tolerance (5 minutes by default). A service verifies it in a few lines (docs/jobs.md).
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'x-chronops-signature';
export const TIMESTAMP_HEADER = 'x-chronops-timestamp';
const VERSION = 'v1';

export function sign(secret: string, timestamp: number, body: string): string {
  return `${VERSION}=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

export function signatureHeaders(secret: string, body: string, now = new Date()): Record<string, string> {
  const timestamp = Math.floor(now.getTime() / 1000);
  return { 'X-Chronops-Timestamp': String(timestamp), 'X-Chronops-Signature': sign(secret, timestamp, body) };
}

export type SignatureCheck = { ok: true } | { ok: false; reason: string };

/** Checks a request's signature headers against its raw body. */
export function verifySignature(
  secret: string,
  headers: { timestamp: string | null | undefined; signature: string | null | undefined },
  body: string,
  options: { now?: Date; toleranceSeconds?: number } = {},
): SignatureCheck {
  const tolerance = options.toleranceSeconds ?? 300;
  if (!headers.timestamp || !headers.signature)
    return { ok: false, reason: 'the signature headers are missing' };
  if (!/^\d{1,12}$/.test(headers.timestamp))
    return { ok: false, reason: 'the timestamp is not Unix seconds' };
  const timestamp = Number(headers.timestamp);
  const now = Math.floor((options.now ?? new Date()).getTime() / 1000);
  if (Math.abs(now - timestamp) > tolerance) {
    return { ok: false, reason: `the timestamp is more than ${tolerance} s away from now` };
  }
  const expected = Buffer.from(sign(secret, timestamp, body));
  const given = Buffer.from(headers.signature);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return { ok: false, reason: 'the signature does not match' };
  }
  return { ok: true };
}
