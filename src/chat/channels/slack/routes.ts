import type { IncomingMessage } from 'node:http';
import { type Context, Hono } from 'hono';
import type { SlackIngest } from './ingest.ts';

/** The three request URLs of the Slack app (manifest: slack/manifest.yaml). Any kind is accepted on each. */
export const SLACK_PATHS = ['/slack/events', '/slack/commands', '/slack/interactions'] as const;

class TooLarge extends Error {}

/**
 * The body as bytes, refusing more than `max` without reading on: from the Node request itself when the app
 * runs on @hono/node-server (no web-stream copy), else through the Request (app.request(), Lambda).
 */
async function readBody(c: Context, max: number): Promise<Uint8Array> {
  const declared = Number(c.req.header('content-length'));
  if (Number.isFinite(declared) && declared > max) throw new TooLarge();
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  if (incoming && typeof incoming.on === 'function' && !incoming.readableEnded) {
    return new Promise<Uint8Array>((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      incoming.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > max) {
          incoming.removeAllListeners('data');
          incoming.resume();
          reject(new TooLarge());
          return;
        }
        chunks.push(chunk);
      });
      incoming.once('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
      incoming.once('error', reject);
    });
  }
  const body = c.req.raw.body;
  if (!body) return new Uint8Array();
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel();
      throw new TooLarge();
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

/** `POST /slack/events`, `/slack/commands`, `/slack/interactions`: verify, store, 200 (see SlackIngest). */
export function slackRoutes(ingest: SlackIngest, options: { maxBodyBytes: number }): Hono {
  const app = new Hono();
  const handler = async (c: Context) => {
    let body: Uint8Array;
    try {
      body = await readBody(c, options.maxBodyBytes);
    } catch (error) {
      if (!(error instanceof TooLarge)) throw error;
      ingest.count('too_large');
      return c.json(
        { ok: false, error: 'too_large', message: `request body over ${options.maxBodyBytes} bytes` },
        413,
      );
    }
    const response = await ingest.handle({
      body,
      // A proxy that forwards API Gateway's base64 body as is says so (RFC 2045's header).
      isBase64: c.req.header('content-transfer-encoding')?.trim().toLowerCase() === 'base64',
      headers: {
        timestamp: c.req.header('x-slack-request-timestamp'),
        signature: c.req.header('x-slack-signature'),
        contentType: c.req.header('content-type'),
        retryNum: c.req.header('x-slack-retry-num'),
      },
    });
    if (response.json) return c.json(response.json, response.status as 200);
    return c.body(null, response.status as 200);
  };
  for (const path of SLACK_PATHS) app.post(path, handler);
  return app;
}
