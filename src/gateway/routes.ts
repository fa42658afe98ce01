import type { IncomingMessage } from 'node:http';
import { type Context, Hono } from 'hono';
import { type Gateway, isGatewayPath } from './gateway.ts';
import type { GatewayAnswer } from './source.ts';

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

/** A gateway answer as a web Response. */
export function toResponse(c: Context, answer: GatewayAnswer): Response {
  const headers: Record<string, string> = { ...answer.headers };
  const status = answer.status as 200;
  if (answer.json !== undefined) {
    headers['content-type'] ??= 'application/json';
    return c.body(JSON.stringify(answer.json), status, headers);
  }
  if (answer.text !== undefined) {
    headers['content-type'] ??= 'text/plain; charset=utf-8';
    return c.body(answer.text, status, headers);
  }
  return c.body(null, status, headers);
}

/** Every source's URL on a Hono app (`app.request()`, Lambda): verify, store, answer (see Gateway). */
export function gatewayRoutes(gateway: Gateway): Hono {
  const app = new Hono();
  app.post('*', async (c, next) => {
    if (!isGatewayPath(c.req.path)) return next();
    const resolved = gateway.resolve(c.req.path);
    if (!('source' in resolved)) return toResponse(c, resolved.answer);
    const source = resolved.source;
    let body: Uint8Array;
    try {
      body = await readBody(c, source.maxBodyBytes);
    } catch (error) {
      if (!(error instanceof TooLarge)) throw error;
      return toResponse(c, gateway.tooLarge(source));
    }
    const answer = await gateway.handle(source, {
      body,
      isBase64: c.req.header('content-transfer-encoding')?.trim().toLowerCase() === 'base64',
      header: (name) => c.req.header(name),
    });
    return toResponse(c, answer);
  });
  return app;
}
