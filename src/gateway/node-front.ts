import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../kernel/logger.ts';
import { type Gateway, isGatewayPath } from './gateway.ts';
import type { GatewayAnswer } from './source.ts';

/** Writes a gateway answer on a node:http response. */
export function sendAnswer(res: ServerResponse, answer: GatewayAnswer): void {
  const headers: Record<string, string | number> = { ...answer.headers };
  let body: string | undefined;
  if (answer.json !== undefined) {
    body = JSON.stringify(answer.json);
    headers['content-type'] ??= 'application/json';
  } else if (answer.text !== undefined) {
    body = answer.text;
    headers['content-type'] ??= 'text/plain; charset=utf-8';
  }
  headers['content-length'] = body === undefined ? 0 : Buffer.byteLength(body);
  res.writeHead(answer.status, headers);
  res.end(body);
}

/**
 * The webhook URLs served straight from node:http, in front of the Hono app of `chronops serve`. The same Gateway
 * as the Hono routes (which Lambda and `app.request()` use); only the adapter differs. Why: a webhook storm is the
 * load this path exists for, and building a web Request and Response for each delivery cost about a fifth of the
 * gateway's time (see docs/benchmarks.md). Returns false for any request it does not take (not a POST under a
 * source prefix).
 */
export function gatewayNodeHandler(
  gateway: Gateway,
  options: { logger: Logger },
): (req: IncomingMessage, res: ServerResponse) => boolean {
  const header =
    (req: IncomingMessage) =>
    (name: string): string | undefined => {
      const value = req.headers[name];
      return Array.isArray(value) ? value[0] : value;
    };
  const refuseUnread = (req: IncomingMessage, res: ServerResponse, answer: GatewayAnswer) => {
    // Not read: answer, and close the connection rather than drain a body we refuse.
    res.setHeader('connection', 'close');
    sendAnswer(res, answer);
    req.resume();
  };

  return (req, res) => {
    if (req.method !== 'POST') return false;
    const url = req.url ?? '';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    if (!isGatewayPath(path)) return false;
    const resolved = gateway.resolve(path);
    if (!('source' in resolved)) {
      refuseUnread(req, res, resolved.answer);
      return true;
    }
    const source = resolved.source;
    const max = source.maxBodyBytes;
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > max) {
      refuseUnread(req, res, gateway.tooLarge(source));
      return true;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    req.on('data', (chunk: Buffer) => {
      if (refused) return;
      size += chunk.length;
      if (size > max) {
        refused = true;
        res.setHeader('connection', 'close');
        sendAnswer(res, gateway.tooLarge(source));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (refused) return;
      const get = header(req);
      gateway
        .handle(source, {
          body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks),
          // A proxy that forwards API Gateway's base64 body as is says so (RFC 2045's header).
          isBase64: get('content-transfer-encoding')?.trim().toLowerCase() === 'base64',
          header: get,
        })
        .then(
          (answer) => sendAnswer(res, answer),
          (error) => {
            // Not stored (the database failed): 500, and the sender delivers it again.
            options.logger.error({ err: error, path }, 'gateway: request failed');
            if (!res.headersSent) sendAnswer(res, { status: 500, json: { ok: false, error: 'internal' } });
          },
        );
    });
    req.on('error', () => res.destroy());
    return true;
  };
}
