// The one door every AWS call of chronops goes through. It owns three things the actions must not each
// re-invent: dry-run (a mutating command is recorded, never sent), retries of throttling with backoff, and the
// audit record of every attempt (service, command, redacted input, request id, duration).

import type { AwsSimulator } from './simulator.ts';

/** One call to a cloud API, sent or (in dry-run) only recorded. Inputs are already redacted. */
export interface CloudCall {
  service: string;
  command: string;
  input: unknown;
  dryRun: boolean;
  ok: boolean;
  requestId?: string;
  error?: string;
  durationMs: number;
  attempt: number;
  at: Date;
}

/** Where every cloud call (sent, failed, or only recorded in dry-run) is written: execution history, audit log. */
export interface CloudCallSink {
  record(call: CloudCall, executionId?: string): void | Promise<void>;
}

/** The part of an AWS SDK v3 client the gateway uses. */
export interface SdkClient {
  send(command: unknown, options?: { abortSignal?: AbortSignal }): Promise<unknown>;
  config: { serviceId?: string };
}

/**
 * The part of an AWS SDK v3 command the gateway uses. `resolveMiddleware` is only named so that TypeScript can
 * infer the command's output type, as the SDK's own `client.send` does.
 */
export interface SdkCommand<I extends object, O extends object> {
  readonly input: I;
  resolveMiddleware(
    stack: never,
    configuration: never,
    options: never,
  ): (args: never) => Promise<{ output: O }>;
}

export interface SendOptions {
  /** True for a command that changes something; only these are withheld in dry-run. */
  mutating: boolean;
  /** Dry-run of the window or execution; the gateway's global dry-run applies as well. */
  dryRun: boolean;
  executionId?: string;
  /** Ends the request early (a long poll on shutdown); the call then fails with an AbortError. */
  abortSignal?: AbortSignal;
}

export interface AwsGatewayOptions {
  /** Global dry-run: no mutating command is ever sent. */
  dryRun?: boolean;
  sink: CloudCallSink;
  /** When set, commands are answered by this in-process model instead of AWS (demo / simulation mode). */
  simulator?: AwsSimulator;
  /** Attempts per call, the first included. Default 4. */
  maxAttempts?: number;
  sleep?: (ms: number) => Promise<void>;
  /** First backoff delay; doubles at each retry, with jitter. Default 200 ms. */
  baseDelayMs?: number;
  /** Upper bound of one backoff delay. Default 20 s. */
  maxDelayMs?: number;
  /** Source of jitter in [0, 1). Default Math.random. */
  random?: () => number;
  now?: () => Date;
}

type ClientCtor<T> = new (config: { region: string; maxAttempts: number } & Record<string, unknown>) => T;

/** Error codes AWS uses for throttling across the services chronops calls. */
const THROTTLING_CODES = new Set([
  'ThrottlingException',
  'Throttling',
  'RequestLimitExceeded',
  'TooManyRequestsException',
  'RequestThrottled',
  'RequestThrottledException',
  'ThrottledException',
]);

const SECRET_KEY = /password|secret|token|credential/i;
/** Named like secrets, but an idempotency token or a page marker: the audit must show them as they were sent. */
const NOT_SECRET = new Set(['clientToken', 'ClientToken', 'nextToken', 'NextToken']);

export class AwsGateway {
  readonly dryRun: boolean;
  readonly #sink: CloudCallSink;
  readonly #simulator: AwsSimulator | undefined;
  readonly #maxAttempts: number;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #random: () => number;
  readonly #now: () => Date;
  #clients = new Map<ClientCtor<unknown>, Map<string, unknown>>();
  /** Hand commands withheld by dry-run to the simulator (it plays the few it models that way). */
  #playDryRun = true;

  constructor(options: AwsGatewayOptions) {
    this.dryRun = options.dryRun ?? false;
    this.#sink = options.sink;
    this.#simulator = options.simulator;
    this.#maxAttempts = Math.max(1, options.maxAttempts ?? 4);
    this.#sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.#baseDelayMs = options.baseDelayMs ?? 200;
    this.#maxDelayMs = options.maxDelayMs ?? 20_000;
    this.#random = options.random ?? Math.random;
    this.#now = options.now ?? (() => new Date());
  }

