// The one caller of a team's registered services (`services:` in the config). HTTP jobs and the event rules'
// `http` action both call through it, so every call is sent the same way:
//
// - the service's base URL and default headers (secrets from the environment, never logged or stored);
// - `Idempotency-Key` (a job run's id: the same on every retry of the run), `X-Chronops-Job`, `X-Chronops-Run`;
// - `X-Chronops-Timestamp` + `X-Chronops-Signature` (HMAC-SHA256 over "<timestamp>.<body>" with the service's
//   secret, src/services/signature.ts) so that the service can check the call is chronops';
// - a timeout (the service's, or the caller's), at most `concurrency` calls in flight per service;
// - the answer read and classified: 2xx with the result contract (src/services/contract.ts), 2xx without it,
//   non-2xx, timeout, connection error;
// - one audit record per call (service, method, path, status, duration, job, run — never a header value).

import type { Logger } from '../kernel/logger.ts';
import type { Db } from '../store/db.ts';
import { GroupCommit, WriteHold } from '../store/group-commit.ts';
import { PostgresDb } from '../store/postgres-db.ts';
import type { ServiceConfig } from './config.ts';
import { type JobResult, parseResult } from './contract.ts';
import { HttpSender, WireAborted, WireTimeout } from './http.ts';
import { type Limiter, ServiceLimiter } from './limiter.ts';
import { SharedServiceLimiter } from './shared-limiter.ts';
import { signatureHeaders } from './signature.ts';

export interface ServiceRequest {
  method: string;
  /** Appended to the service's base URL; must start with "/". */
  path: string;
  /** Sent as JSON. */
  body?: unknown;
  /** Besides the service's defaults (these win over them, chronops' own headers over both). */
  headers?: Record<string, string>;
}

export interface CallOptions {
  /** Idempotency-Key: the same on every retry of one piece of work. */
  idempotencyKey: string;
  job?: string;
  run?: string;
  /** Overrides the service's timeout. */
  timeoutMs?: number;
  /** Extra headers chronops adds (callback URL and token of a callback job). */
  extraHeaders?: Record<string, string>;
  /** Who asked, for the audit (`chronops` for scheduled work). */
  actor?: string;
  signal?: AbortSignal;
  /** Told when the request is written to its connection (the limit let it through): dispatch lateness. */
  onSent?(at: Date): void;
  /** Told when the answer (or the failure) is in, before it is audited. */
  onAnswered?(): void;
}

/** A call built and signed, not sent yet (ServiceCaller.prepareCall). */
export interface PreparedCall {
  readonly service: string;
  readonly config: ServiceConfig;
  readonly url: URL;
  readonly method: string;
  readonly path: string;
  readonly body: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  readonly options: CallOptions;
}

export type CallOutcome = 'ok' | 'http-error' | 'timeout' | 'connection' | 'aborted';

export interface ServiceAnswer {
  ok: boolean;
  outcome: CallOutcome;
  status?: number;
  /** One line for a run history: `200 in 120 ms`, `timeout after 30 s`, `connection refused`. */
  summary: string;
  sentAt: Date;
  durationMs: number;
  /** The answer's body, cut to `MAX_BODY` characters. */
  body?: string;
  /** The result contract, when a 2xx answer carries it. */
  result?: JobResult;
}

/** Checked URLs kept (a path per job: more than this many distinct paths start the cache again). */
const MAX_URLS = 10_000;

/** Kept of an answer's body (for the run history and a non-contract success). */
export const MAX_BODY = 16_384;

export class ServiceCallError extends Error {
  override readonly name = 'ServiceCallError';
}

export interface ServiceCallerOptions {
  services: Record<string, ServiceConfig>;
  /** The audit table's database and schema; without, calls are not audited (unit tests of the wire format). */
  db?: Db;
  schema?: string;
  logger?: Logger;
  /**
   * The per-service limit; default: shared by every server of the database on PostgreSQL (advisory locks, see
   * shared-limiter.ts), counted in the process on the embedded database.
   */
  limiter?: Limiter;
  now?: () => Date;
}

interface AuditItem {
  actor: string;
  target: string;
  outcome: string;
  details: Record<string, unknown>;
}

export class ServiceCaller {
  readonly #o: ServiceCallerOptions;
  readonly #limiter: Limiter;
  readonly #audit: GroupCommit<AuditItem, void> | undefined;
  readonly #now: () => Date;
  readonly #hold = new WriteHold();
  readonly #http = new HttpSender();
  readonly #urls = new Map<string, URL>();

