import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../../kernel/logger.ts';
import type { SlackIngest, SlackResponse } from './ingest.ts';
import { SLACK_PATHS } from './routes.ts';

const PATHS = new Set<string>(SLACK_PATHS);

/**
 * The Slack request URLs served straight from node:http, in front of the Hono app of `chronops serve`. The same
 * SlackIngest as the Hono routes (which Lambda and `app.request()` use); only the adapter differs. Why: a webhook
 * storm is the load this path exists for, and building a web Request and Response for each delivery cost about a
 * fifth of the gateway's time (see docs/benchmarks.md). Returns false for any other request.
 */
export function slackNodeHandler(
  ingest: SlackIngest,
  options: { maxBodyBytes: number; logger: Logger },
): (req: IncomingMessage, res: ServerResponse) => boolean {
  const max = options.maxBodyBytes;
  const send = (res: ServerResponse, answer: SlackResponse) => {
    if (answer.json) {
      const body = JSON.stringify(answer.json);
      res.writeHead(answer.status, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
      });
      res.end(body);
    } else {
      res.writeHead(answer.status, { 'content-length': '0' });
      res.end();
    }
  };
  const tooLarge = (res: ServerResponse) => {
    ingest.count('too_large');
    send(res, {
      status: 413,
      json: { ok: false, error: 'too_large', message: `request body over ${max} bytes` },
    });
  };
  const header = (req: IncomingMessage, name: string): string | undefined => {
    const value = req.headers[name];
    return Array.isArray(value) ? value[0] : value;
  };

  return (req, res) => {
    if (req.method !== 'POST') return false;
    const url = req.url ?? '';
    const q = url.indexOf('?');
    if (!PATHS.has(q === -1 ? url : url.slice(0, q))) return false;
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > max) {
      // Not read: answer, and close the connection rather than drain a body we refuse.
      res.setHeader('connection', 'close');
      tooLarge(res);
      req.resume();
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
        tooLarge(res);
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (refused) return;
      const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      ingest
        .handle({
          body,
          isBase64: header(req, 'content-transfer-encoding')?.trim().toLowerCase() === 'base64',
          headers: {
            timestamp: header(req, 'x-slack-request-timestamp'),
            signature: header(req, 'x-slack-signature'),
            contentType: header(req, 'content-type'),
            retryNum: header(req, 'x-slack-retry-num'),
          },
        })
        .then(
          (answer) => send(res, answer),
          (error) => {
            // Not stored (the database failed): 500, and Slack delivers it again.
            options.logger.error({ err: error, path: url }, 'slack: request failed');
            if (!res.headersSent) send(res, { status: 500, json: { ok: false, error: 'internal' } });
          },
        );
    });
    req.on('error', () => res.destroy());
    return true;
  };
}
