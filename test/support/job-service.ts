// A team's service as HTTP jobs call it: a real HTTP server on loopback that records every request, checks
// chronops' signature with the shared secret like a service would, and answers as each test scripts it (the result
// contract with failed tenants, slowly, 500, garbage, 202 for callback jobs).

import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Config, parseConfig } from '../../src/kernel/config.ts';
import { verifySignature } from '../../src/services/signature.ts';

export interface RecordedCall {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
  /** Did X-Chronops-Signature check out with the service's secret? */
  signed: boolean;
  signatureProblem?: string;
  at: Date;
}

export interface Answer {
  status?: number;
  /** An object is sent as JSON; a string as is. */
  body?: unknown;
  delayMs?: number;
}

export type Script = (call: RecordedCall, n: number) => Answer | Promise<Answer>;

export function contract(
  fail: Array<{ tenant: string; stackTrace?: string }> = [],
  success: string[] = ['tenant-a'],
): Answer {
  return {
    status: 200,
    body: {
      contents: {
        failTenants: fail.map((f) => f.tenant),
        failCount: fail.length,
        failDetails: fail.map((f) => ({ tenant: f.tenant, stackTrace: f.stackTrace ?? 'Error: failed' })),
        successTenants: success,
      },
    },
  };
}

/** A loopback port nothing listens on (connection refused). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * The config of a chronops (in process, on a free loopback port, Seoul time, its database given by the test)
 * whose `jobs` call `cms` as the service named `cms`. `service` adds to that service's entry (e.g.
 * `timeoutSeconds`), `notify` sets the notify destinations.
 */
export function cmsJobsConfig(
  cms: JobService,
  jobs: Array<Record<string, unknown>>,
  options: { service?: Record<string, unknown>; notify?: Record<string, unknown> } = {},
): Config {
  return parseConfig(
    {
      timezone: 'Asia/Seoul',
      server: { host: '127.0.0.1', port: 0 },
      database: { dataDir: '/nonexistent-not-used' },
      ...(options.notify ? { notify: options.notify } : {}),
      services: [{ name: 'cms', baseUrl: cms.url, ...options.service }],
      jobs,
    },
    {},
  );
}

export class JobService {
  readonly calls: RecordedCall[] = [];
  script: Script = () => contract();
  private server: Server | undefined;
  private readonly secret: string | undefined;
  private readonly delays = new Set<NodeJS.Timeout>();
  inFlight = 0;
  peakInFlight = 0;
  /** Connections opened to it so far. */
  connections = 0;
  /** The most requests of one path being answered at once. */
  readonly peakByPath = new Map<string, number>();
  private readonly byPath = new Map<string, number>();
  url = '';

  constructor(options: { secret?: string; script?: Script } = {}) {
    this.secret = options.secret;
    if (options.script) this.script = options.script;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      void this.handle(req).then(
        ({ status, body, headers }) => {
          if (res.destroyed) return;
          res.writeHead(status, headers);
          res.end(body);
        },
        () => res.destroy(),
      );
    });
    this.server.keepAliveTimeout = 5000;
    this.server.on('connection', () => {
      this.connections += 1;
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  private async handle(req: IncomingMessage) {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const headers = Object.fromEntries(
      Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : (v ?? '')]),
    );
    const check = this.secret
      ? verifySignature(
          this.secret,
          { timestamp: headers['x-chronops-timestamp'], signature: headers['x-chronops-signature'] },
          body,
        )
      : ({ ok: false, reason: 'no secret' } as const);
    const call: RecordedCall = {
      method: req.method ?? '',
      path: req.url ?? '',
      headers,
      body,
      signed: check.ok,
      ...(check.ok ? {} : { signatureProblem: check.reason }),
      at: new Date(),
    };
    this.calls.push(call);
    this.inFlight += 1;
    this.peakInFlight = Math.max(this.peakInFlight, this.inFlight);
    const p = (this.byPath.get(call.path) ?? 0) + 1;
    this.byPath.set(call.path, p);
    this.peakByPath.set(call.path, Math.max(p, this.peakByPath.get(call.path) ?? 0));
    try {
      const answer = await this.script(call, this.calls.length);
      if (answer.delayMs) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(() => {
            this.delays.delete(t);
            resolve();
          }, answer.delayMs);
          this.delays.add(t);
        });
      }
      const isText = typeof answer.body === 'string';
      return {
        status: answer.status ?? 200,
        body: answer.body === undefined ? '' : isText ? (answer.body as string) : JSON.stringify(answer.body),
        headers: { 'content-type': isText ? 'text/plain' : 'application/json' },
      };
    } finally {
      this.inFlight -= 1;
      this.byPath.set(call.path, (this.byPath.get(call.path) ?? 1) - 1);
    }
  }

  async stop(): Promise<void> {
    for (const t of this.delays) clearTimeout(t);
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }
}