  constructor(options: ServiceCallerOptions) {
    this.#o = options;
    this.#now = options.now ?? (() => new Date());
    const { db, schema } = options;
    this.#limiter =
      options.limiter ??
      (db instanceof PostgresDb && schema
        ? new SharedServiceLimiter({
            connectionString: db.connectionString,
            schema,
            ...(options.logger ? { logger: options.logger } : {}),
          })
        : new ServiceLimiter());
    if (db && schema) {
      if (!/^[a-z_][a-z0-9_]{0,50}$/.test(schema)) throw new Error(`bad schema name ${schema}`);
      this.#audit = new GroupCommit<AuditItem, void>(
        async (items) => {
          await db.query(
            `INSERT INTO ${schema}.audit (actor, source, action, target, outcome, details)
             SELECT x.actor, 'service', 'service.call', x.target, x.outcome, x.details
             FROM jsonb_to_recordset($1::jsonb) AS x(actor text, target text, outcome text, details jsonb)`,
            [JSON.stringify(items)],
          );
          return items.map(() => undefined);
        },
        { maxBatch: 500, gather: 'io' },
      );
    }
  }

  /**
   * The checked URL of a path of a service, kept: a job calls the same path every time, and a burst of a thousand
   * calls checked and parsed each one twice (~10 ms of its main thread).
   */
  #url(service: string, config: ServiceConfig, path: string): URL {
    const key = `${service}\u0000${path}`;
    let url = this.#urls.get(key);
    if (!url) {
      url = new URL(urlOf(config, path));
      if (this.#urls.size >= MAX_URLS) this.#urls.clear();
      this.#urls.set(key, url);
    }
    return url;
  }

  has(service: string): boolean {
    return service in this.#o.services;
  }

  names(): string[] {
    return Object.keys(this.#o.services);
  }

  service(name: string): ServiceConfig | undefined {
    return this.#o.services[name];
  }

  get limiter(): Limiter {
    return this.#limiter;
  }

  /**
   * Calls `service`. Never throws for what the service or the network did (that is the answer's `outcome`);
   * throws ServiceCallError for a call that cannot be made (unknown service, bad path).
   */
  async call(
    service: string,
    request: ServiceRequest,
    options: CallOptions | string,
  ): Promise<ServiceAnswer> {
    return this.send(this.prepareCall(service, request, options));
  }

  /**
   * Builds a call — its URL checked, body and headers made, signed for `signAt` (default now) — without sending
   * it: a burst of due jobs builds its calls before the due second, so that at the second only the sends are left.
   * Throws ServiceCallError as `call` does.
   */
  prepareCall(
    service: string,
    request: ServiceRequest,
    options: CallOptions | string,
    signAt?: Date,
  ): PreparedCall {
    const o: CallOptions = typeof options === 'string' ? { idempotencyKey: options } : options;
    const config = this.#o.services[service];
    if (!config) {
      throw new ServiceCallError(
        `no service named "${service}" (services: ${this.names().join(', ') || 'none'})`,
      );
    }
    const url = this.#url(service, config, request.path);
    const method = request.method.toUpperCase();
    const body =
      request.body === undefined || method === 'GET' || method === 'HEAD' ? '' : JSON.stringify(request.body);
    const headers: Record<string, string> = {
      ...config.headers,
      ...request.headers,
      ...(body ? { 'Content-Type': 'application/json' } : {}),
      'Idempotency-Key': o.idempotencyKey,
      ...(o.job ? { 'X-Chronops-Job': o.job } : {}),
      ...(o.run ? { 'X-Chronops-Run': o.run } : {}),
      ...o.extraHeaders,
    };
    if (config.secret) Object.assign(headers, signatureHeaders(config.secret, body, signAt ?? this.#now()));
    return {
      service,
      config,
      url,
      method,
      path: request.path,
      body,
      headers,
      timeoutMs: o.timeoutMs ?? config.timeoutSeconds * 1000,
      options: o,
    };
  }

  /** Sends a call built by `prepareCall` (within the service's limit), audits it, and gives its answer. */
  async send(prepared: PreparedCall): Promise<ServiceAnswer> {
    const { service, config, method, options: o } = prepared;
    // A free slot is taken at once: a burst's calls are written as they are sent, not a turn later.
    let call = prepared;
    let release = this.#limiter.tryAcquire?.(service, config.concurrency);
    if (!release) {
      release = await this.#limiter.acquire(service, config.concurrency, o.signal);
      // It waited for its slot (behind slow answers, possibly for minutes): signed again, for now, so that the
      // service's tolerance (5 minutes by default) counts from when it is sent.
      if (config.secret) {
        call = {
          ...prepared,
          headers: { ...prepared.headers, ...signatureHeaders(config.secret, prepared.body, this.#now()) },
        };
      }
    }
    let answer: ServiceAnswer;
    try {
      answer = await this.#send(call, release);
    } finally {
      release();
    }
    o.onAnswered?.();
    await this.#hold.pass();
    await this.#audit
      ?.submit({
        actor: o.actor ?? 'chronops',
        target: `${service} ${method} ${call.path}`,
        outcome: answer.outcome === 'http-error' ? `http-${answer.status}` : answer.outcome,
        details: {
          status: answer.status ?? null,
          durationMs: answer.durationMs,
          idempotencyKey: o.idempotencyKey,
          ...(o.job ? { job: o.job } : {}),
          ...(o.run ? { run: o.run } : {}),
          summary: answer.summary,
        },
      })
      .catch((error: unknown) =>
        this.#o.logger?.error({ err: error, service }, 'service call: audit failed'),
      );
    return answer;
  }

  async #send(call: PreparedCall, release: () => void): Promise<ServiceAnswer> {
    const { config, url, method, body, headers, timeoutMs, options: o } = call;
    const sentAt = this.#now();
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    try {
      const response = await this.#http.send(url, {
        method,
        headers,
        body,
        timeoutMs,
        maxSockets: config.concurrency,
        ...(o.signal ? { signal: o.signal } : {}),
        onSent: () => o.onSent?.(this.#now()),
      });
      // The slot is free once the answer is in: the next call goes before this one is read.
      release();
      const text = response.text;
      const durationMs = elapsed();
      const kept = text.length > MAX_BODY ? text.slice(0, MAX_BODY) : text;
      if (response.status < 200 || response.status > 299) {
        return {
          ok: false,
          outcome: 'http-error',
          status: response.status,
          summary: `${response.status} in ${durationMs} ms`,
          sentAt,
          durationMs,
          body: kept,
        };
      }
      const result = parseResult(text);
      return {
        ok: true,
        outcome: 'ok',
        status: response.status,
        summary: `${response.status} in ${durationMs} ms${result ? '' : ' (no result contract)'}`,
        sentAt,
        durationMs,
        body: kept,
        ...(result ? { result } : {}),
      };
    } catch (error) {
      release();
      const durationMs = elapsed();
      if (error instanceof WireTimeout) {
        return {
          ok: false,
          outcome: 'timeout',
          summary: `timeout after ${formatSeconds(timeoutMs)}`,
          sentAt,
          durationMs,
        };
      }
      if (error instanceof WireAborted) {
        return { ok: false, outcome: 'aborted', summary: 'aborted (chronops stopping)', sentAt, durationMs };
      }
      return { ok: false, outcome: 'connection', summary: connectionText(error), sentAt, durationMs };
    }
  }

  /**
   * Ahead of a burst of `n` calls to `service` due at `due` (a fire of due jobs, seconds before their time): opens
   * up to its `concurrency` connections and takes its slots of the limit, so that the burst does neither at its
   * second.
   */
  async prepare(service: string, n: number, due: Date): Promise<void> {
    const config = this.#o.services[service];
    if (!config || n <= 0) return;
    const failed = (error: unknown) =>
      this.#o.logger?.debug({ err: error, service }, 'service call: preparing a burst failed');
    await Promise.all([
      this.#http
        .warm(new URL(config.baseUrl), Math.min(n, config.concurrency), config.concurrency)
        .catch(failed),
      this.#limiter.reserve?.(service, config.concurrency, n, due.getTime() + 5000).catch(failed),
    ]);
  }

  /**
   * Audit records wait until the returned function is called: a caller sending a burst of calls keeps the
   * embedded database (which writes on this thread) from holding up the calls not sent yet.
   */
  holdAudit(): () => void {
    return this.#hold.hold();
  }

  /** Waits for audit records still being written; closes idle connections (the limit's too). */
  async idle(): Promise<void> {
    await this.#audit?.idle();
    this.#http.close();
    await this.#limiter.idle?.();
  }
}

/** The service's base URL + path; a path that would leave the service (another host, `..`) is refused. */
export function urlOf(config: ServiceConfig, path: string): string {
  if (!path.startsWith('/') || path.startsWith('//') || /(^|\/)\.\.?(\/|$)/.test(path.split('?')[0]!)) {
    throw new ServiceCallError(`path "${path}" must start with "/" and stay inside the service`);
  }
  const url = new URL(config.baseUrl + path);
  const base = new URL(config.baseUrl);
  if (url.origin !== base.origin) throw new ServiceCallError(`path "${path}" leaves ${config.name}`);
  return url.toString();
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}

function connectionText(error: unknown): string {
  const cause = error as { code?: string; message?: string };
  if (cause?.code === 'ECONNREFUSED') return 'connection refused';
  if (cause?.code === 'ENOTFOUND') return 'host not found';
  if (cause?.code === 'ECONNRESET' || cause?.code === 'UND_ERR_SOCKET') return 'connection reset';
  return `connection error: ${cause?.code ?? cause?.message ?? (error as Error).message}`;
}
