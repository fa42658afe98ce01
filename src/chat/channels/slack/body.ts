// Decode what Slack delivers to a request URL, directly or through API Gateway in front of a Lambda:
//
// - Events API (`/slack/events`): JSON — `url_verification`, `event_callback`, `app_rate_limited` …
// - slash commands (`/slack/commands`): form-urlencoded fields (`command`, `text`, `user_id`, `channel_id` …)
// - interactivity (`/slack/interactions`): form-urlencoded with one `payload` field holding JSON
// - `ssl_check=1&token=…` (form-urlencoded), which Slack sends to check the certificate of a command URL
//
// API Gateway may hand a Lambda the body base64-encoded (`isBase64Encoded: true`, always for binary media
// types and sometimes for form bodies). Slack signed the bytes it SENT, not their base64 form, so a host must
// verify the signature over the decoded bytes: call `slackBodyBytes(raw, isBase64)` and give those bytes to
// `SlackSignature.verify`, then `decodeSlackBody` (which decodes the same way). Never re-serialize a parsed body
// to verify it: key order, spacing and escapes would differ from what Slack signed.

import { bodyBytes } from '../../../gateway/body.ts';
import { ChronopsError } from '../../../kernel/errors.ts';

/** The body is not something Slack sends: answer 400 and process nothing. */
export class SlackBodyError extends ChronopsError {
  override readonly code = 'bad_request';
  override readonly status = 400;
}

export type SlackPayload =
  | { kind: 'event'; body: Record<string, unknown> }
  | { kind: 'command'; fields: Record<string, string> }
  | { kind: 'interaction'; payload: Record<string, unknown> }
  | { kind: 'ssl_check' };

/**
 * The raw body as Slack sent it: the bytes of `raw`, or — for a base64 delivery — the decoded bytes. This is what
 * the signature must be computed over.
 */
export function slackBodyBytes(raw: string, isBase64 = false): Buffer {
  try {
    return bodyBytes(raw, isBase64);
  } catch (error) {
    throw new SlackBodyError(error instanceof Error ? error.message : String(error), { cause: error });
  }
}

/** The media type of a Content-Type header, lower case, without parameters (`charset=…`). */
function mediaType(contentType: string | undefined): string | undefined {
  const type = contentType?.split(';')[0]?.trim().toLowerCase();
  return type ? type : undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseJsonObject(text: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new SlackBodyError(`${what} is not valid JSON (${(error as Error).message})`, { cause: error });
  }
  if (!isObject(value)) throw new SlackBodyError(`${what} must be a JSON object`);
  return value;
}

function decodeJson(text: string): SlackPayload {
  const body = parseJsonObject(text, 'JSON body');
  if (typeof body.type !== 'string' || body.type === '') {
    throw new SlackBodyError(
      'JSON body has no "type" (expected an Events API payload such as url_verification)',
    );
  }
  return { kind: 'event', body };
}

function decodeForm(text: string): SlackPayload {
  const params = new URLSearchParams(text);
  if (params.get('ssl_check') === '1') return { kind: 'ssl_check' };
  const payload = params.get('payload');
  if (payload !== null) {
    return { kind: 'interaction', payload: parseJsonObject(payload, 'the "payload" field') };
  }
  const fields: Record<string, string> = {};
  for (const [key, value] of params) fields[key] = value;
  if (!fields.command) {
    throw new SlackBodyError(
      'form body is neither a slash command (no "command" field) nor an interaction (no "payload" field)',
    );
  }
  return { kind: 'command', fields };
}

/**
 * Decode a Slack request body. `raw` is the body as received (base64 text when `isBase64`); `contentType` the
 * Content-Type header. When the header is absent the body is sniffed (`{` → JSON, otherwise form); an unknown
 * content type, an empty body, bad JSON or a non-JSON `payload` field throw `SlackBodyError`.
 */
export function decodeSlackBody(
  raw: string,
  contentType: string | undefined,
  isBase64 = false,
): SlackPayload {
  const text = isBase64 ? slackBodyBytes(raw, true).toString('utf8') : raw;
  if (text.trim() === '') throw new SlackBodyError('empty body');
  const type = mediaType(contentType);
  if (type === 'application/json' || type?.endsWith('+json')) return decodeJson(text);
  if (type === 'application/x-www-form-urlencoded') return decodeForm(text);
  if (type === undefined) {
    if (text.trimStart().startsWith('{')) return decodeJson(text);
    if (text.includes('=')) return decodeForm(text);
    throw new SlackBodyError('no Content-Type and the body is neither JSON nor form-urlencoded');
  }
  throw new SlackBodyError(
    `unsupported Content-Type "${type}" (expected application/json or application/x-www-form-urlencoded)`,
  );
}
