// A local Lambda-shaped harness: API Gateway HTTP API (payload format 2.0) / Function URL events as AWS builds
// them — headers in lower case, `rawPath` with the stage's prefix when the stage is named, the body as text or
// base64 with `isBase64Encoded` (API Gateway base64-encodes form bodies and anything not text) — and an invoke that
// passes a Lambda context and checks the result has the shape Lambda expects.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { HttpApiEvent, HttpApiResult } from '../../src/hosts/lambda-gateway.ts';

export interface EventOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Send the body base64-encoded (isBase64Encoded: true), as API Gateway does for form and binary bodies. */
  base64?: boolean;
  /** A named stage: rawPath starts with /<stage>. */
  stage?: string;
}

export function httpApiEvent(path: string, options: EventOptions = {}): HttpApiEvent {
  const stage = options.stage ?? '$default';
  const rawPath = stage === '$default' ? path : `/${stage}${path}`;
  const body = options.body === undefined ? undefined : Buffer.from(options.body);
  const headers: Record<string, string> = {
    host: 'abc123.execute-api.ap-northeast-2.amazonaws.com',
    'user-agent': 'Slackbot 1.0 (+https://api.slack.com/robots)',
    'x-forwarded-proto': 'https',
  };
  for (const [k, v] of Object.entries(options.headers ?? {})) headers[k.toLowerCase()] = v;
  if (body) headers['content-length'] = String(body.length);
  const event = {
    version: '2.0',
    routeKey: '$default',
    rawPath,
    rawQueryString: '',
    headers,
    requestContext: {
      accountId: '123456789012',
      apiId: 'abc123',
      domainName: 'abc123.execute-api.ap-northeast-2.amazonaws.com',
      http: { method: options.method ?? 'POST', path: rawPath, protocol: 'HTTP/1.1', sourceIp: '3.3.3.3' },
      requestId: randomUUID(),
      stage,
      time: new Date().toUTCString(),
      timeEpoch: Date.now(),
    },
    ...(body
      ? options.base64
        ? { body: body.toString('base64'), isBase64Encoded: true }
        : { body: body.toString('utf8'), isBase64Encoded: false }
      : { isBase64Encoded: false }),
  };
  return event as HttpApiEvent;
}

/** A Lambda context as the runtime passes it. */
export function lambdaContext(timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  return {
    functionName: 'chronops-gateway',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:ap-northeast-2:123456789012:function:chronops-gateway',
    memoryLimitInMB: '256',
    awsRequestId: randomUUID(),
    logGroupName: '/aws/lambda/chronops-gateway',
    logStreamName: '2026/12/07/[$LATEST]0123456789abcdef',
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
}

/** Invokes the handler like the runtime, within the function's timeout; checks the result's shape. */
export async function invoke(
  handler: (event: HttpApiEvent, context: unknown) => Promise<HttpApiResult>,
  event: HttpApiEvent,
  timeoutMs = 10_000,
): Promise<HttpApiResult & { json: () => unknown }> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Task timed out after ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    const result = await Promise.race([handler(event, lambdaContext(timeoutMs)), timedOut]);
    assert.equal(typeof result.statusCode, 'number');
    assert.equal(typeof result.body, 'string');
    assert.equal(result.isBase64Encoded, false);
    return { ...result, json: () => JSON.parse(result.body) };
  } finally {
    clearTimeout(timer);
  }
}
