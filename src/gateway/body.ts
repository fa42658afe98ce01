// Request bodies as senders deliver them, directly or through API Gateway in front of a Lambda: JSON,
// `application/x-www-form-urlencoded`, and either of those base64-encoded (API Gateway's `isBase64Encoded`, or a
// proxy's `Content-Transfer-Encoding: base64`). Senders sign the bytes they SENT, so a signature is checked over
// the decoded bytes, never over a re-serialized parse (key order, spacing and escapes would differ).

import { Refusal } from './source.ts';

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

/** The bytes a base64 body stands for; a body that is not base64 is refused (400). */
export function decodeBase64Body(raw: string | Uint8Array): Buffer {
  const text =
    typeof raw === 'string'
      ? raw
      : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('latin1');
  const compact = text.replace(/\s+/g, '');
  if (!BASE64.test(compact) || compact.replace(/=+$/, '').length % 4 === 1) {
    throw new Refusal('malformed', 'body is marked base64-encoded but is not valid base64', {
      detail: 'bad_base64',
    });
  }
  // Node's base64 decoder also accepts the URL-safe alphabet.
  return Buffer.from(compact, 'base64');
}

/** The bytes of a body as received: base64 decoded when marked so. */
export function bodyBytes(raw: string | Uint8Array, isBase64: boolean): Buffer {
  if (isBase64) return decodeBase64Body(raw);
  if (typeof raw === 'string') return Buffer.from(raw, 'utf8');
  return Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
}

/** The media type of a Content-Type header, lower case, without parameters (`charset=…`). */
export function mediaType(contentType: string | undefined): string | undefined {
  const type = contentType?.split(';')[0]?.trim().toLowerCase();
  return type ? type : undefined;
}

export type ParsedBody =
  | { format: 'json'; value: Record<string, unknown> }
  | { format: 'form'; fields: Record<string, string> };

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A JSON object, or a 400 naming what is wrong. */
export function parseJsonObject(text: string, what = 'JSON body'): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Refusal('malformed', `${what} is not valid JSON (${(error as Error).message})`, {
      detail: 'bad_json',
      cause: error,
    });
  }
  if (!isObject(value))
    throw new Refusal('malformed', `${what} must be a JSON object`, { detail: 'bad_json' });
  return value;
}

/**
 * A JSON or form body, by its Content-Type (`+json` types included); without one the body is sniffed (`{` →
 * JSON, otherwise form). An empty body, another media type or bad JSON is refused (400).
 */
export function parseBody(text: string, contentType: string | undefined): ParsedBody {
  if (text.trim() === '') throw new Refusal('malformed', 'empty body', { detail: 'empty' });
  const type = mediaType(contentType);
  const json = type === 'application/json' || type?.endsWith('+json') === true;
  const form = type === 'application/x-www-form-urlencoded';
  if (json || (type === undefined && text.trimStart().startsWith('{'))) {
    return { format: 'json', value: parseJsonObject(text) };
  }
  if (form || (type === undefined && text.includes('='))) {
    const fields: Record<string, string> = {};
    for (const [key, value] of new URLSearchParams(text)) fields[key] = value;
    return { format: 'form', fields };
  }
  throw new Refusal(
    'malformed',
    type === undefined
      ? 'no Content-Type and the body is neither JSON nor form-urlencoded'
      : `unsupported Content-Type "${type}" (expected application/json or application/x-www-form-urlencoded)`,
    { detail: 'content_type' },
  );
}