  /**
   * The same gateway (its clients, simulator and retry settings) in dry-run, recording into `sink`: what a
   * "what would it do" command shows (every read sent, every mutating call only recorded) without touching the
   * audit of real runs.
   */
  rehearsal(sink: CloudCallSink): AwsGateway {
    const view = new AwsGateway({
      dryRun: true,
      sink,
      ...(this.#simulator ? { simulator: this.#simulator } : {}),
      maxAttempts: this.#maxAttempts,
      sleep: this.#sleep,
      baseDelayMs: this.#baseDelayMs,
      maxDelayMs: this.#maxDelayMs,
      random: this.#random,
      now: this.#now,
    });
    view.#clients = this.#clients;
    // A rehearsal changes nothing, not even the simulator's pretend world.
    view.#playDryRun = false;
    return view;
  }

  /** The in-process simulator answering instead of AWS (demo mode), if any. */
  get simulator(): AwsSimulator | undefined {
    return this.#simulator;
  }

  /** True when this gateway answers from the in-process simulator rather than AWS. */
  get simulated(): boolean {
    return this.#simulator !== undefined;
  }

  /**
   * One SDK client per client class and region, created once. Only `region` and `maxAttempts: 1` are set:
   * the gateway does its own retries (so that each attempt is audited), and everything else is left to the SDK's
   * standard resolution, which already honours AWS_ENDPOINT_URL (LocalStack, moto), AWS_REGION / AWS_PROFILE and
   * the default credential chain (environment, SSO, web identity, ECS/EC2 roles). Do not override them here.
   * `extra` is a service's own setting where the SDK needs one (SQS: `useQueueUrlAsEndpoint`); each distinct
   * `extra` gets its own client.
   */
  client<T>(ctor: ClientCtor<T>, region: string, extra?: Record<string, string | boolean | number>): T {
    let byRegion = this.#clients.get(ctor);
    if (!byRegion) {
      byRegion = new Map();
      this.#clients.set(ctor, byRegion);
    }
    const key = extra ? `${region} ${JSON.stringify(extra)}` : region;
    let client = byRegion.get(key) as T | undefined;
    if (!client) {
      client = new ctor({ ...extra, region, maxAttempts: 1 });
      byRegion.set(key, client);
    }
    return client;
  }

  /**
   * Send one command, or in dry-run only record it when it is mutating. Throttling is retried with exponential
   * backoff and jitter; any other error is recorded and rethrown unchanged, so callers can test `error.name`.
   */
  async send<I extends object, O extends object>(
    client: SdkClient,
    command: SdkCommand<I, O>,
    opts: SendOptions,
  ): Promise<O> {
    const service = serviceName(client);
    const commandName = commandNameOf(command);
    const input = redact(command.input);

    if (opts.mutating && (opts.dryRun || this.dryRun)) {
      const played = this.#playDryRun
        ? await this.#simulator?.dryRunAnswer(service, commandName, command.input as Record<string, unknown>)
        : undefined;
      await this.#record(
        {
          service,
          command: commandName,
          input,
          dryRun: true,
          ok: true,
          durationMs: 0,
          attempt: 1,
          at: this.#now(),
        },
        opts.executionId,
      );
      return (played ?? { $metadata: {} }) as unknown as O;
    }

    for (let attempt = 1; ; attempt++) {
      const at = this.#now();
      const started = performance.now();
      try {
        const output = this.#simulator
          ? await this.#simulator.send(service, commandName, command.input as Record<string, unknown>)
          : await client.send(command, opts.abortSignal ? { abortSignal: opts.abortSignal } : undefined);
        await this.#record(
          {
            service,
            command: commandName,
            input,
            dryRun: false,
            ok: true,
            requestId: requestIdOf(output),
            durationMs: elapsed(started),
            attempt,
            at,
          },
          opts.executionId,
        );
        return output as O;
      } catch (error) {
        await this.#record(
          {
            service,
            command: commandName,
            input,
            dryRun: false,
            ok: false,
            requestId: requestIdOf(error),
            error: describeError(error),
            durationMs: elapsed(started),
            attempt,
            at,
          },
          opts.executionId,
        );
        if (!isThrottling(error) || attempt >= this.#maxAttempts) throw error;
        await this.#sleep(this.#backoff(attempt));
      }
    }
  }

  /** Exponential backoff with "equal jitter": half the delay is fixed, half random, so retries spread out. */
  #backoff(attempt: number): number {
    const ceiling = Math.min(this.#maxDelayMs, this.#baseDelayMs * 2 ** (attempt - 1));
    return Math.round(ceiling / 2 + this.#random() * (ceiling / 2));
  }

  async #record(call: CloudCall, executionId: string | undefined): Promise<void> {
    await this.#sink.record(call, executionId);
  }
}

export function isThrottling(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const e = error as {
    name?: unknown;
    $retryable?: { throttling?: boolean };
    $metadata?: { httpStatusCode?: number };
  };
  return (
    (typeof e.name === 'string' && THROTTLING_CODES.has(e.name)) ||
    e.$retryable?.throttling === true ||
    e.$metadata?.httpStatusCode === 429
  );
}

/** A deep copy of a command input with every secret-looking key replaced, for logs and history. */
export function redact(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redact);
  if (value === null || typeof value !== 'object' || Object.getPrototypeOf(value) !== Object.prototype) {
    return value;
  }
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    out[key] = SECRET_KEY.test(key) && !NOT_SECRET.has(key) ? '[redacted]' : redact(v);
  }
  return out;
}

function serviceName(client: SdkClient): string {
  return client.config?.serviceId ?? client.constructor.name.replace(/Client$/, '');
}

/** `UpdateServiceCommand` → `UpdateService`. */
function commandNameOf(command: object): string {
  const name = command.constructor.name;
  if (name.endsWith('Command') && name.length > 'Command'.length) return name.slice(0, -'Command'.length);
  // A minifying bundler (e.g. for Lambda) may rename classes; the SDK's operation schema still names the operation.
  const schema = (command as { schema?: unknown }).schema;
  return Array.isArray(schema) && typeof schema[2] === 'string' ? schema[2] : name;
}

function requestIdOf(value: unknown): string | undefined {
  const id = (value as { $metadata?: { requestId?: unknown } } | null)?.$metadata?.requestId;
  return typeof id === 'string' ? id : undefined;
}

function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

function elapsed(started: number): number {
  return Math.round(performance.now() - started);
}
