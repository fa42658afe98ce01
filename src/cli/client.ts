// The CLI's way to a running chronops: its HTTP API, with the server URL and token from the options or the
// environment, errors turned into short messages. Every capability's commands (`chronops windows …`, `chronops
// notify …`) use it.
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import type { Command } from 'commander';
import { parse } from 'yaml';

export interface GlobalOptions {
  server?: string;
  /** The server's config file (its `server.host`/`server.port`); default $CHRONOPS_CONFIG. */
  config?: string;
  token?: string;
  json?: boolean;
}

export class ApiClient {
  readonly base: string;
  private readonly token?: string;
  constructor(options: GlobalOptions) {
    this.base = serverUrl(options, process.env).replace(/\/$/, '');
    this.token = options.token ?? process.env.CHRONOPS_TOKEN;
  }

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let response: Response;
    try {
      response = await fetch(`${this.base}${path}`, {
        method,
        headers: {
          'content-type': 'application/json',
          'x-chronops-actor': safeUser(),
          'x-chronops-source': 'cli',
          ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (error) {
      throw new CliError(
        `cannot reach chronops at ${this.base} (${(error as Error).message}); is \`chronops serve\` running? (--server, CHRONOPS_URL, or --config/CHRONOPS_CONFIG)`,
      );
    }
    const text = await response.text();
    const data = text ? JSON.parse(text) : {};
    if (!response.ok) {
      const issues: Array<{ field: string; message: string }> = data?.error?.issues ?? [];
      const detail = issues.length
        ? issues.map((i) => `  - ${i.field}: ${i.message}`).join('\n')
        : `  ${data?.error?.message ?? text}`;
      throw new CliError(`${response.status} ${data?.error?.code ?? ''}\n${detail}`, {
        status: response.status,
        issues,
        ...(data?.error?.message ? { reason: String(data.error.message) } : {}),
      });
    }
    return data as T;
  }
}

export class CliError extends Error {
  /** The server's answer, when the error is one (a command can say it in its own words). */
  readonly status?: number;
  readonly issues: Array<{ field: string; message: string }>;
  readonly reason?: string;
  constructor(
    message: string,
    answer: { status?: number; issues?: Array<{ field: string; message: string }>; reason?: string } = {},
  ) {
    super(message);
    if (answer.status !== undefined) this.status = answer.status;
    this.issues = answer.issues ?? [];
    if (answer.reason !== undefined) this.reason = answer.reason;
  }
}

/** The option help of `--config`, shared by every command group. */
export const CONFIG_OPTION_HELP =
  "the server's config file: its server.host and server.port (default $CHRONOPS_CONFIG)";

/**
 * Where the server is: `--server`, else `CHRONOPS_URL`, else the config file's `server.host`/`server.port`
 * (`--config` or `CHRONOPS_CONFIG`), else `http://127.0.0.1:$PORT` (3000).
 */
export function serverUrl(options: GlobalOptions, env: NodeJS.ProcessEnv): string {
  if (options.server) return options.server;
  if (env.CHRONOPS_URL) return env.CHRONOPS_URL;
  const path = options.config?.trim() || env.CHRONOPS_CONFIG?.trim();
  if (path) {
    let server: { host?: unknown; port?: unknown } | undefined;
    try {
      server = (parse(readFileSync(path, 'utf8')) as { server?: typeof server } | null)?.server;
    } catch (error) {
      throw new CliError(`cannot read the config file ${path}: ${(error as Error).message}`);
    }
    const rawHost = typeof server?.host === 'string' ? server.host : '127.0.0.1';
    // A server listening on every address is reached on loopback.
    const host = rawHost === '0.0.0.0' || rawHost === '::' ? '127.0.0.1' : rawHost;
    const port = server?.port ?? 3000;
    if (!Number.isInteger(port) || (port as number) <= 0 || (port as number) > 65535) {
      throw new CliError(`${path}: server.port must be a port number (1–65535), not ${JSON.stringify(port)}`);
    }
    return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  }
  return `http://127.0.0.1:${env.PORT ?? 3000}`;
}

function safeUser(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return 'cli';
  }
}

/** A command's action with its ApiClient; errors are printed and set the exit code. */
export function cliAction(
  action: (client: ApiClient, options: GlobalOptions, args: unknown[]) => Promise<void>,
) {
  return async (...args: unknown[]) => {
    const command = args.at(-1) as Command;
    const options = command.optsWithGlobals() as GlobalOptions;
    try {
      await action(new ApiClient(options), options, args);
    } catch (error) {
      console.error(`chronops: ${error instanceof CliError ? error.message : (error as Error).stack}`);
      process.exitCode = 1;
    }
  };
}
